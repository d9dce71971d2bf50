"""Generation over real HTTP with the real openai client: nothing lost, order kept."""

import openai

from correctly_assets.domain.generation import (
    generate_texts,
    offline_complete,
    openai_complete_fn,
    usage_summary,
)
from correctly_assets.domain.prompts import render_prompts
from correctly_assets.local_llm_server import serve_in_thread
from correctly_assets_tests.test_prompts import SPEC

PROMPTS = render_prompts(SPEC, "2026-05-01", 4) + render_prompts(SPEC, "2026-05-02", 4)


def _client(base_url: str, max_retries: int) -> openai.OpenAI:
    return openai.OpenAI(api_key="local", base_url=base_url, max_retries=max_retries, timeout=10)


def test_failures_are_retried_and_every_prompt_answered_in_order():
    with serve_in_thread(latency_s=0.05, failure_rate=0.3, seed=1) as server:
        texts = generate_texts(PROMPTS, openai_complete_fn(_client(server.base_url, 8), "m", 0.0), 8)
        assert server.stats.failures > 0
        assert server.stats.requests == len(PROMPTS) + server.stats.failures
    assert [t.prompt_id for t in texts] == [p.prompt_id for p in PROMPTS]
    assert all(t.accepted for t in texts)
    assert usage_summary(texts)["total_tokens"] > 0 and usage_summary(texts)["failed_calls"] == 0


def test_a_server_that_always_fails_loses_no_prompt():
    with serve_in_thread(failure_rate=1.0) as server:
        texts = generate_texts(PROMPTS[:3], openai_complete_fn(_client(server.base_url, 0), "m", 0.0), 3)
    assert len(texts) == 3
    assert all(t.rejection_reason.startswith("request failed: ") for t in texts)
    assert usage_summary(texts)["failed_calls"] == 3


def test_unparseable_answer_is_kept_with_its_reason():
    plain = PROMPTS[0].model_copy(update={"prompt": "Say hello."})
    with serve_in_thread() as server:
        [text] = generate_texts([plain], openai_complete_fn(_client(server.base_url, 0), "m", 0.0), 1)
    assert not text.accepted and text.raw_answer
    assert text.rejection_reason.startswith("unparseable answer: ")


def test_offline_answers_parse_and_are_deterministic():
    first = generate_texts(PROMPTS, offline_complete, 4)
    assert all(t.accepted for t in first)
    assert first == generate_texts(PROMPTS, offline_complete, 1)
