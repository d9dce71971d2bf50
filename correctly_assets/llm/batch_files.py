"""The OpenAI Batch API's files: request lines in, result lines out. Plain functions.

A request line holds the body the synchronous path would send (`generation._request`: the
prompt's own model settings and system prompt), under a `custom_id` made of the prompt's id
and the body's digest, so the same request always has the same id and a changed prompt a
new one. A result line (output file or error file) becomes a `Completion`, or the reason
there is none; a line that is not JSON, or names no request, is reported, never dropped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import openai
from pydantic import ValidationError

from ..domain.models import PromptExample
from .generation import Completion, MalformedResponse, _completion, _request

ENDPOINT = "/v1/chat/completions"
COMPLETION_WINDOW = "24h"
# The Batch API's limits on one input file (OpenAI, 2026): requests and bytes.
MAX_REQUESTS_PER_FILE = 50_000
MAX_FILE_BYTES = 200 * 1024 * 1024

# A batch's statuses: still running, or ended (its output and error files are final).
LIVE = frozenset({"validating", "in_progress", "finalizing", "cancelling"})
ENDED = frozenset({"completed", "failed", "expired", "cancelled"})


def request_body(prompt: PromptExample, model: str, temperature: float, system_prompt: str,
                 max_tokens: int | None) -> dict:
    """The chat completion request the synchronous path would send for `prompt`."""
    return _request(prompt, model, temperature, system_prompt, max_tokens, None)


def custom_id(prompt_id: str, body: dict) -> str:
    """`<prompt id>#<digest of the body>`: stable for the same request, new for another."""
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode())
    return f"{prompt_id}#{digest.hexdigest()[:16]}"


def prompt_id_of(custom: str) -> str:
    return custom.rsplit("#", 1)[0]


def request_line(custom: str, body: dict) -> bytes:
    line = {"custom_id": custom, "method": "POST", "url": ENDPOINT, "body": body}
    return json.dumps(line, ensure_ascii=False).encode() + b"\n"


class RequestTooLarge(ValueError):
    """One request line larger than a whole batch file may be."""


def split_into_files(lines: list[tuple[str, bytes]], max_requests: int = MAX_REQUESTS_PER_FILE,
                     max_bytes: int = MAX_FILE_BYTES) -> list[list[tuple[str, bytes]]]:
    """(custom id, line) pairs grouped into files, in order, each within both limits."""
    files, current, size = [], [], 0
    for custom, line in lines:
        if len(line) > max_bytes:
            raise RequestTooLarge(f"request {custom} is {len(line):,} bytes, over the batch "
                                  f"file limit of {max_bytes:,}")
        if current and (len(current) >= max_requests or size + len(line) > max_bytes):
            files.append(current)
            current, size = [], 0
        current.append((custom, line))
        size += len(line)
    if current:
        files.append(current)
    return files


@dataclass(frozen=True)
class Result:
    """One request's outcome in a batch: a completion, or why there is none."""

    custom_id: str
    completion: Completion | None = None
    error: str | None = None


def _reason(error: object, status: object = None) -> str:
    if isinstance(error, dict):
        error = error.get("error", error)
        code, message = error.get("code"), error.get("message")
        text = ": ".join(str(part) for part in (code, message) if part) or json.dumps(error)[:300]
    else:
        text = str(error)[:300]
    return f"HTTP {status}: {text}" if status is not None else text


def read_result_line(line: str, model: str) -> Result:
    """One line of an output or error file. Raises MalformedResponse for a line that names
    no request (the caller reports it with its file and line number)."""
    try:
        entry = json.loads(line)
    except ValueError as err:
        raise MalformedResponse(f"not JSON: {err}") from None
    custom = entry.get("custom_id") if isinstance(entry, dict) else None
    if not isinstance(custom, str) or not custom:
        raise MalformedResponse("no custom_id")
    response = entry.get("response")
    if entry.get("error"):
        return Result(custom, error=_reason(entry["error"]))
    if not isinstance(response, dict):
        return Result(custom, error="no response and no error")
    status, body = response.get("status_code"), response.get("body")
    if status != 200:
        return Result(custom, error=_reason(body, status))
    try:
        parsed = openai.types.chat.ChatCompletion.model_validate(body)
    except ValidationError as err:
        return Result(custom, error=f"malformed response: not a chat completion "
                                    f"({err.error_count()} problem(s), first: "
                                    f"{err.errors()[0]['msg']})")
    try:
        return Result(custom, completion=_completion(parsed, model))
    except MalformedResponse as err:
        return Result(custom, error=f"malformed response: {err}")


def read_results(lines: Iterable[str], model: str, file_name: str) -> Iterator[Result | str]:
    """Every line's Result, or, for a line that names no request, a problem naming the file
    and the line (reported, never dropped silently)."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield read_result_line(line, model)
        except MalformedResponse as err:
            yield f"{file_name} line {number}: {err}"
