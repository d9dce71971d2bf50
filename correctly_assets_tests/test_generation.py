"""Generation over real HTTP with the real openai client: nothing lost, order kept."""

import asyncio
import json
import time

import dagster as dg
import httpx
import openai
import pytest
from dagster_openai import OpenAIResource
from pydantic import ValidationError

from correctly_assets.domain.answer_format import parse_answer
from correctly_assets.llm.generation import (
    MAX_ANSWER_CHARS,
    MAX_RETRY_AFTER_S,
    OFFLINE_MODEL,
    _retry_after_s,
    generate_texts,
    is_failed_request,
    offline_complete,
    generate_texts_async,
    openai_acomplete_fn,
    redact,
    usage_summary,
)
from correctly_assets.inputs.single.prompts import render_prompts
from correctly_assets.testing.hostile_llm_server import API_KEY, MANY_EDITS, hostile_server
from correctly_assets.testing.local_llm_server import serve_in_thread
from correctly_assets.resources.text_generator import TextGeneratorResource
from correctly_assets_tests.test_prompts import SPEC

pytestmark = pytest.mark.integration

PROMPTS = render_prompts(SPEC, "2026-05-01", 4) + render_prompts(SPEC, "2026-05-02", 4)


def _generate(prompts, base_url: str, max_retries: int, max_concurrency: int):
    """The text generator's HTTP path: AsyncOpenAI, its retry policy, one event loop."""
    async def run():
        async with openai.AsyncOpenAI(api_key="local", base_url=base_url, max_retries=0,
                                      timeout=10) as client:
            complete = openai_acomplete_fn(client, "local-test-model", 0.0,
                                           max_retries=max_retries)
            return await generate_texts_async(prompts, complete, max_concurrency)

    return asyncio.run(run())


def test_failures_are_retried_and_every_prompt_answered_in_order():
    with serve_in_thread(latency_s=0.05, failure_rate=0.3, seed=1) as server:
        texts = _generate(PROMPTS, server.base_url, 8, max_concurrency=8)
        stats = server.stats.as_dict()
    assert stats["failures"] > 0
    assert stats["requests"] == len(PROMPTS) + stats["failures"]
    assert [t.prompt_id for t in texts] == [p.prompt_id for p in PROMPTS]
    assert all(t.accepted and t.model == "local-test-model" for t in texts)
    # The server counts the user message's words: usage comes back per prompt and sums up.
    assert [t.prompt_tokens for t in texts] == [len(p.prompt.split()) for p in PROMPTS]
    summary = usage_summary(texts)
    assert summary["failed_calls"] == 0 and summary["calls"] == len(PROMPTS)
    assert summary["total_tokens"] == sum(t.prompt_tokens + t.completion_tokens for t in texts)
    assert summary["completion_tokens"] > 0


def test_calls_run_in_parallel_up_to_the_bound():
    with serve_in_thread(latency_s=0.3) as server:
        start = time.perf_counter()
        texts = _generate(PROMPTS, server.base_url, 0, max_concurrency=len(PROMPTS))
        elapsed = time.perf_counter() - start
    assert all(t.accepted for t in texts)
    assert elapsed < 0.3 * len(PROMPTS) / 2  # sequential calls would take 2.4 s


@pytest.mark.adversarial
def test_a_server_that_always_fails_loses_no_prompt():
    with serve_in_thread(failure_rate=1.0) as server:
        texts = _generate(PROMPTS[:3], server.base_url, 0, max_concurrency=3)
    assert [t.prompt_id for t in texts] == [p.prompt_id for p in PROMPTS[:3]]
    assert all(t.rejection_reason.startswith("request failed: ") and t.raw_answer == ""
               for t in texts)
    assert usage_summary(texts)["failed_calls"] == 3


@pytest.mark.adversarial
def test_unparseable_answer_is_kept_with_its_reason():
    plain = PROMPTS[0].model_copy(update={"prompt": "Say hello."})
    with serve_in_thread() as server:
        [text] = _generate([plain], server.base_url, 0, max_concurrency=1)
    assert not text.accepted and text.raw_answer
    assert text.rejection_reason.startswith("unparseable answer: ")


def test_server_rejects_a_request_without_user_message():
    with serve_in_thread() as server:
        response = httpx.post(f"{server.base_url}/chat/completions",
                              json={"model": "m", "messages": [{"role": "system", "content": "x"}]})
    assert response.status_code == 400
    assert "no user message" in response.json()["error"]["message"]


def test_concurrency_bound_must_be_positive():
    with pytest.raises(ValueError, match="max_concurrency"):
        generate_texts(PROMPTS, offline_complete, max_concurrency=0)
    with pytest.raises(ValidationError):
        TextGeneratorResource(max_concurrency=0)


