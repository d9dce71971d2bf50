"""An OpenAI-compatible server that misbehaves, for the adversarial tests: per prompt, by a
marker in its last message ("[[html]]"), or on every request (`always`). Binds 127.0.0.1
only; every loop in it is bounded."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import threading
import time
from collections.abc import Iterator

API_KEY = "sk-test-SECRET-0123456789abcdef"
# A correction point of comma-joined edits with a Korean particle glued on: what once made
# the parser backtrack exponentially (30 edits never finished).
MANY_EDITS = ", ".join(f'"go{i}" → "went{i}"' for i in range(30)) + "로 고쳤습니다."
_BOMB: list[bytes] = []  # made once: 64 MiB of spaces, gzipped to about 64 KiB


def _bomb() -> bytes:
    if not _BOMB:
        _BOMB.append(gzip.compress(b" " * (64 * 1024 * 1024), compresslevel=9))
    return _BOMB[0]


def _with_many_edits(answer: str) -> str:
    head, _, _ = answer.partition("### 교정 지점 ###")
    return f"{head}### 교정 지점 ###\n1. {MANY_EDITS}\n"


@contextlib.contextmanager
def hostile_server(always: str | None = None) -> Iterator[str]:
    """The server's base URL while it runs."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    from correctly_assets.testing.local_llm_server import _answer_for, _free_port

    async def chat(request):
        body = await request.json()
        text = body["messages"][-1]["content"]
        if always:
            text += always
        answer = _answer_for(text)
        completion = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                      "choices": [{"index": 0, "finish_reason": "stop",
                                   "message": {"role": "assistant", "content": answer}}],
                      "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}
        if "[[int]]" in text:
            completion["choices"][0]["message"]["content"] = 42
        elif "[[usage]]" in text:
            completion["usage"] = {"prompt_tokens": "many", "completion_tokens": None}
        elif "[[tokens]]" in text:  # more than the store's integer column holds
            completion["usage"] = {"prompt_tokens": 2**31, "completion_tokens": 2**40,
                                   "total_tokens": 2**40 + 2**31}
        elif "[[html]]" in text:
            return HTMLResponse("<html><body>gateway says hi</body></html>")
        elif "[[garbage]]" in text:
            return Response(b"\x00\xffnot json at all", media_type="application/json")
        elif "[[nochoices]]" in text:
            completion["choices"] = []
        elif "[[echo]]" in text:  # a gateway that echoes the request's credentials
            return JSONResponse({"error": {"message": "bad key: " + request.headers["authorization"]
                                           + f" (api_key={API_KEY})"}}, status_code=401)
        elif "[[trickle]]" in text:  # one byte at a time: every read is quick, the whole is not
            async def trickle():
                for _ in range(600):  # bounded: 3 minutes at most
                    yield b" "
                    await asyncio.sleep(0.3)
            return StreamingResponse(trickle(), media_type="application/json")
        elif "[[endless]]" in text:  # a 200 whose body never ends (bounded: 1 GiB)
            async def endless():
                chunk = b" " * (1024 * 1024)
                for _ in range(1024):
                    yield chunk
            return StreamingResponse(endless(), media_type="application/json")
        elif "[[flood]]" in text:  # a chat-completion stream that never finishes (bounded: 10 MB)
            async def flood():
                piece = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                         "choices": [{"index": 0, "delta": {"content": "x" * 1000},
                                      "finish_reason": None}]}
                for _ in range(10_000):
                    yield f"data: {json.dumps(piece)}\n\n".encode()
            return StreamingResponse(flood(), media_type="text/event-stream")
        elif "[[bomb]]" in text:  # a gzip bomb: 64 KiB that inflate to 64 MiB of whitespace
            return Response(_bomb(), media_type="application/json",
                            headers={"content-encoding": "gzip"})
        elif "[[silent]]" in text:  # accepts, then says nothing
            await asyncio.sleep(10)
        elif "[[huge]]" in text:
            completion["choices"][0]["message"]["content"] = answer + "x" * 1_000_000
        elif "[[edits]]" in text:
            completion["choices"][0]["message"]["content"] = _with_many_edits(answer)
        return JSONResponse(completion)

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[
        Route("/v1/chat/completions", chat, methods=["POST"])]),
        host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
