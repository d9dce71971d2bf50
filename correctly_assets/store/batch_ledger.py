"""The ledger of Batch API batches in PostgreSQL (tables `llm_batch`, `llm_batch_request`).

Any run, in any container, reads the same ledger: a crash, a redeploy or a daemon restart
loses no batch. A partition's rounds hold a PostgreSQL advisory lock, so two runs never
submit the same partition's requests at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, and_, func, insert, select, text, tuple_, update

from ..domain.dates import iso_date as _iso
from ..llm.batch_client import BatchState
from ..llm.batch_files import ENDED, LIVE
from ..llm.batch_mode import SUBMITTING, LedgerBatch, Partition
from .schema import llm_batch, llm_batch_request

# Batch statuses a round still has work for: live, or unconfirmed.
OPEN = sorted(LIVE | {SUBMITTING})


def _lock_key(asset: str, partition: Partition) -> int:
    digest = hashlib.sha256(f"llm_batch|{asset}|{partition[0]}|{partition[1]}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def iso_date(value: str) -> dt.date:
    return _iso(value, "partition date")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class BatchLedger:
    def __init__(self, engine: Engine):
        self.engine = engine

    @contextmanager
    def partition_lock(self, asset: str, partitions: Iterable[Partition]) -> Iterator[None]:
        keys = sorted({_lock_key(asset, p) for p in partitions})  # one order: no deadlock
        with self.engine.connect() as conn:
            for key in keys:
                conn.execute(select(func.pg_advisory_lock(key)))
            conn.commit()
            try:
                yield
            finally:
                for key in reversed(keys):
                    conn.execute(select(func.pg_advisory_unlock(key)))
                conn.commit()

    def open_batches(self, asset: str, partitions: Iterable[Partition]) -> list[LedgerBatch]:
        """The asset's batches with requests not yet stored in these partitions."""
        wanted = [(iso_date(d), t) for d, t in partitions]
        if not wanted:
            return []
        query = (select(llm_batch, llm_batch_request.c.custom_id, llm_batch_request.c.date,
                        llm_batch_request.c.theme)
                 .join(llm_batch_request, llm_batch_request.c.batch == llm_batch.c.id)
                 .where(llm_batch.c.asset == asset, llm_batch_request.c.stored.is_(False),
                        tuple_(llm_batch_request.c.date, llm_batch_request.c.theme).in_(wanted)))
        batches: dict[str, LedgerBatch] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                batch = batches.get(row.id) or batches.setdefault(row.id, LedgerBatch(
                    row.id, row.batch_id, row.status, row.output_file_id, row.error_file_id,
                    row.error, row.created_at, {}))
                batch.requests[row.custom_id] = (row.date.isoformat(), row.theme)
        return list(batches.values())

    def begin(self, ledger_id: str, asset: str, generator: str, downstream: list[str],
              requests: list[tuple[str, Partition]]) -> None:
        """A batch about to be uploaded, with its requests, before any byte is sent."""
        with self.engine.begin() as conn:
            conn.execute(insert(llm_batch).values(
                id=ledger_id, asset=asset, generator=generator, status=SUBMITTING,
                downstream=downstream))
            conn.execute(insert(llm_batch_request), [
                {"batch": ledger_id, "custom_id": custom, "date": iso_date(date), "theme": theme}
                for custom, (date, theme) in requests])

    def update(self, ledger_id: str, state: BatchState | None, status: str | None = None,
               error: str | None = None) -> None:
        values: dict = {"updated_at": _now()}
        if state is not None:
            values |= {"batch_id": state.batch_id, "status": state.status,
                       "input_file_id": state.input_file_id, "output_file_id": state.output_file_id,
                       "error_file_id": state.error_file_id, "error": state.error}
        if status is not None:
            values["status"] = status
        if error is not None:
            values["error"] = error
        ended = values.get("status") in ENDED or status is not None
        with self.engine.begin() as conn:
            conn.execute(update(llm_batch).where(llm_batch.c.id == ledger_id).values(
                **values, **({"ended_at": func.coalesce(llm_batch.c.ended_at, func.now())}
                             if ended else {})))

    def mark_stored(self, asset: str, partition: Partition) -> int:
        """The partition's rows are written: its requests in the asset's batches are done."""
        date, theme = partition
        batches = select(llm_batch.c.id).where(llm_batch.c.asset == asset)
        with self.engine.begin() as conn:
            return conn.execute(update(llm_batch_request).where(
                llm_batch_request.c.batch.in_(batches), llm_batch_request.c.date == iso_date(date),
                llm_batch_request.c.theme == theme, llm_batch_request.c.stored.is_(False),
            ).values(stored=True)).rowcount

    def settled_files(self, asset: str, partition: Partition) -> list[str]:
        """The output and error files of the partition's batches whose every request is
        now stored: their downloaded copies are no longer needed."""
        date, theme = partition
        query = text("""
            SELECT b.output_file_id, b.error_file_id FROM llm_batch b
            WHERE b.asset = :asset AND EXISTS (
                SELECT 1 FROM llm_batch_request r
                WHERE r.batch = b.id AND r.date = :date AND r.theme = :theme)
              AND NOT EXISTS (
                SELECT 1 FROM llm_batch_request r WHERE r.batch = b.id AND NOT r.stored)""")
        with self.engine.connect() as conn:
            rows = conn.execute(query, {"asset": asset, "date": iso_date(date), "theme": theme})
            return [file_id for row in rows for file_id in row if file_id]

    # -- for the sensor ---------------------------------------------------------------

    def live_batches(self, limit: int) -> list[LedgerBatch]:
        """Open batches (without their requests), the longest unchecked first."""
        query = (select(llm_batch).where(llm_batch.c.status.in_(OPEN))
                 .order_by(llm_batch.c.updated_at).limit(limit))
        with self.engine.connect() as conn:
            return [LedgerBatch(row.id, row.batch_id, row.status, row.output_file_id,
                                row.error_file_id, row.error, row.created_at, {})
                    for row in conn.execute(query)]

    def ready_partitions(self) -> list[tuple[str, str, str, list[str], str]]:
        """(asset, date, theme, downstream, newest batch id) of every partition with requests
        not yet stored and none in an open batch: its next round can collect it."""
        query = text("""
            SELECT b.asset, r.date, r.theme,
                   (array_agg(b.downstream ORDER BY b.created_at DESC))[1] AS downstream,
                   (array_agg(b.id ORDER BY b.created_at DESC))[1] AS newest
            FROM llm_batch_request r JOIN llm_batch b ON b.id = r.batch
            WHERE NOT r.stored
            GROUP BY b.asset, r.date, r.theme
            HAVING bool_and(b.status <> ALL(:open))
            ORDER BY r.date, r.theme, b.asset""")
        with self.engine.connect() as conn:
            return [(row.asset, row.date.isoformat(), row.theme, list(row.downstream), row.newest)
                    for row in conn.execute(query, {"open": OPEN})]

    def partition_batches(self, asset: str, partition: Partition) -> list[dict]:
        """A partition's batches not yet stored, for the UI: id, status, requests, times."""
        date, theme = partition
        query = (select(llm_batch.c.batch_id, llm_batch.c.id, llm_batch.c.status,
                        llm_batch.c.created_at, llm_batch.c.ended_at,
                        func.count().label("requests"))
                 .join(llm_batch_request, llm_batch_request.c.batch == llm_batch.c.id)
                 .where(and_(llm_batch.c.asset == asset, llm_batch_request.c.date == iso_date(date),
                             llm_batch_request.c.theme == theme,
                             llm_batch_request.c.stored.is_(False)))
                 .group_by(llm_batch.c.id).order_by(llm_batch.c.created_at))
        with self.engine.connect() as conn:
            return [{"batch": row.batch_id or row.id, "status": row.status,
                     "requests": row.requests, "created": row.created_at.isoformat(timespec="seconds"),
                     "ended": row.ended_at.isoformat(timespec="seconds") if row.ended_at else ""}
                    for row in conn.execute(query)]
