"""Answering prompts: concurrent, bounded, and losing nothing.

`generate_texts_async` calls an `AsyncComplete` (the openai client's `AsyncOpenAI`, see
`openai_acomplete_fn`) for every prompt, at most `max_concurrency` at once on one event
loop; `generate_texts` does the same for a plain `Complete` (the offline generator) on a
bounded thread pool. Both always return one `GeneratedText` per prompt, in prompt order: a
parsed answer, an unparseable one kept with its reason, or a failed call kept with its error.

Transient failures (429, 408/409, 5xx, time-outs, connection errors) are retried here with
tenacity: exponential backoff with jitter from 0.1 s, honouring the server's Retry-After.
The openai client's own retries start at 0.5 s, and in a large batch the slowest prompt's
retries are the batch's tail; give the client max_retries=0 so nothing is retried twice.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
import openai
import tenacity

from ..domain.answer_format import (
    MAX_ANSWER_CHARS, MAX_TOKEN_COUNT, AnswerRejected, over_long_answer, parse_answer,
)
from .deadline_http import DeadlineExceeded, ResponseTooLarge
from ..domain.models import GeneratedText, PromptExample
from .offline_generator import generate_offline_answer, write_offline_answer
from ..domain.prompt_format import answer_language

OFFLINE_MODEL = "offline-error-generator"

# With 10% of calls failing, eight retries leave a call failing for good with odds of
# 1e-9; the backoff (0.1 s doubling, capped at 20 s) waits at most about 45 s in all, and
# DEFAULT_CALL_DEADLINE_S bounds a call's attempts and waits together.
DEFAULT_MAX_RETRIES = 8
INITIAL_BACKOFF_S = 0.1
MAX_BACKOFF_S = 20.0
DEFAULT_TIMEOUT_S = 60.0
# A call's overall deadline, every attempt and every wait between them included: a server
# that never answers, or answers one byte at a time, costs a prompt this long at most.
DEFAULT_CALL_DEADLINE_S = 180.0
# A batch's budget: no call starts and no retry waits past it; the prompts it leaves
# unanswered are kept as failed calls (asked again on the next materialisation, while the
# answers already received stay in the answer journal).
DEFAULT_BATCH_BUDGET_S = 3600.0
# The longest Retry-After honoured; a longer hint waits this long (within the deadlines).
MAX_RETRY_AFTER_S = 60.0

# Credential-shaped strings, scrubbed from anything an outside server sent before it is
# stored or logged (a gateway may echo the request's Authorization header in an error).
_CREDENTIALS = re.compile(
    r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|\bsk-[A-Za-z0-9_-]{8,}"
    r"|\b((?:api[_-]?key|token|password|secret)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{6,}"
)
REDACTED = "[REDACTED]"


class MalformedResponse(ValueError):
    """A 200 answer that is not a usable chat completion."""


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without the given secrets and without credential-shaped strings."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return _CREDENTIALS.sub(
        lambda m: (m.group(2) or (m.group(1) + " " if m.group(1) else "")) + REDACTED, text)


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
AsyncComplete = Callable[[PromptExample], Awaitable[Completion]]


def cut_to_tokens(text: str, max_tokens: int | None) -> tuple[str, str]:
    """(the text, "stop"), or cut mid-sentence to `max_tokens` whitespace words, as a server
    cuts at its token limit, with "length"."""
    words = re.findall(r"\S+\s*", text)  # each word with the space after it
    if max_tokens is None or len(words) <= max_tokens:
        return text, "stop"
    return "".join(words[:max_tokens]).rstrip(), "length"


def offline_complete(prompt: PromptExample) -> Completion:
    """The offline generator's answer; token counts are whitespace word counts. It has no
    sampling: a prompt's temperature is part of its seed (another temperature, another
    draw of mistakes), and its max_tokens cuts the answer as a server would."""
    seed = prompt.prompt_id if prompt.temperature is None else f"{prompt.prompt_id}|{prompt.temperature}"
    language = answer_language(prompt.prompt)
    if prompt.passage:
        text = generate_offline_answer(prompt.passage, prompt.passage_korean, seed=seed,
                                       language=language)
    else:  # the original's generation prompt: a new text is asked for
        text = write_offline_answer(seed, language)
    text, finish_reason = cut_to_tokens(text, prompt.max_tokens)
    return Completion(text, OFFLINE_MODEL, len(prompt.prompt.split()), len(text.split()),
                      finish_reason)


def _is_transient(err: BaseException) -> bool:
    if isinstance(err, (openai.APITimeoutError, openai.APIConnectionError)):
        return True
    return isinstance(err, openai.APIStatusError) and (
        err.status_code in (408, 409, 429) or err.status_code >= 500
    )


def _retry_after_s(err: BaseException | None) -> float | None:
    """The server's Retry-After hint in seconds, capped at MAX_RETRY_AFTER_S, when it gave a
    usable one (a number of seconds)."""
    response = getattr(err, "response", None)
    try:
        hint = float(response.headers["retry-after"])
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    return min(hint, MAX_RETRY_AFTER_S) if 0 < hint < float("inf") else None


class BudgetSpent(RuntimeError):
    """The batch's budget ran out before this call (or its next attempt) could start."""


