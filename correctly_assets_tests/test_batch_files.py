"""The Batch API's files: request lines, the split by both limits, and result lines of every
shape a server may send."""

import json

import pytest

from correctly_assets.domain.models import PromptExample
from correctly_assets.llm.batch_files import (
    MAX_FILE_BYTES, MAX_REQUESTS_PER_FILE, RequestTooLarge, custom_id, prompt_id_of,
    read_results, request_body, request_line, split_into_files,
)
from correctly_assets.llm.pricing import DEFAULT_PRICES, cost, price_of

pytestmark = pytest.mark.unit


def _prompt(**overrides) -> PromptExample:
    fields = dict(prompt_id="2026-03-14|travel|0", date="2026-03-14", theme="travel", index=0,
                  instruction_prompt="p", script_type="s", speaker="a", style="b",
                  key_expression="k", passage="I go home.", passage_korean="집에 가요.",
                  prompt="Rewrite: I go home.")
    return PromptExample(**(fields | overrides))


def test_a_request_line_carries_the_synchronous_body_under_a_stable_id():
    prompt = _prompt(temperature=0.3, max_tokens=900, system_prompt="system")
    body = request_body(prompt, "gpt-4o-mini", 0.7, "default system", None)
    assert body["temperature"] == 0.3 and body["max_tokens"] == 900
    assert body["messages"][0] == {"role": "system", "content": "system"}
    custom = custom_id(prompt.prompt_id, body)
    assert custom == custom_id(prompt.prompt_id, dict(reversed(body.items())))
    assert prompt_id_of(custom) == prompt.prompt_id
    changed = request_body(_prompt(prompt="Rewrite: I go to school."), "gpt-4o-mini", 0.7, "d", None)
    assert custom_id(prompt.prompt_id, changed) != custom
    line = json.loads(request_line(custom, body))
    assert line == {"custom_id": custom, "method": "POST", "url": "/v1/chat/completions",
                    "body": body}


def test_files_split_at_exactly_50000_requests_and_200_mb():
    assert (MAX_REQUESTS_PER_FILE, MAX_FILE_BYTES) == (50_000, 200 * 1024 * 1024)
    small = [(f"p{i}", b"x\n") for i in range(MAX_REQUESTS_PER_FILE + 1)]
    files = split_into_files(small)
    assert [len(f) for f in files] == [MAX_REQUESTS_PER_FILE, 1]
    megabyte = b"y" * (1024 * 1024)  # one object, shared: 201 lines cost 1 MB of memory
    files = split_into_files([(f"m{i}", megabyte) for i in range(201)])
    assert [len(f) for f in files] == [200, 1]  # 200 MiB exactly fits
    assert sum(len(line) for _, line in files[0]) == MAX_FILE_BYTES
    assert [c for f in files for c, _ in f] == [f"m{i}" for i in range(201)]
    with pytest.raises(RequestTooLarge, match="request big"):
        split_into_files([("big", b"z" * 11)], max_bytes=10)


def _completion(content="### 교정 후 ###\nI went home.", status=200, **extra):
    body = {"id": "c", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
    return {"custom_id": "p#1", "response": {"status_code": status, "body": body}, "error": None,
            **extra}


def test_result_lines_of_every_shape_become_answers_reasons_or_named_problems():
    lines = [
        json.dumps(_completion()),
        json.dumps({"custom_id": "p#2", "response": {"status_code": 429, "body": {
            "error": {"code": "rate_limit_exceeded", "message": "slow down"}}}, "error": None}),
        json.dumps({"custom_id": "p#3", "response": None, "error": {
            "code": "batch_expired", "message": "not executed before the window expired"}}),
        json.dumps({"custom_id": "p#4", "response": {"status_code": 200, "body": {"no": "choices"}}}),
        "{not json",
        json.dumps({"response": {}}),
        "",
    ]
    results = list(read_results(lines, "gpt-4o-mini", "file-x"))
    answer, limited, expired, garbage, not_json, no_id = results
    assert answer.completion.text.endswith("I went home.")
    assert answer.completion.model == "gpt-4o-mini-2024-07-18"
    assert (answer.completion.prompt_tokens, answer.completion.completion_tokens) == (10, 5)
    assert limited.error == "HTTP 429: rate_limit_exceeded: slow down"
    assert expired.error.startswith("batch_expired: ")
    assert garbage.error.startswith("malformed response: not a chat completion")
    assert not_json.startswith("file-x line 5: not JSON")
    assert no_id == "file-x line 6: no custom_id"


def test_prices_cover_dated_snapshots_and_say_when_a_model_has_none():
    assert price_of("gpt-4o-mini-2024-07-18", DEFAULT_PRICES).input == 0.15
    assert price_of("gpt-4o-2024-08-06", DEFAULT_PRICES).input == 2.50
    figures = cost("gpt-4o-mini", 1_000_000, 1_000_000, DEFAULT_PRICES)
    assert figures == {"cost_usd_synchronous": 0.75, "cost_usd_batch": 0.375,
                       "saving_usd_batch": 0.375}
    assert "no price for model 'local'" in cost("local", 1, 1, DEFAULT_PRICES)["cost"]
