"""The Batch API on the local OpenAI-compatible server: `/v1/files` and `/v1/batches`.

Batches run when they are looked at: a batch created at t is `in_progress` until t +
`faults.complete_after_s`, then ends, each line answered by the server's own chat-completion
logic. Faults are set on `BatchFaults` (also at run time, by a test), and every line answered
is counted by custom id, so a test sees whether any request was sent twice:

- `fail_next`: the next N batches fail their validation (no output);
- `expire_next`: the next N batches expire with only their first half answered;
- `error_every`: every k-th line of a batch is an error line (HTTP 500);
- `complete_after_s`: how long a batch stays in progress;
- `content_fails`: the next N downloads of a file's content answer 500;
- `max_file_bytes` / `max_file_requests`: an input file past either is refused, as the API does.
"""

from __future__ import annotations

import collections
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from correctly_assets.llm.batch_files import MAX_FILE_BYTES, MAX_REQUESTS_PER_FILE


@dataclass
class BatchFaults:
    fail_next: int = 0
    expire_next: int = 0
    error_every: int = 0
    error_message: str = "injected server error"  # what an error line says (say, a key)
    complete_after_s: float = 0.0
    content_fails: int = 0  # the next N downloads of a file's content answer 500
    max_file_bytes: int = MAX_FILE_BYTES
    max_file_requests: int = MAX_REQUESTS_PER_FILE


@dataclass
class BatchState:
    """Files, batches and counters; the event loop writes, tests read."""

    faults: BatchFaults = field(default_factory=BatchFaults)
    files: dict[str, dict] = field(default_factory=dict)
    batches: dict[str, dict] = field(default_factory=dict)
    # custom id -> times its line was answered (or errored) by an ended batch
    answered: collections.Counter = field(default_factory=collections.Counter)
    errored: collections.Counter = field(default_factory=collections.Counter)  # of those, errors
    uploads: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def as_dict(self) -> dict:
        with self.lock:
            return {"uploads": self.uploads, "batches": len(self.batches),
                    "lines_answered": sum(self.answered.values()),
                    "most_answered": max(self.answered.values(), default=0),
                    # a request answered (not errored) more than once: sent twice
                    "answered_twice": sum(1 for c, n in self.answered.items()
                                          if n - self.errored[c] > 1),
                    "statuses": dict(collections.Counter(b["status"] for b in self.batches.values()))}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error",
                                   "param": None, "code": None}}, status_code=status)


def _file_object(ident: str, entry: dict) -> dict:
    return {"id": ident, "object": "file", "bytes": len(entry["content"]),
            "created_at": entry["created_at"], "filename": entry["filename"],
            "purpose": entry["purpose"], "status": "processed"}