def _retry_policy(max_retries: int, call_deadline_s: float,
                  batch_deadline: float | None) -> dict:
    """tenacity's arguments: transient errors retried up to `max_retries` times with
    backoff or the server's Retry-After, no attempt started after `call_deadline_s`, nor
    after `batch_deadline` (a `time.monotonic()` instant: the batch's budget), and no wait
    past the budget."""
    backoff = tenacity.wait_exponential_jitter(
        multiplier=INITIAL_BACKOFF_S, max=MAX_BACKOFF_S, jitter=INITIAL_BACKOFF_S
    )

    def wait(state: tenacity.RetryCallState) -> float:
        hint = _retry_after_s(state.outcome.exception())
        delay = hint if hint is not None else backoff(state)
        if batch_deadline is not None:
            delay = min(delay, max(0.0, batch_deadline - time.monotonic()))
        return delay

    def budget_spent(state: tenacity.RetryCallState) -> bool:
        return batch_deadline is not None and time.monotonic() >= batch_deadline

    return dict(retry=tenacity.retry_if_exception(_is_transient), wait=wait, reraise=True,
                stop=(tenacity.stop_after_attempt(max_retries + 1)
                      | tenacity.stop_after_delay(call_deadline_s) | budget_spent))


def _request(prompt: PromptExample, model: str, temperature: float, system_prompt: str,
             max_tokens: int | None, batch_deadline: float | None) -> dict:
    """The chat completion request's arguments; BudgetSpent once the budget is spent."""
    if batch_deadline is not None and time.monotonic() >= batch_deadline:
        raise BudgetSpent("the batch's budget was spent before this attempt could start")
    messages = [{"role": "user", "content": prompt.prompt}]
    system_prompt = getattr(prompt, "system_prompt", None) or system_prompt
    if system_prompt:
        messages.insert(0, {"role": "system", "content": system_prompt})
    # A prompt's own settings (the original's system prompt, creativity and length) before
    # the generator's. (getattr: a judge request has none of them.)
    if getattr(prompt, "temperature", None) is not None:
        temperature = prompt.temperature
    max_tokens = getattr(prompt, "max_tokens", None) or max_tokens
    limit = {} if max_tokens is None else {"max_tokens": max_tokens}
    return dict(model=model, temperature=temperature, messages=messages, **limit)


def openai_acomplete_fn(
    client: openai.AsyncOpenAI,
    model: str,
    temperature: float,
    system_prompt: str = GENERATION_SYSTEM_PROMPT,
    max_retries: int = DEFAULT_MAX_RETRIES,
    max_tokens: int | None = None,
    call_deadline_s: float = DEFAULT_CALL_DEADLINE_S,
    batch_deadline: float | None = None,
) -> AsyncComplete:
    """An `AsyncComplete` over an `openai.AsyncOpenAI` client's chat completions, retried as
    `_retry_policy` says; an error that outlasts the retries is left to
    `generate_texts_async` to record. Give the client an `async_deadline_http_client` so one
    attempt cannot outlast the deadlines either."""

    @tenacity.retry(**_retry_policy(max_retries, call_deadline_s, batch_deadline))
    async def complete(prompt: PromptExample) -> Completion:
        response = await client.chat.completions.create(**_request(
            prompt, model, temperature, system_prompt, max_tokens, batch_deadline))
        return _completion(response, model)

    return complete




def _tokens(usage: object, name: str) -> int:
    """A usage count the server reported; 0 when it is not a count the store can hold (a
    string, a negative number, 2**31), as when it sends none: one bad figure must not cost
    the paid answer beside it."""
    value = getattr(usage, name, 0)
    return (value if isinstance(value, int) and not isinstance(value, bool)
            and 0 <= value <= MAX_TOKEN_COUNT else 0)


def _completion(response: object, model: str) -> Completion:
    """The parts of a chat completion we use, each checked: a server may send anything."""
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or not choices:
        shown = str(response)[:200]
        raise MalformedResponse(f"not a chat completion (no choices): {shown!r}")
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None)
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise MalformedResponse(f"the message content is {type(content).__name__}, not text")
    finish_reason = getattr(choices[0], "finish_reason", None)
    name = getattr(response, "model", None)
    usage = getattr(response, "usage", None)
    return Completion(
        text=content,
        finish_reason=finish_reason if isinstance(finish_reason, str) else None,
        model=name if isinstance(name, str) and name else model,
        prompt_tokens=_tokens(usage, "prompt_tokens"),
        completion_tokens=_tokens(usage, "completion_tokens"),
    )


