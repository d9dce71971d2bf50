"""Answering prompts: concurrent, bounded, and losing nothing.

`generate_texts` calls a `Complete` function for every prompt on a bounded thread pool
and always returns one `GeneratedText` per prompt, in prompt order: a parsed answer, an
unparseable one kept with its reason, or a failed call kept with its error.

Transient failures (429, 408/409, 5xx, time-outs, connection errors) are retried here with
tenacity: exponential backoff with jitter from 0.1 s, honouring the server's Retry-After.
The openai client's own retries start at 0.5 s, and in a large batch the slowest prompt's
retries are the batch's tail; give the client max_retries=0 so nothing is retried twice.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
import openai
import tenacity

from .answer_format import AnswerRejected, parse_answer
from .models import GeneratedText, PromptExample
from .offline_generator import generate_offline_answer
from .prompts import answer_language

OFFLINE_MODEL = "offline-error-generator"

# With 10% of calls failing, eight retries leave a call failing for good with odds of
# 1e-9; the backoff (0.1 s doubling, capped at 20 s) waits at most about 45 s in all.
DEFAULT_MAX_RETRIES = 8
INITIAL_BACKOFF_S = 0.1
MAX_BACKOFF_S = 20.0
DEFAULT_TIMEOUT_S = 60.0

GENERATION_SYSTEM_PROMPT = (
    "You write English-correction material for Korean learners of English. Follow the "
    "user's instructions and answer in exactly the sections they ask for, nothing else."
)


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None  # "length": the token limit cut the answer off


Complete = Callable[[PromptExample], Completion]


def offline_complete(prompt: PromptExample) -> Completion:
    """The offline generator's answer; token counts are whitespace word counts."""
    text = generate_offline_answer(prompt.passage, prompt.passage_korean, seed=prompt.prompt_id,
                                   language=answer_language(prompt.prompt))
    return Completion(text, OFFLINE_MODEL, len(prompt.prompt.split()), len(text.split()))


def _is_transient(err: BaseException) -> bool:
    if isinstance(err, (openai.APITimeoutError, openai.APIConnectionError)):
        return True
    return isinstance(err, openai.APIStatusError) and (
        err.status_code in (408, 409, 429) or err.status_code >= 500
    )


def _retry_after_s(err: BaseException | None) -> float | None:
    """The server's Retry-After hint in seconds, when it gave a usable one."""
    response = getattr(err, "response", None)
    try:
        hint = float(response.headers["retry-after"])
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    return hint if 0 < hint <= 60 else None


def openai_complete_fn(
    client: openai.OpenAI,
    model: str,
    temperature: float,
    system_prompt: str = GENERATION_SYSTEM_PROMPT,
    max_retries: int = DEFAULT_MAX_RETRIES,
    max_tokens: int | None = None,
) -> Complete:
    """A `Complete` over an `openai.OpenAI` client's chat completions.

    Transient errors are retried up to `max_retries` times; an error that outlasts them is
    left to `generate_texts` to record.
    """
    backoff = tenacity.wait_exponential_jitter(
        initial=INITIAL_BACKOFF_S, max=MAX_BACKOFF_S, jitter=INITIAL_BACKOFF_S
    )

    def wait(state: tenacity.RetryCallState) -> float:
        hint = _retry_after_s(state.outcome.exception())
        return hint if hint is not None else backoff(state)

    @tenacity.retry(
        retry=tenacity.retry_if_exception(_is_transient),
        wait=wait,
        stop=tenacity.stop_after_attempt(max_retries + 1),
        reraise=True,
    )
    def complete(prompt: PromptExample) -> Completion:
        messages = [{"role": "user", "content": prompt.prompt}]
        if system_prompt:
            messages.insert(0, {"role": "system", "content": system_prompt})
        limit = {} if max_tokens is None else {"max_tokens": max_tokens}
        response = client.chat.completions.create(
            model=model, temperature=temperature, messages=messages, **limit
        )
        usage = response.usage
        return Completion(
            text=response.choices[0].message.content or "",
            finish_reason=response.choices[0].finish_reason,
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
        parsed = parse_answer(completion.text, completion.finish_reason)
    except AnswerRejected as err:
        return GeneratedText(**base, **usage, raw_answer=completion.text,
                             rejection_reason=f"unparseable answer: {err}")
    return GeneratedText(**base, **usage, raw_answer=completion.text, parsed=parsed)


def generate_texts(
    prompts: list[PromptExample], complete: Complete, max_concurrency: int
) -> list[GeneratedText]:
    """One GeneratedText per prompt, in prompt order, at most `max_concurrency` calls at once."""
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
    if not prompts:
        return []
    with ThreadPoolExecutor(max_workers=min(max_concurrency, len(prompts))) as pool:
        return list(pool.map(lambda p: _answer(p, complete), prompts))


def is_failed_request(text: GeneratedText) -> bool:
    return (text.rejection_reason or "").startswith("request failed")


def usage_summary(texts: list[GeneratedText]) -> dict[str, int]:
    """Calls and token counts over a batch, for the asset's metadata."""
    prompt_tokens = sum(t.prompt_tokens for t in texts)
    completion_tokens = sum(t.completion_tokens for t in texts)
    return {
        "calls": len(texts),
        "failed_calls": sum(1 for t in texts if is_failed_request(t)),
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
