"""An HTTP client whose every exchange ends within a deadline, for the openai client.

It is an httpx2 client, the HTTP library the openai client is built on (given a client of
the older httpx, it adapts every request and response, several times slower under load).
httpx2's timeouts bound each read, and a server that sends one byte at a time resets them
with every byte. This transport bounds the whole exchange: connecting, sending and every
read wait at most what is left of the deadline, and a body still arriving at the deadline
is abandoned with a time-out (which the caller retries like any other).

It also bounds the body's size. It asks for an uncompressed answer; a body compressed all
the same (gzip or deflate) is inflated here, a piece at a time, so neither the bytes that
arrive nor the bytes they inflate to pass `max_bytes`: a body that never ends, or a gzip
bomb, is abandoned at the limit instead of filling the memory.
"""

from __future__ import annotations

import time
import zlib

import httpx2

# A chat completion of the longest answer kept (20,000 characters, JSON-escaped, four bytes
# a character at worst) is well under this.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
_INFLATED = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class DeadlineExceeded(httpx2.TimeoutException):
    """An HTTP exchange that ran past its overall deadline (a time-out: retried)."""


class ResponseTooLarge(httpx2.DecodingError):
    """A response body that passed its size limit, as sent or as inflated."""


class _AsyncDeadlineStream(httpx2.AsyncByteStream):
    def __init__(self, stream: httpx2.AsyncByteStream, deadline: float, request: httpx2.Request,
                 max_bytes: int, encoding: str):
        self._stream, self._deadline, self._request = stream, deadline, request
        self._max_bytes = max_bytes
        self._inflater = zlib.decompressobj(_INFLATED[encoding]) if encoding in _INFLATED else None

    def _too_large(self, what: str) -> ResponseTooLarge:
        return ResponseTooLarge(f"the response {what} passed {self._max_bytes:,} bytes; abandoned",
                                request=self._request)

    async def __aiter__(self):
        received = inflated = 0
        async for chunk in self._stream:
            if time.monotonic() > self._deadline:
                raise DeadlineExceeded("the answer kept arriving past the call's deadline",
                                       request=self._request)
            received += len(chunk)
            if received > self._max_bytes:
                raise self._too_large("body")
            if self._inflater is None:
                yield chunk
                continue
            try:  # at most one byte past the limit per piece: a bomb never inflates whole
                while chunk:
                    piece = self._inflater.decompress(chunk, self._max_bytes - inflated + 1)
                    inflated += len(piece)
                    if inflated > self._max_bytes:
                        raise self._too_large("inflated")
                    chunk = self._inflater.unconsumed_tail
                    yield piece
            except zlib.error as error:
                raise httpx2.DecodingError(f"the compressed body is corrupt: {error}",
                                           request=self._request) from None

    async def aclose(self) -> None:
        await self._stream.aclose()


class _AsyncDeadlineTransport(httpx2.AsyncHTTPTransport):
    def __init__(self, deadline_s: float, max_bytes: int = MAX_RESPONSE_BYTES, **kwargs):
        super().__init__(**kwargs)
        self.deadline_s, self.max_bytes = deadline_s, max_bytes

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        deadline = time.monotonic() + self.deadline_s
        request.extensions["timeout"] = {  # no single wait longer than the whole deadline
            key: min(value, self.deadline_s) if value is not None else self.deadline_s
            for key, value in request.extensions.get(
                "timeout", dict.fromkeys(("connect", "read", "write", "pool"))).items()}
        request.headers["Accept-Encoding"] = "identity"
        response = await super().handle_async_request(request)
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "", *_INFLATED):
            await response.aclose()
            raise httpx2.DecodingError(f"the response is {encoding}-encoded; only gzip and "
                                       "deflate are read", request=request)
        response.stream = _AsyncDeadlineStream(response.stream, deadline, request, self.max_bytes,
                                               encoding)
        if encoding in _INFLATED:  # inflated above: the client must not inflate it again
            del response.headers["content-encoding"]
            response.headers.pop("content-length", None)
        return response


# The openai client's own pool limits: with httpx2's default of 20 kept-alive connections,
# every call beyond the 20th at once would open and close a connection of its own.
POOL_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)


def async_deadline_http_client(timeout_s: float,
                               max_bytes: int = MAX_RESPONSE_BYTES) -> httpx2.AsyncClient:
    """An httpx2 client for `openai.AsyncOpenAI` whose every exchange ends within `timeout_s`
    and whose every response body, inflated or not, stays within `max_bytes`."""
    return httpx2.AsyncClient(transport=_AsyncDeadlineTransport(timeout_s, max_bytes,
                                                                limits=POOL_LIMITS),
                             limits=POOL_LIMITS, timeout=httpx2.Timeout(timeout_s))
