"""What a generation backend is to the gateway, and how a backend's failures reach a client.

A backend turns one learner's text into the model's reply, streamed: the text as it is
written, in pieces, then whether the model ended it. Two backends exist:

- `in_process.InProcessBackend`: the model in this process, batched continuously by
  transformers (the embedded default, and CPU);
- `engine.EngineBackend`: any OpenAI-compatible inference server (vLLM in production),
  through the openai client.

The gateway (`app.py`) sees only this protocol. No Dagster import here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


# The longest learner text the API takes; the in-process cache is sized for it.
MAX_TEXT_CHARS = 2000


@dataclass(frozen=True)
class Piece:
    """Text the model wrote since the last piece."""

    text: str


@dataclass(frozen=True)
class End:
    """The reply is complete. `ended`: the model ended it; False: the token limit did."""

    ended: bool


class Backend(Protocol):
    """Generates replies; `stream` yields Pieces, then exactly one End."""

    name: str  # "in-process" or "engine", for /healthz and logs
    max_new_tokens: int

    def stream(self, text: str) -> AsyncIterator[Piece | End]: ...

    async def check(self) -> None:
        """Raises EngineUnavailable when the backend cannot answer now."""

    async def close(self) -> None: ...


class Overloaded(RuntimeError):
    """503 with Retry-After: too many requests at once, or one waited past its deadline."""

    status = 503

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class EngineUnavailable(Overloaded):
    """503 with Retry-After: the inference engine cannot be reached or refused the request.
    The message names the engine (its URL without credentials) and never echoes its body."""


class EngineBadAnswer(RuntimeError):
    """502: the engine answered something that is not a chat completion. The message says
    what was wrong, never what the engine sent."""

    status = 502