def test_offline_answers_parse_and_are_deterministic():
    completion = offline_complete(PROMPTS[0])
    assert completion.model == OFFLINE_MODEL
    assert completion.prompt_tokens == len(PROMPTS[0].prompt.split())
    assert completion.completion_tokens == len(completion.text.split())
    assert parse_answer(completion.text).after
    first = generate_texts(PROMPTS, offline_complete, max_concurrency=4)
    assert all(t.accepted for t in first)
    assert first == generate_texts(PROMPTS, offline_complete, max_concurrency=1)


def test_resource_offline_mode():
    with dg.build_asset_context() as context:
        texts, usage = TextGeneratorResource().generate(context, PROMPTS)
    assert all(t.accepted for t in texts) and len(texts) == len(PROMPTS)
    assert usage["mode"] == "offline" and usage["model"] == OFFLINE_MODEL
    assert usage["calls"] == len(PROMPTS) and usage["total_tokens"] > 0


def test_resource_openai_mode_over_http():
    with serve_in_thread(latency_s=0.01, failure_rate=0.3, seed=2) as server:
        generator = TextGeneratorResource(
            openai=OpenAIResource(api_key="test-key", base_url=server.base_url),
            model="local-test-model", max_concurrency=4,
        )
        with dg.build_asset_context(resources={"text_generator": generator}) as context:
            texts, usage = context.resources.text_generator.generate(context, PROMPTS)
        failures = server.stats.failures
    assert failures > 0
    assert [t.prompt_id for t in texts] == [p.prompt_id for p in PROMPTS]
    assert all(t.accepted for t in texts)
    # The model the server reported (it echoes the one asked for), beside the one requested.
    assert usage == {**usage_summary(texts), "model": "local-test-model",
                     "model_requested": "local-test-model", "mode": "openai"}
    assert usage["failed_calls"] == 0 and usage["total_tokens"] > 0
    assert "test-key" not in json.dumps(usage)


def test_an_answer_cut_off_by_max_tokens_is_kept_and_rejected_as_truncated():
    with serve_in_thread() as server:
        generator = TextGeneratorResource(
            openai=OpenAIResource(api_key="test-key", base_url=server.base_url),
            model="local-test-model", max_tokens=40,
        )
        with dg.build_asset_context() as context:
            texts, _ = generator.generate(context, PROMPTS[:2])
    for text in texts:
        assert not text.accepted and text.raw_answer.startswith("### 교정 전 ###")
        assert text.completion_tokens == 40
        assert text.rejection_reason == ("unparseable answer: answer is truncated: the token "
                                         "limit cut it off (finish_reason=length)")


def test_answers_come_in_the_original_korean_format_over_http():
    with serve_in_thread() as server:
        texts = _generate(PROMPTS[:4], server.base_url, 0, max_concurrency=2)
    for text in texts:
        assert text.accepted, text.rejection_reason
        assert text.raw_answer.startswith("### 교정 전 ###\n")
        assert "#####" in text.raw_answer and "#####" not in text.parsed.before
        assert all(p.label and p.edits for p in text.parsed.points)


def _hostile_batch(markers: list[str]):
    """(the prompts, each with its marker, and what the generator made of them) against the
    hostile server, no retries."""
    prompts = [p.model_copy(update={"prompt": p.prompt + m}) for p, m in zip(PROMPTS, markers)]
    with hostile_server() as base_url:
        generator = TextGeneratorResource(
            openai=OpenAIResource(api_key=API_KEY, base_url=base_url),
            model="local-test-model", max_retries=0)
        with dg.build_asset_context() as context:
            return prompts, generator.generate(context, prompts)


@pytest.mark.adversarial
def test_every_malformed_answer_is_kept_with_its_reason_and_the_batch_goes_on():
    prompts, (texts, _) = _hostile_batch(["", "[[int]]", "[[usage]]", "[[html]]", "[[echo]]",
                                          "[[huge]]", ""])
    assert [t.prompt_id for t in texts] == [p.prompt_id for p in prompts]
    good, content, usage, html, echo, huge, last = texts
    assert good.accepted and last.accepted  # the good answers beside the bad ones survive
    assert content.rejection_reason == "malformed response: the message content is int, not text"
    assert usage.accepted and (usage.prompt_tokens, usage.completion_tokens) == (0, 0)
    assert html.rejection_reason.startswith("malformed response: not a chat completion")
    assert echo.rejection_reason.startswith("request failed: AuthenticationError")
    assert "[REDACTED]" in echo.rejection_reason
    assert huge.rejection_reason.startswith("unparseable answer: answer is 1,00")
    assert len(huge.raw_answer) == MAX_ANSWER_CHARS
    for text in texts:  # the key is nowhere in what would be stored
        assert API_KEY not in text.model_dump_json()
        assert "SECRET" not in text.model_dump_json()


