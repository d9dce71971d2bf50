"""Answering prompts through the Batch API, one round at a time, losing nothing.

A round takes a run's prompts (by partition) and the ledger (the durable record of every
batch, `store.batch_ledger`), and under the partitions' lock:

1. brings every open batch up to date: a submission cut short is looked up at the server by
   our id, a live batch's status is asked for;
2. reads every ended batch's output and error files (downloaded once, kept on disk): a
   completed line is an answer, whatever the batch's end (an expired or cancelled batch's
   completed lines are billed, so kept); an error line, or a request a failed or expired
   batch never answered, is asked again up to `max_attempts` times in all, then kept as a
   failed row with the last reason;
3. submits what is neither answered nor held by a live batch, split by the file limits, each
   batch recorded before its upload so that no request is ever sent twice.

A partition with no request waiting is ready: its rows are every prompt's answer (judged and
redacted as the synchronous path does) or failure. The others wait for the next round, which
the batch sensor starts once their batches have ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from ..domain.models import GeneratedText, PromptExample
from .batch_client import BatchClient, BatchState
from .batch_files import (
    ENDED, LIVE, MAX_FILE_BYTES, MAX_REQUESTS_PER_FILE, Result, custom_id, read_results,
    request_body, request_line, split_into_files,
)
from .generation import _judged, redact

Partition = tuple[str, str]  # (date, theme)
SUBMITTING = "submitting"  # recorded, upload or creation not yet confirmed
NOT_SUBMITTED = "not_submitted"  # a submission cut short that the server never created
DEFAULT_MAX_ATTEMPTS = 3


@dataclass
class LedgerBatch:
    """A batch as the ledger holds it, with its requests in the partitions asked about."""

    id: str
    batch_id: str | None
    status: str
    output_file_id: str | None
    error_file_id: str | None
    error: str | None
    created_at: datetime
    requests: dict[str, Partition]  # custom id -> partition

    @property
    def live(self) -> bool:
        return self.status in LIVE or self.status == SUBMITTING


class Ledger(Protocol):
    def partition_lock(self, asset: str, partitions: Iterable[Partition]) -> contextlib.AbstractContextManager: ...
    def open_batches(self, asset: str, partitions: Iterable[Partition]) -> list[LedgerBatch]: ...
    def begin(self, ledger_id: str, asset: str, generator: str, downstream: list[str],
              requests: list[tuple[str, Partition]]) -> None: ...
    def update(self, ledger_id: str, state: BatchState | None, status: str | None = None,
               error: str | None = None) -> None: ...


@dataclass
class Round:
    texts: dict[str, GeneratedText] = field(default_factory=dict)  # ready partitions' rows
    waiting: dict[Partition, list[dict]] = field(default_factory=dict)  # their batches
    submitted: int = 0  # requests sent in this round (resubmitted included)
    resubmitted: int = 0
    given_up: int = 0  # requests kept as failed after max_attempts
    batches_created: int = 0
    problems: list[str] = field(default_factory=list)  # result lines that named no request
    unread: list[str] = field(default_factory=list)  # ended batches whose files were not read

    def ready(self, partition: Partition) -> bool:
        return partition not in self.waiting


@dataclass
class BatchSettings:
    model: str
    temperature: float
    system_prompt: str
    max_tokens: int | None
    generator: str  # what answers (the journal's and ledger's key)
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_requests_per_file: int = MAX_REQUESTS_PER_FILE
    max_file_bytes: int = MAX_FILE_BYTES


async def _refresh(client: BatchClient, ledger: Ledger, batch: LedgerBatch,
                   secrets: tuple[str, ...]) -> None:
    """The batch's status as the server has it now, recorded."""
    try:
        if batch.batch_id is None:  # recorded, but did its submission reach the server?
            state = await client.find(batch.id)
            if state is None:
                batch.status, batch.error = NOT_SUBMITTED, "the submission did not complete"
                ledger.update(batch.id, None, status=batch.status, error=batch.error)
                return
        else:
            state = await client.retrieve(batch.batch_id)
    except Exception as err:  # noqa: BLE001 - the server out of reach: asked again next round
        batch.error = redact(f"status unknown: {type(err).__name__}: {err}", secrets)[:500]
        return
    ledger.update(batch.id, state)
    batch.batch_id, batch.status = state.batch_id, state.status
    batch.output_file_id, batch.error_file_id = state.output_file_id, state.error_file_id
    batch.error = state.error


async def _results(client: BatchClient, batch: LedgerBatch, settings: BatchSettings,
                   cache: Path, problems: list[str], secrets: tuple[str, ...]) -> dict[str, Result]:
    """An ended batch's results by custom id: its output file's lines, then its error file's."""
    found: dict[str, Result] = {}
    for file_id in (batch.output_file_id, batch.error_file_id):
        if not file_id:
            continue
        path = await client.download(file_id, cache / f"{file_id}.jsonl")
        with path.open(encoding="utf-8", errors="replace") as lines:
            for item in read_results(lines, settings.model, f"file {file_id} of batch {batch.batch_id}"):
                if isinstance(item, str):
                    problems.append(redact(item, secrets))
                elif item.custom_id in batch.requests and item.custom_id not in found:
                    found[item.custom_id] = item
    return found


async def refresh_open(client: BatchClient, ledger: Ledger, batches: list[LedgerBatch],
                       stale_after_s: float, secrets: Iterable[str] = ()) -> None:
    """The batch sensor's check of open batches: a live one's status is asked for; one
    still `submitting` after `stale_after_s` (its run died mid-submission) is looked up at
    the server by our id, and found or recorded as never submitted."""
    secrets = tuple(secrets)
    now = datetime.now(timezone.utc)
    due = [b for b in batches if b.batch_id is not None
           or (now - b.created_at).total_seconds() > stale_after_s]
    await asyncio.gather(*(_refresh(client, ledger, b, secrets) for b in due))


