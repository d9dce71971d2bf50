"""The Batch API's calls (`/v1/files`, `/v1/batches`) through the real openai client.

Every exchange has an overall deadline (`deadline_http`): control calls the client's
`timeout_s`, file transfers their own, longer one, and a downloaded file is streamed to disk
within a size bound. Errors are raised as they come; the caller scrubs them of secrets
before they are stored or logged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import openai

from .batch_files import COMPLETION_WINDOW, ENDPOINT
from .deadline_http import async_deadline_http_client

# An output file of 50,000 answers of ~2,100 characters, JSON-escaped, is about 650 MB at
# worst; anything past this is not a result file.
MAX_RESULT_FILE_BYTES = 1024 * 1024 * 1024
# Our id for a batch, in the batch's metadata: a submission cut short is found by it.
LEDGER_KEY = "correctly_batch"
# At most this many pages of batches are listed looking for one (100 a page).
MAX_LIST_PAGES = 20


@dataclass(frozen=True)
class BatchState:
    batch_id: str
    status: str
    input_file_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    error: str | None = None  # why a batch failed as a whole (its `errors`)


def _state(batch) -> BatchState:
    errors = getattr(getattr(batch, "errors", None), "data", None) or []
    error = "; ".join(f"{e.code}: {e.message}" + (f" (line {e.line})" if e.line else "")
                      for e in errors)[:1000] or None
    return BatchState(batch.id, batch.status, batch.input_file_id, batch.output_file_id,
                      batch.error_file_id, error)


class BatchClient:
    def __init__(self, api_key: str | None, base_url: str | None = None,
                 organization: str | None = None, project: str | None = None,
                 timeout_s: float = 60.0, transfer_timeout_s: float = 900.0):
        def client(deadline_s: float, max_bytes: int, retries: int) -> openai.AsyncOpenAI:
            return openai.AsyncOpenAI(
                api_key=api_key, base_url=base_url, organization=organization, project=project,
                max_retries=retries, timeout=deadline_s,
                http_client=async_deadline_http_client(deadline_s, max_bytes))
        # No retry of a control call: a batch created whose answer was lost would be created
        # twice. The ledger's next round finds it by its id instead (`find`).
        self.control = client(timeout_s, 4 * 1024 * 1024, retries=0)
        # A transfer may be retried: an upload repeated leaves an unused file, no batch.
        self.transfer = client(transfer_timeout_s, MAX_RESULT_FILE_BYTES, retries=2)

    async def close(self) -> None:
        await self.control.close()
        await self.transfer.close()

    async def submit(self, ledger_id: str, lines: list[bytes], metadata: dict[str, str]) -> BatchState:
        """Uploads one batch file and creates its batch (window 24h)."""
        uploaded = await self.transfer.files.create(
            file=(f"{ledger_id}.jsonl", b"".join(lines), "application/jsonl"), purpose="batch")
        batch = await self.control.batches.create(
            input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window=COMPLETION_WINDOW,
            metadata={**metadata, LEDGER_KEY: ledger_id})
        return _state(batch)

    async def retrieve(self, batch_id: str) -> BatchState:
        return _state(await self.control.batches.retrieve(batch_id))

    async def find(self, ledger_id: str) -> BatchState | None:
        """The batch created for `ledger_id`, if any (newest first, a bounded listing)."""
        page = await self.control.batches.list(limit=100)
        for _ in range(MAX_LIST_PAGES):
            for batch in page.data:
                if (batch.metadata or {}).get(LEDGER_KEY) == ledger_id:
                    return _state(batch)
            if not page.has_next_page():
                return None
            page = await page.get_next_page()
        return None

    async def download(self, file_id: str, destination: Path) -> Path:
        """The file's content at `destination`, written whole or not at all."""
        if destination.exists():
            return destination
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(f".{destination.name}.{os.getpid()}.partial")
        try:
            async with self.transfer.files.with_streaming_response.content(file_id) as response:
                with partial.open("wb") as out:
                    async for chunk in response.iter_bytes():
                        out.write(chunk)
            partial.replace(destination)
        finally:
            partial.unlink(missing_ok=True)
        return destination