@pytest.mark.adversarial
def test_no_answer_hangs_the_batch_fills_the_memory_or_breaks_the_store():
    """Beside good answers: a point of 30 edits (once exponential to parse), usage counts
    the store cannot hold, a body that never ends, a gzip bomb, garbage and no choices.
    The batch ends in seconds, its memory stays bounded, and every row is storable."""
    import resource

    from correctly_assets.llm.deadline_http import MAX_RESPONSE_BYTES
    from correctly_assets.llm.generation import MAX_TOKEN_COUNT, is_failed_request

    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    _, (texts, usage) = _hostile_batch(["", "[[edits]]", "[[tokens]]", "[[endless]]", "[[bomb]]",
                                        "[[garbage]]", "[[nochoices]]"])
    assert time.monotonic() - started < 60
    # Well under the 1 GiB the endless body would send, or the 64 MiB the bomb inflates to.
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert grown_mib < 200, f"peak memory grew {grown_mib:.0f} MiB"
    good, edits, tokens, endless, bomb, garbage, nochoices = texts
    assert good.accepted
    assert edits.raw_answer and MANY_EDITS in edits.raw_answer  # parsed or judged, in time
    assert tokens.accepted and (tokens.prompt_tokens, tokens.completion_tokens) == (0, 0)
    for text in (good, edits, tokens):
        assert 0 <= text.prompt_tokens <= MAX_TOKEN_COUNT and 0 <= text.completion_tokens <= MAX_TOKEN_COUNT
    for text, cause in ((endless, "body"), (bomb, "inflated")):
        assert is_failed_request(text), text.rejection_reason
        assert f"ResponseTooLarge: the response {cause} passed {MAX_RESPONSE_BYTES:,} bytes" \
            in text.rejection_reason
    for text in (garbage, nochoices):  # not an answer: a failed call, never journaled
        assert is_failed_request(text), text.rejection_reason
    assert usage["failed_calls"] == 4
    # The model the server says answered, beside the one asked for.
    assert (usage["model"], usage["model_requested"]) == ("m", "local-test-model")


@pytest.mark.adversarial
def test_redaction_of_secrets_and_credential_shaped_strings():
    assert redact("key sk-abcdefghijkl and s3cr3t-value", ["s3cr3t-value"]) == \
        "key [REDACTED] and [REDACTED]"
    assert redact("Authorization: Bearer abc.def.ghi-123") == "Authorization: Bearer [REDACTED]"
    assert redact('{"api_key": "zzzzzzzzzz"}') == '{"api_key": "[REDACTED]"}'
    assert redact("I went to school.") == "I went to school."


@pytest.mark.adversarial
def test_a_call_ends_by_its_deadline_whatever_the_server_does():
    prompts = [p.model_copy(update={"prompt": p.prompt + m})
               for p, m in zip(PROMPTS, ["[[trickle]]", "[[silent]]", ""])]
    with hostile_server() as base_url:
        generator = TextGeneratorResource(
            openai=OpenAIResource(api_key=API_KEY, base_url=base_url), model="local-test-model",
            timeout_s=1.0, call_deadline_s=2.5)
        started = time.monotonic()
        with dg.build_asset_context() as context:
            trickled, silent, good = generator.generate(context, prompts)[0]
        elapsed = time.monotonic() - started
    # Each attempt ends by timeout_s, no attempt starts after call_deadline_s: a few seconds,
    # where a per-read time-out alone let the trickle run for as long as it liked.
    assert elapsed < 8, elapsed
    for text in (trickled, silent):
        assert text.rejection_reason.startswith("request failed: APITimeoutError"), text
    assert good.accepted