def batch_routes(state: BatchState, complete_line) -> list[Route]:
    """The routes; `complete_line(body) -> (status, response body)` answers one request."""

    def store_file(content: bytes, filename: str, purpose: str) -> str:
        ident = f"file-{uuid.uuid4().hex}"
        state.files[ident] = {"content": content, "filename": filename, "purpose": purpose,
                              "created_at": int(time.time())}
        return ident

    async def upload(request: Request) -> JSONResponse:
        raw = await request.body()
        header = f"Content-Type: {request.headers.get('content-type', '')}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(header + raw)
        if not message.is_multipart():
            return _error(400, "expected multipart/form-data with 'file' and 'purpose'")
        parts = {part.get_param("name", header="content-disposition"): part
                 for part in message.iter_parts()}
        if "file" not in parts or "purpose" not in parts:
            return _error(400, "expected multipart/form-data with 'file' and 'purpose'")
        content = parts["file"].get_payload(decode=True) or b""
        purpose = parts["purpose"].get_payload(decode=True).decode()
        with state.lock:
            if purpose == "batch" and len(content) > state.faults.max_file_bytes:
                return _error(400, f"file is {len(content)} bytes; the limit is "
                                   f"{state.faults.max_file_bytes}")
            state.uploads += 1
            ident = store_file(content, parts["file"].get_filename() or "upload", purpose)
            return JSONResponse(_file_object(ident, state.files[ident]))

    async def file_info(request: Request) -> JSONResponse:
        entry = state.files.get(request.path_params["file_id"])
        if entry is None:
            return _error(404, "no such file")
        return JSONResponse(_file_object(request.path_params["file_id"], entry))

    async def file_content(request: Request) -> Response:
        with state.lock:
            if state.faults.content_fails > 0:
                state.faults.content_fails -= 1
                return JSONResponse({"error": {"message": "injected download failure",
                                               "type": "server_error"}}, status_code=500)
        entry = state.files.get(request.path_params["file_id"])
        if entry is None:
            return _error(404, "no such file")
        return Response(entry["content"], media_type="application/octet-stream")

    async def create(request: Request) -> JSONResponse:
        body = await request.json()
        with state.lock:
            entry = state.files.get(body.get("input_file_id"))
            if entry is None:
                return _error(400, "input_file_id names no uploaded file")
            lines = [json.loads(line) for line in entry["content"].splitlines() if line.strip()]
            if len(lines) > state.faults.max_file_requests:
                return _error(400, f"{len(lines)} requests; the limit is "
                                   f"{state.faults.max_file_requests}")
            if body.get("completion_window") != "24h":
                return _error(400, "completion_window must be 24h")
            fate = "completed"
            if state.faults.fail_next > 0:
                state.faults.fail_next, fate = state.faults.fail_next - 1, "failed"
            elif state.faults.expire_next > 0:
                state.faults.expire_next, fate = state.faults.expire_next - 1, "expired"
            now = int(time.time())
            ident = f"batch_{uuid.uuid4().hex}"
            state.batches[ident] = {
                "id": ident, "object": "batch", "endpoint": body.get("endpoint"),
                "errors": None, "input_file_id": body["input_file_id"],
                "completion_window": "24h", "status": "validating", "output_file_id": None,
                "error_file_id": None, "created_at": now, "in_progress_at": None,
                "expires_at": now + 86400, "finalizing_at": None, "completed_at": None,
                "failed_at": None, "expired_at": None, "cancelling_at": None,
                "cancelled_at": None, "request_counts": {"total": len(lines), "completed": 0,
                                                         "failed": 0},
                "metadata": body.get("metadata") or {},
                "_lines": lines, "_fate": fate,
                "_ends_at": time.monotonic() + state.faults.complete_after_s,
                "_error_every": state.faults.error_every,
                "_error_message": state.faults.error_message}
            return JSONResponse(_public(state.batches[ident]))

    def run_to_end(batch: dict) -> None:
        """Ends a batch that is due: its output and error files, as the API writes them."""
        now = int(time.time())
        if batch["_fate"] == "failed":
            batch.update(status="failed", failed_at=now, errors={"object": "list", "data": [
                {"code": "invalid_request", "message": "injected validation failure",
                 "param": None, "line": 1}]})
            return
        lines = batch["_lines"]
        done = len(lines) // 2 if batch["_fate"] == "expired" else len(lines)
        output, errors = [], []
        for number, line in enumerate(lines[:done], 1):
            state.answered[line["custom_id"]] += 1
            every = batch["_error_every"]
            if every and number % every == 0:
                status, body = 500, {"error": {"message": batch["_error_message"],
                                               "type": "server_error", "code": "server_error"}}
            else:
                status, body = complete_line(line["body"])
            entry = {"id": f"batch_req_{uuid.uuid4().hex}", "custom_id": line["custom_id"],
                     "response": {"status_code": status, "request_id": uuid.uuid4().hex,
                                  "body": body}, "error": None}
            (output if status == 200 else errors).append(entry)
            state.errored[line["custom_id"]] += status != 200
        for line in lines[done:]:  # never reached: the API writes them to the error file
            errors.append({"id": f"batch_req_{uuid.uuid4().hex}", "custom_id": line["custom_id"],
                           "response": None, "error": {"code": "batch_expired", "message":
                           "This request could not be executed before the completion window "
                           "expired."}})

        def write(entries: list[dict], name: str) -> str | None:
            if not entries:
                return None
            content = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries).encode()
            return store_file(content, name, "batch_output")

        batch.update(status=batch["_fate"], output_file_id=write(output, "output.jsonl"),
                     error_file_id=write(errors, "errors.jsonl"), finalizing_at=now,
                     request_counts={"total": len(lines), "completed": len(output),
                                     "failed": len(errors)},
                     **{f"{batch['_fate']}_at": now})

    def advance(batch: dict) -> None:
        if batch["status"] in ("completed", "failed", "expired", "cancelled"):
            return
        if batch["status"] == "validating":
            batch.update(status="in_progress", in_progress_at=int(time.time()))
        if time.monotonic() >= batch["_ends_at"] or batch["_fate"] == "failed":
            run_to_end(batch)

    async def retrieve(request: Request) -> JSONResponse:
        with state.lock:
            batch = state.batches.get(request.path_params["batch_id"])
            if batch is None:
                return _error(404, "no such batch")
            advance(batch)
            return JSONResponse(_public(batch))

    async def cancel(request: Request) -> JSONResponse:
        with state.lock:
            batch = state.batches.get(request.path_params["batch_id"])
            if batch is None:
                return _error(404, "no such batch")
            if batch["status"] in ("validating", "in_progress"):
                batch.update(status="cancelled", cancelling_at=int(time.time()),
                             cancelled_at=int(time.time()))
            return JSONResponse(_public(batch))

    async def listing(request: Request) -> JSONResponse:
        limit = min(int(request.query_params.get("limit", 20)), 100)
        after = request.query_params.get("after")
        with state.lock:
            newest_first = list(reversed(state.batches.values()))
            ids = [b["id"] for b in newest_first]
            start = ids.index(after) + 1 if after in ids else 0
            page = [_public(b) for b in newest_first[start:start + limit]]
            return JSONResponse({"object": "list", "data": page,
                                 "first_id": page[0]["id"] if page else None,
                                 "last_id": page[-1]["id"] if page else None,
                                 "has_more": start + limit < len(ids)})

    return [
        Route("/v1/files", upload, methods=["POST"]),
        Route("/v1/files/{file_id}", file_info),
        Route("/v1/files/{file_id}/content", file_content),
        Route("/v1/batches", create, methods=["POST"]),
        Route("/v1/batches", listing, methods=["GET"]),
        Route("/v1/batches/{batch_id}", retrieve),
        Route("/v1/batches/{batch_id}/cancel", cancel, methods=["POST"]),
    ]


def _public(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if not k.startswith("_")}