def _failed(prompt: PromptExample, err: Exception, secrets: tuple[str, ...]) -> GeneratedText:
    """The row of a call that raised: kept, with the reason (scrubbed of secrets)."""
    base = {"prompt_id": prompt.prompt_id, "date": prompt.date, "theme": prompt.theme}
    if isinstance(err, MalformedResponse):
        reason = f"malformed response: {err}"
    else:
        reason = f"request failed: {type(err).__name__}: {err}"
        cause = err.__cause__  # the openai client wraps the transport's error: say what it was
        if isinstance(cause, (DeadlineExceeded, ResponseTooLarge)):
            reason += f" ({type(cause).__name__}: {cause})"
    return GeneratedText(**base, raw_answer="", model="", rejection_reason=redact(reason, secrets))


def _judged(prompt: PromptExample, completion: Completion,
            secrets: tuple[str, ...]) -> GeneratedText:
    """The row of an answer: parsed, or kept with why it could not be."""
    base = {"prompt_id": prompt.prompt_id, "date": prompt.date, "theme": prompt.theme}
    usage = {"model": redact(completion.model, secrets)[:200],
             "prompt_tokens": completion.prompt_tokens,
             "completion_tokens": completion.completion_tokens}
    text = redact(completion.text, secrets)
    if len(text) > MAX_ANSWER_CHARS:
        return over_long_answer(GeneratedText(**base, **usage, raw_answer=text))
    try:
        parsed = parse_answer(text, completion.finish_reason)
    except AnswerRejected as err:
        return GeneratedText(**base, **usage, raw_answer=text,
                             rejection_reason=f"unparseable answer: {err}")
    except Exception as err:  # noqa: BLE001 - a parser bug must not cost the batch
        return GeneratedText(**base, **usage, raw_answer=text,
                             rejection_reason=f"unparseable answer: {type(err).__name__}: {err}")
    return GeneratedText(**base, **usage, raw_answer=text, parsed=parsed)


def _answer(prompt: PromptExample, complete: Complete, secrets: tuple[str, ...]) -> GeneratedText:
    """The prompt's row, whatever happened: nothing here may fail the batch."""
    try:
        completion = complete(prompt)
    except Exception as err:  # noqa: BLE001 - any failure is recorded, the batch goes on
        return _failed(prompt, err, secrets)
    return _judged(prompt, completion, secrets)


def generate_texts(
    prompts: list[PromptExample], complete: Complete, max_concurrency: int,
    secrets: Iterable[str] = (),
    on_answer: Callable[[PromptExample, GeneratedText], None] | None = None,
) -> list[GeneratedText]:
    """One GeneratedText per prompt, in prompt order, at most `max_concurrency` calls at once.
    `secrets` (the API key) are scrubbed from every answer and error kept. `on_answer` is
    called with each answer as it arrives (an AnswerJournal's `record`)."""
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
    if not prompts:
        return []
    secrets = tuple(secrets)

    def answer(prompt: PromptExample) -> GeneratedText:
        text = _answer(prompt, complete, secrets)
        if on_answer is not None:
            on_answer(prompt, text)
        return text

    with ThreadPoolExecutor(max_workers=min(max_concurrency, len(prompts))) as pool:
        return list(pool.map(answer, prompts))


async def generate_texts_async(
    prompts: list[PromptExample], complete: AsyncComplete, max_concurrency: int,
    secrets: Iterable[str] = (),
    on_answer: Callable[[PromptExample, GeneratedText], None] | None = None,
    batch_deadline: float | None = None,
) -> list[GeneratedText]:
    """`generate_texts` for an `AsyncComplete`: the same rows, in prompt order, at most
    `max_concurrency` calls at once, on one event loop. For an HTTP model this is the
    faster path: one thread and one connection pool, where threads contend for both. A
    prompt whose call would start after `batch_deadline` (a `time.monotonic()` instant) is
    not sent: it is kept as a failed call."""
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
    secrets = tuple(secrets)
    slots = asyncio.Semaphore(max_concurrency)

    async def answer(prompt: PromptExample) -> GeneratedText:
        async with slots:
            if batch_deadline is not None and time.monotonic() >= batch_deadline:
                text = _failed(prompt, BudgetSpent(
                    "the batch's budget was spent before this call could start"), secrets)
            else:
                try:
                    completion = await complete(prompt)
                except Exception as err:  # noqa: BLE001 - recorded, the batch goes on
                    text = _failed(prompt, err, secrets)
                else:
                    # Parsing is CPU work: off the event loop, so the other calls go on.
                    text = await asyncio.to_thread(_judged, prompt, completion, secrets)
        if on_answer is not None:
            on_answer(prompt, text)
        return text

    return list(await asyncio.gather(*(answer(p) for p in prompts)))


def is_failed_request(text: GeneratedText) -> bool:
    """No answer came back for the prompt: the call raised, or what came back was not a chat
    completion (a proxy's HTML page with status 200, garbage, no choices). Such a row is not
    journaled, and a partition of nothing else keeps its stored rows."""
    return (text.rejection_reason or "").startswith(("request failed", "malformed response"))


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