def _failed_row(prompt: PromptExample, reason: str, secrets: tuple[str, ...]) -> GeneratedText:
    return GeneratedText(prompt_id=prompt.prompt_id, date=prompt.date, theme=prompt.theme,
                         raw_answer="", model="",
                         rejection_reason=redact(f"request failed: batch: {reason}", secrets)[:2000])


async def batch_round(
    client: BatchClient, ledger: Ledger, asset: str,
    prompts_by_partition: dict[Partition, list[PromptExample]], settings: BatchSettings,
    cache: Path, downstream: list[str], secrets: Iterable[str] = (),
    on_answer: Callable[[PromptExample, GeneratedText], None] | None = None,
    answer_row: Callable | None = None, failed_row: Callable | None = None,
) -> Round:
    """`answer_row(prompt, completion, secrets)` and `failed_row(prompt, reason, secrets)`
    make each prompt's row: by default a GeneratedText, judged and redacted as the
    synchronous path does (the judge passes its own, for verdicts). A prompt is anything
    with prompt_id, date, theme and prompt (and optionally its own sampling settings)."""
    secrets = tuple(secrets)
    answer_row, failed_row = answer_row or _judged, failed_row or _failed_row
    partitions = sorted(prompts_by_partition)
    result = Round()
    with ledger.partition_lock(asset, partitions):
        batches = sorted(ledger.open_batches(asset, partitions), key=lambda b: b.created_at)
        # Live ones, "submitting" included: a submission cut short is looked up by our id.
        await asyncio.gather(*(_refresh(client, ledger, b, secrets) for b in batches if b.live))
        answers: dict[str, Result] = {}
        reasons: dict[str, str] = {}
        attempts: dict[str, int] = defaultdict(int)
        held: dict[str, LedgerBatch] = {}
        for batch in batches:
            if batch.live:
                for custom in batch.requests:
                    held[custom] = batch
                continue
            try:
                results = (await _results(client, batch, settings, cache, result.problems, secrets)
                           if batch.status in ENDED else {})
            except Exception as err:  # noqa: BLE001 - a download that fails: next round
                reason = redact(f"{type(err).__name__}: {err}", secrets)[:500]
                result.unread.append(f"batch {batch.batch_id}: results not read ({reason})")
                for custom in batch.requests:
                    held[custom] = batch  # its answers may be there: not submitted again
                continue
            for custom in batch.requests:
                attempts[custom] += 1
                outcome = results.get(custom)
                if outcome is not None and outcome.completion is not None:
                    answers.setdefault(custom, outcome)
                else:
                    reasons[custom] = (outcome.error if outcome is not None else
                                       f"not answered: batch {batch.batch_id or batch.id} "
                                       f"{batch.status}" + (f" ({batch.error})" if batch.error else ""))

        to_submit: list[tuple[str, bytes, PromptExample]] = []
        waiting: dict[Partition, set[str]] = defaultdict(set)
        rows: dict[Partition, list] = defaultdict(list)  # (prompt, row, given up)
        for partition in partitions:
            for prompt in prompts_by_partition[partition]:
                body = request_body(prompt, settings.model, settings.temperature,
                                    settings.system_prompt, settings.max_tokens)
                custom = custom_id(prompt.prompt_id, body)
                if custom in answers:
                    rows[partition].append(
                        (prompt, answer_row(prompt, answers[custom].completion, secrets), False))
                elif custom in held:
                    waiting[partition].add(held[custom].id)
                elif attempts[custom] >= settings.max_attempts:
                    reason = f"{reasons[custom]} (asked {attempts[custom]} times)"
                    rows[partition].append((prompt, failed_row(prompt, reason, secrets), True))
                else:
                    result.resubmitted += attempts[custom] > 0
                    to_submit.append((custom, request_line(custom, body), prompt))

        created: dict[str, str] = {}  # ledger id -> the status the server gave
        partition_of = {custom: (p.date, p.theme) for custom, _, p in to_submit}
        files = split_into_files([(custom, line) for custom, line, _ in to_submit],
                                 settings.max_requests_per_file, settings.max_file_bytes)
        for lines in files:
            ledger_id = f"cb-{uuid.uuid4().hex}"
            ledger.begin(ledger_id, asset, settings.generator, downstream,
                         [(custom, partition_of[custom]) for custom, _ in lines])
            try:
                state = await client.submit(ledger_id, [line for _, line in lines],
                                            {"asset": asset})
            except Exception as err:  # noqa: BLE001 - left "submitting": found or not, next round
                reason = redact(f"{type(err).__name__}: {err}", secrets)[:500]
                result.problems.append(f"submission {ledger_id} ({len(lines)} requests): {reason}")
            else:
                ledger.update(ledger_id, state)
                created[ledger_id] = state.status
                result.batches_created += 1
            result.submitted += len(lines)
            for custom, _ in lines:
                waiting[partition_of[custom]].add(ledger_id)

        by_id = {b.id: b for b in batches}
        for partition, ids in waiting.items():
            result.waiting[partition] = [
                {"batch": by_id[i].batch_id if i in by_id else i,
                 "status": by_id[i].status if i in by_id else created.get(i, SUBMITTING)}
                for i in sorted(ids)]
        # Rows only for the partitions that are ready: a waiting one's are made next round.
        for partition, made in rows.items():
            if partition in result.waiting:
                continue
            for prompt, row, given_up in made:
                result.texts[prompt.prompt_id] = row
                result.given_up += given_up
                if on_answer is not None:
                    on_answer(prompt, row)
    return result
