"""A local OpenAI-compatible chat-completions server, for tests and benchmarks.

It answers like a model asked for the sectioned format would: the offline generator
applied to the prompt's passage. Asked in the fine-tuned model's chat format (its
instruction as the system turn), it stands in for an inference engine serving that model:
it corrects "go" to "went" in the learner's text, in the reply format, and streams when
asked to (`"stream": true`, the OpenAI chunk shape). Started with a model name, it serves
that name only, as vLLM's --served-model-name does. It also runs the Batch API
(`batch_server`: files, batches, injectable faults). Latency and a share of failing calls (429 with
Retry-After, 500, 503) are configurable, so the real openai client's retries and our
concurrency are exercised over real HTTP. It binds 127.0.0.1 only.

    python -m correctly_assets.testing.local_llm_server --port 8001 --latency 0.2 --failure-rate 0.1
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from correctly_assets.llm.generation import cut_to_tokens
from correctly_assets.testing.batch_server import BatchFaults, BatchState, batch_routes
from correctly_assets.llm.judging import JUDGE_HEADER, offline_verdict
from correctly_assets.llm.offline_generator import generate_offline_answer, write_offline_answer
from correctly_assets.domain.answer_format import KOREAN_HEADERS
from correctly_assets.domain.chat_format import INSTRUCTIONS, POINTS_HEADER, learner_text
from correctly_assets.domain.prompt_format import answer_language, extract_passage

MODEL = "local-offline-generator"
_FAILURES = ((429, "rate limited"), (500, "internal error"), (503, "overloaded"))


@dataclass
class ServerStats:
    """Requests received and failures injected; the event loop writes, tests read."""

    requests: int = 0
    failures: int = 0
    # The sampling settings and system message of the last answered requests, oldest first.
    settings: collections.deque = field(default_factory=lambda: collections.deque(maxlen=1000))
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def as_dict(self) -> dict[str, int]:
        with self.lock:
            return {"requests": self.requests, "failures": self.failures}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    kind = {400: "invalid_request_error", 429: "rate_limit_error"}.get(status, "server_error")
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return JSONResponse(body, status_code=status, headers=headers)


def _last_user_text(body: object) -> str:
    """The text of the last user message; content may be a string or a list of parts."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list")
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        raise ValueError("'messages' holds no user message")
    content = users[-1].get("content")
    if isinstance(content, list):
        content = "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        raise ValueError("the user message's 'content' must be text")
    return content


def correction_reply(turn: str, language: str) -> str:
    """What the stand-in engine answers a learner's turn: "go" corrected to "went"."""
    text = learner_text(turn)
    corrected = re.sub(r"\bgo\b", "went", text)
    point = ('1. **시제**: "go" → "went": 지난 일이므로 과거형을 씁니다.' if language == "ko"
             else '1. "go" -> "went": 지난 일이므로 과거형을 씁니다.')
    points = point if corrected != text else ""
    if language == "en":
        return f"{corrected}\n\n{POINTS_HEADER}\n{points}"
    return (f"### {KOREAN_HEADERS['After']} ###\n{corrected}\n\n"
            f"### {KOREAN_HEADERS['Translation']} ###\n(로컬 테스트 서버의 번역)\n\n"
            f"### {KOREAN_HEADERS['Correction Points']} ###\n{points}")


def _answer_for(content: str, system: str | None = None) -> str:
    for language, instruction in INSTRUCTIONS.items():
        if system == instruction:
            return correction_reply(content, language)
    if content.startswith(JUDGE_HEADER):
        return offline_verdict(content)
    language = answer_language(content)
    try:
        passage, korean = extract_passage(content)
    except ValueError:
        if language == "ko":  # the original's generation prompt: a new text is asked for
            return write_offline_answer(content, language)
        return "I am not sure what you would like me to correct."
    return generate_offline_answer(passage, korean, seed=content, language=language)


def _chunks(answer: str, finish_reason: str, model: str, piece_latency_s: float):
    """The answer as OpenAI chat-completion chunks, a word at a time, then [DONE]."""
    created, ident = int(time.time()), f"chatcmpl-{uuid.uuid4().hex}"

    def chunk(delta: dict, finish: str | None) -> bytes:
        body = {"id": ident, "object": "chat.completion.chunk", "created": created,
                "model": model, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                             "finish_reason": finish}]}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()

    async def body():
        yield chunk({"role": "assistant", "content": ""}, None)
        for piece in re.findall(r"\s*\S+|\s+", answer):
            await asyncio.sleep(piece_latency_s)
            yield chunk({"content": piece}, None)
        yield chunk({}, finish_reason)
        yield b"data: [DONE]\n\n"

    return body()


