"""An HTTP client whose every exchange ends within a deadline, for the openai client.

It is an httpx2 client, the HTTP library the openai client is built on (given a client of
the older httpx, it adapts every request and response, several times slower under load).
httpx2's timeouts bound each read, and a server that sends one byte at a time resets them
with every byte. This transport bounds the whole exchange: connecting, sending and every
read wait at most what is left of the deadline, and a body still arriving at the deadline
is abandoned with a time-out (which the caller retries like any other).
"""

from __future__ import annotations

import time

import httpx2


class DeadlineExceeded(httpx2.TimeoutException):
    """An HTTP exchange that ran past its overall deadline (a time-out: retried)."""


class _AsyncDeadlineStream(httpx2.AsyncByteStream):
    def __init__(self, stream: httpx2.AsyncByteStream, deadline: float, request: httpx2.Request):
        self._stream, self._deadline, self._request = stream, deadline, request

    async def __aiter__(self):
        async for chunk in self._stream:
            if time.monotonic() > self._deadline:
                raise DeadlineExceeded("the answer kept arriving past the call's deadline",
                                       request=self._request)
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


class _AsyncDeadlineTransport(httpx2.AsyncHTTPTransport):
    def __init__(self, deadline_s: float, **kwargs):
        super().__init__(**kwargs)
        self.deadline_s = deadline_s

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        deadline = time.monotonic() + self.deadline_s
        request.extensions["timeout"] = {  # no single wait longer than the whole deadline
            key: min(value, self.deadline_s) if value is not None else self.deadline_s
            for key, value in request.extensions.get(
                "timeout", dict.fromkeys(("connect", "read", "write", "pool"))).items()}
        response = await super().handle_async_request(request)
        response.stream = _AsyncDeadlineStream(response.stream, deadline, request)
        return response


# The openai client's own pool limits: with httpx2's default of 20 kept-alive connections,
# every call beyond the 20th at once would open and close a connection of its own.
POOL_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)


def async_deadline_http_client(timeout_s: float) -> httpx2.AsyncClient:
    """An httpx2 client for `openai.AsyncOpenAI` whose every exchange ends within `timeout_s`."""
    return httpx2.AsyncClient(transport=_AsyncDeadlineTransport(timeout_s, limits=POOL_LIMITS),
                             limits=POOL_LIMITS, timeout=httpx2.Timeout(timeout_s))
