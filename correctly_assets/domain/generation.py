"""Answering prompts: concurrent, bounded, and losing nothing.

`generate_texts` calls a `Complete` function for every prompt on a bounded thread pool
and always returns one `GeneratedText` per prompt, in prompt order: a parsed answer, an
unparseable one kept with its reason, or a failed call kept with its error. Retries with
backoff belong to the client (the openai client retries 429, 5xx, time-outs and
connection errors with exponential backoff and jitter, honouring Retry-After).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .answer_format import AnswerRejected, parse_answer
from .models import GeneratedText, PromptExample
from .offline_generator import generate_offline_answer

OFFLINE_MODEL = "offline-error-generator"


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


Complete = Callable[[PromptExample], Completion]


def offline_complete(prompt: PromptExample) -> Completion:
    text = generate_offline_answer(prompt.passage, prompt.passage_korean, seed=prompt.prompt_id)
    return Completion(text, OFFLINE_MODEL, len(prompt.prompt.split()), len(text.split()))


def openai_complete_fn(client, model: str, temperature: float) -> Complete:
    """A `Complete` over an `openai.OpenAI` client's chat completions."""

    def complete(prompt: PromptExample) -> Completion:
        response = client.chat.completions.create(
            model=model,
            temperature=temperature,
            messages=[{"role": "user", "content": prompt.prompt}],
        )
        usage = response.usage
        return Completion(
            text=response.choices[0].message.content or "",
            model=response.model or model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )

    return complete


def _answer(prompt: PromptExample, complete: Complete) -> GeneratedText:
    base = {"prompt_id": prompt.prompt_id, "date": prompt.date, "theme": prompt.theme}
    try:
        completion = complete(prompt)
    except Exception as err:  # noqa: BLE001 - any failure is recorded, the batch goes on
        return GeneratedText(**base, raw_answer="", model="",
                             rejection_reason=f"request failed: {type(err).__name__}: {err}")
    usage = {"model": completion.model, "prompt_tokens": completion.prompt_tokens,
             "completion_tokens": completion.completion_tokens}
    try:
        parsed = parse_answer(completion.text)
    except AnswerRejected as err:
        return GeneratedText(**base, **usage, raw_answer=completion.text,
                             rejection_reason=f"unparseable answer: {err}")
    return GeneratedText(**base, **usage, raw_answer=completion.text, parsed=parsed)


def generate_texts(
    prompts: list[PromptExample], complete: Complete, max_concurrency: int
) -> list[GeneratedText]:
    """One GeneratedText per prompt, in prompt order, at most `max_concurrency` calls at once."""
    if not prompts:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(max_concurrency, len(prompts)))) as pool:
        return list(pool.map(lambda p: _answer(p, complete), prompts))


def usage_summary(texts: list[GeneratedText]) -> dict[str, int]:
    prompt_tokens = sum(t.prompt_tokens for t in texts)
    completion_tokens = sum(t.completion_tokens for t in texts)
    return {
        "calls": len(texts),
        "failed_calls": sum(1 for t in texts if (t.rejection_reason or "").startswith("request failed")),
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