def _completion_body(body: dict, answer: str, finish_reason: str) -> dict:
    prompt_tokens = len(_last_user_text(body).split())
    completion_tokens = len(answer.split())
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or MODEL,
        "choices": [{"index": 0, "finish_reason": finish_reason, "logprobs": None,
                     "message": {"role": "assistant", "content": answer}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def build_app(latency_s: float = 0.0, failure_rate: float = 0.0, seed: int = 0,
              stats: ServerStats | None = None, served_model: str | None = None,
              piece_latency_s: float = 0.0, batches: BatchState | None = None) -> Starlette:
    if latency_s < 0 or not 0.0 <= failure_rate <= 1.0:
        raise ValueError("latency_s must be >= 0 and failure_rate within [0, 1]")
    stats = stats if stats is not None else ServerStats()
    batches = batches if batches is not None else BatchState()
    rng = random.Random(seed)

    async def chat_completions(request: Request) -> JSONResponse:
        with stats.lock:
            stats.requests += 1
            failure = _FAILURES[stats.failures % len(_FAILURES)] if rng.random() < failure_rate else None
            stats.failures += 1 if failure else 0
        await asyncio.sleep(latency_s)
        if failure:
            status, message = failure
            return _error(status, message, {"retry-after": "0"} if status == 429 else None)
        try:
            body = await request.json()
            _last_user_text(body)
        except ValueError as err:  # json.JSONDecodeError is a ValueError too
            return _error(400, f"invalid request: {err}")
        if served_model and body.get("model") != served_model:
            return _error(404, f"The model `{body.get('model')}` does not exist.")
        answer, finish_reason = _answer(body)
        if body.get("stream") is True:
            return StreamingResponse(
                _chunks(answer, finish_reason, body.get("model") or MODEL, piece_latency_s),
                media_type="text/event-stream")
        return JSONResponse(_completion_body(body, answer, finish_reason))

    def _answer(body: dict) -> tuple[str, str]:
        # Tokens are whitespace words here; a max_tokens limit cuts the answer as a real
        # server would, mid-sentence.
        limit = body.get("max_tokens")
        system = [m.get("content") for m in body["messages"] if isinstance(m, dict)
                  and m.get("role") == "system"]
        with stats.lock:
            stats.settings.append({"temperature": body.get("temperature"), "max_tokens": limit,
                                   "system": system[0] if system else None})
        return cut_to_tokens(_answer_for(_last_user_text(body), system[0] if system else None),
                             limit if isinstance(limit, int) else None)

    def complete_line(body: object) -> tuple[int, dict]:
        """One batch line's request answered as /v1/chat/completions would."""
        try:
            _last_user_text(body)
        except ValueError as err:
            return 400, {"error": {"message": f"invalid request: {err}",
                                   "type": "invalid_request_error"}}
        answer, finish_reason = _answer(body)
        return 200, _completion_body(body, answer, finish_reason)

    async def models(_: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [
            {"id": served_model or MODEL, "object": "model", "created": 0, "owned_by": "local"}]})

    async def server_stats(_: Request) -> JSONResponse:
        return JSONResponse({**stats.as_dict(), "batch": batches.as_dict()})

    app = Starlette(routes=[
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/models", models),
        # Not part of the OpenAI API: lets a benchmark read the counters of a server
        # running in another process.
        Route("/stats", server_stats),
        *batch_routes(batches, complete_line),
    ])
    app.state.stats = stats
    app.state.batches = batches
    return app


@dataclass
class RunningServer:
    base_url: str
    stats: ServerStats
    batches: BatchState


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_in_thread(latency_s: float = 0.0, failure_rate: float = 0.0, seed: int = 0,
                    served_model: str | None = None, port: int | None = None,
                    piece_latency_s: float = 0.0,
                    batch_faults: BatchFaults | None = None) -> Iterator[RunningServer]:
    """Runs the server on 127.0.0.1 (a free port unless given) in a background thread."""
    stats = ServerStats()
    batches = BatchState(faults=batch_faults or BatchFaults())
    port = port or _free_port()
    app = build_app(latency_s, failure_rate, seed, stats, served_model, piece_latency_s, batches)
    config = uvicorn.Config(app, host="127.0.0.1",
                            port=port, log_level="warning", backlog=4096, limit_concurrency=4096)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"local LLM server did not start on 127.0.0.1:{port}")
            time.sleep(0.02)
        yield RunningServer(base_url=f"http://127.0.0.1:{port}/v1", stats=stats, batches=batches)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description="Local OpenAI-compatible server (127.0.0.1).")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    parser.add_argument("--failure-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-complete-after", type=float, default=0.0,
                        help="seconds a batch stays in progress (the Batch API)")
    parser.add_argument("--served-model-name", help="serve this model name only (as vLLM)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind; a container on its own network binds 0.0.0.0")
    args = parser.parse_args()
    print(f"OpenAI-compatible base URL: http://{args.host}:{args.port}/v1", flush=True)
    uvicorn.run(build_app(args.latency, args.failure_rate, args.seed,
                          served_model=args.served_model_name,
                          batches=BatchState(faults=BatchFaults(
                              complete_after_s=args.batch_complete_after))),
                host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
