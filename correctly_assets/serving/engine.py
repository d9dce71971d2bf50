"""An OpenAI-compatible inference server as the backend: vLLM on the GPU node in production.

The gateway asks it through the real openai client, in the project's chat format: the
model's instruction as the system turn, the learner's text (special tokens neutralised by
the model's own tokenizer) as the user turn, greedy, the model's answer budget as
max_tokens, streamed. The engine ends a reply at the model's end-of-turn token, as the
chat template it serves says. Its failures reach the client named and never echoed:

- unreachable, timed out, overloaded or refusing: EngineUnavailable (503, Retry-After);
- an answer that is not a streamed chat completion: EngineBadAnswer (502).

Nothing is cached between requests, so serving recovers by itself when the engine returns.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from ..domain.chat_format import Language, neutralised, prompt_messages
from ..settings import redacted
from .backends import End, EngineBadAnswer, EngineUnavailable, Piece

logger = logging.getLogger(__name__)

# Seconds to connect, and between two pieces of a stream, before the engine counts as
# unreachable; the service's deadline bounds the whole request.
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0
# More characters than any tokenizer writes in max_tokens tokens: a stream past it is not
# the model's answer, and is cut off as a bad answer rather than read on.
MAX_CHARS_PER_TOKEN = 32


class EngineBackend:
    name = "engine"

    def __init__(self, base_url: str, model: str, max_new_tokens: int, language: Language,
                 specials: tuple[str, ...] = (), api_key: str | None = None):
        import httpx
        from openai import AsyncOpenAI

        self.base_url, self.model, self.max_new_tokens = base_url, model, max_new_tokens
        self.language, self.specials = language, specials
        self._where = f"the inference engine at {redacted(base_url)}"
        # No retries here: a client waiting for its answer is better served by a prompt 503
        # with Retry-After than by the gateway retrying behind its back.
        self._client = AsyncOpenAI(
            base_url=base_url, api_key=api_key or "unused", max_retries=0,
            timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S))

    def _unavailable(self, error: Exception) -> EngineUnavailable:
        import openai

        if isinstance(error, openai.APITimeoutError):
            why = "did not answer in time"
        elif isinstance(error, openai.APIConnectionError):
            why = "cannot be reached"
        elif isinstance(error, openai.NotFoundError):
            why = f"does not serve model '{self.model}' (HTTP 404)"
        else:
            why = f"refused the request (HTTP {getattr(error, 'status_code', '?')})"
        # The engine's own message is not passed on: it may quote the prompt, or a key.
        return EngineUnavailable(f"{self._where} {why}; try again shortly", retry_after_s=5)

    async def stream(self, text: str) -> AsyncIterator[Piece | End]:
        import openai

        messages = prompt_messages(neutralised(text, self.specials), self.language)
        limit, written, finish = self.max_new_tokens * MAX_CHARS_PER_TOKEN, 0, None
        try:
            stream = await self._client.chat.completions.create(
                model=self.model, messages=messages, max_tokens=self.max_new_tokens,
                temperature=0.0, stream=True)
            try:
                async for chunk in stream:
                    if not getattr(chunk, "choices", None):
                        continue  # a usage-only chunk
                    choice = chunk.choices[0]
                    piece = choice.delta.content if choice.delta is not None else None
                    if piece is not None and not isinstance(piece, str):
                        raise EngineBadAnswer(f"{self._where} sent a piece that is not text")
                    if piece:
                        written += len(piece)
                        if written > limit:
                            raise EngineBadAnswer(
                                f"{self._where} sent more than {limit:,} characters for at "
                                f"most {self.max_new_tokens:,} tokens")
                        yield Piece(piece)
                    if choice.finish_reason:
                        finish = choice.finish_reason
                        break
            finally:
                await stream.close()
        except (openai.APIConnectionError, openai.APIStatusError) as error:
            raise self._unavailable(error) from None
        # ValueError: JSON that does not parse, bytes that are not UTF-8.
        except (openai.APIResponseValidationError, ValueError, AttributeError, TypeError,
                IndexError, KeyError) as error:
            raise EngineBadAnswer(f"{self._where} sent something that is not a streamed chat "
                                  f"completion ({type(error).__name__})") from None
        if finish is None:
            raise EngineBadAnswer(f"{self._where} ended its stream without a finish reason")
        yield End(ended=finish != "length")

    async def check(self) -> None:
        """The engine answers and lists the served model."""
        import openai

        try:
            served = [m.id async for m in self._client.models.list()]
        except (openai.APIConnectionError, openai.APIStatusError) as error:
            raise self._unavailable(error) from None
        except (openai.APIResponseValidationError, ValueError, AttributeError, TypeError,
                KeyError) as error:
            raise EngineBadAnswer(f"{self._where} answered its model list with something "
                                  f"else ({type(error).__name__})") from None
        if self.model not in served:
            raise EngineUnavailable(f"{self._where} does not serve model '{self.model}' "
                                    f"(it serves: {', '.join(m[:100] for m in served[:5]) or 'none'})", retry_after_s=30)

    async def close(self) -> None:
        await self._client.close()