@pytest.mark.adversarial
def test_a_batch_ends_by_its_budget_and_keeps_every_prompt():
    # Ten prompts to a server that never answers: without the budget, each call's retries
    # would run to call_deadline_s (60 s here), five rounds of them at two calls at a time.
    prompts = [PROMPTS[0].model_copy(update={"prompt_id": f"{PROMPTS[0].date}|{PROMPTS[0].theme}|{i:04d}", "index": i,
                                             "prompt": PROMPTS[0].prompt + "[[silent]]"})
               for i in range(10)]
    with hostile_server() as base_url:
        generator = TextGeneratorResource(
            openai=OpenAIResource(api_key=API_KEY, base_url=base_url), model="local-test-model",
            timeout_s=1.0, call_deadline_s=60.0, batch_budget_s=2.5, max_concurrency=2)
        started = time.monotonic()
        with dg.build_asset_context() as context:
            texts, usage = generator.generate(context, prompts)
        elapsed = time.monotonic() - started
    # The budget, plus at most one attempt already under way (timeout_s), plus set-up.
    assert elapsed < 2.5 + 1.0 + 1.5, elapsed
    assert [t.prompt_id for t in texts] == [p.prompt_id for p in prompts]
    assert all(is_failed_request(t) for t in texts) and usage["failed_calls"] == 10
    never_sent = [t for t in texts if "BudgetSpent" in t.rejection_reason]
    timed_out = [t for t in texts if "APITimeoutError" in t.rejection_reason]
    assert never_sent and timed_out and len(never_sent) + len(timed_out) == 10


@pytest.mark.adversarial
def test_retry_after_is_honoured_up_to_its_cap():
    import httpx
    import openai

    def rate_limited(retry_after: str) -> openai.RateLimitError:
        response = httpx.Response(429, headers={"retry-after": retry_after},
                                  request=httpx.Request("POST", "http://127.0.0.1/v1"))
        return openai.RateLimitError("slow down", response=response, body=None)

    assert _retry_after_s(rate_limited("2")) == 2.0
    assert _retry_after_s(rate_limited("3600")) == MAX_RETRY_AFTER_S
    assert _retry_after_s(rate_limited("soon")) is None
    assert _retry_after_s(rate_limited("-1")) is None


def test_the_answer_journal_keeps_answers_for_the_same_prompt_and_generator(tmp_path):
    from correctly_assets.llm.journal import AnswerJournal

    path = tmp_path / "journal" / "travel.jsonl"
    journal = AnswerJournal(path, "model-a")
    texts = generate_texts(PROMPTS, offline_complete, 2, on_answer=journal.record)
    failed = texts[0].model_copy(update={"parsed": None, "rejection_reason": "request failed: x"})
    journal.record(PROMPTS[0], failed)  # a failed call is asked again, never kept
    with path.open("a") as torn:
        torn.write('{"digest": "abc", "text": {"prompt_')  # a crash mid-line
    assert AnswerJournal(path, "model-a").answered(PROMPTS) == {t.prompt_id: t for t in texts}
    # Another generator, or a prompt whose text changed, is answered anew.
    assert AnswerJournal(path, "model-b").answered(PROMPTS) == {}
    changed = [PROMPTS[0].model_copy(update={"prompt": PROMPTS[0].prompt + " (edited)"})]
    assert AnswerJournal(path, "model-a").answered(changed) == {}
    AnswerJournal(path, "model-a").discard()
    assert not path.exists()


@pytest.mark.adversarial
def test_an_answer_journal_that_cannot_write_never_fails_the_batch(tmp_path):
    from correctly_assets.llm.journal import AnswerJournal

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    journal = AnswerJournal(blocked / "travel.jsonl", "model-a")
    texts = generate_texts(PROMPTS, offline_complete, 2, on_answer=journal.record)
    assert all(t.accepted for t in texts) and len(texts) == len(PROMPTS)
    assert isinstance(journal.error, OSError)


def test_a_prompts_own_temperature_and_max_tokens_reach_the_model_and_the_offline_generator():
    """The original's creativity and length per prompt: sent with the request over HTTP in
    place of the generator's settings, and honoured offline (the token limit cuts the
    answer, which is then kept as truncated)."""
    from correctly_assets.llm.generation import _request

    prompt = PROMPTS[0]
    own = prompt.model_copy(update={"temperature": 1.3, "max_tokens": 12})
    request = _request(own, "m", 0.7, "", 400, None)
    assert (request["temperature"], request["max_tokens"]) == (1.3, 12)
    request = _request(prompt, "m", 0.7, "", 400, None)
    assert (request["temperature"], request["max_tokens"]) == (0.7, 400)
    cut = offline_complete(own)
    assert cut.finish_reason == "length" and cut.completion_tokens == 12
    assert offline_complete(prompt).finish_reason == "stop"
    [text] = generate_texts([own], offline_complete, max_concurrency=1)
    assert "the token limit cut it off" in text.rejection_reason
    with serve_in_thread() as server:  # over HTTP, the server cuts at the prompt's limit
        [sent, plain] = _generate([own, prompt], server.base_url, 0, max_concurrency=2)
    assert sent.completion_tokens == 12 and "the token limit cut it off" in sent.rejection_reason
    assert plain.accepted
