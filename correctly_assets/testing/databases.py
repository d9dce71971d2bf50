"""Databases of a test's own on the session's embedded PostgreSQL server, and reads of
the store that only tests make."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url


@contextmanager
def scratch_database(server_url: str, prefix: str = "test") -> Iterator[str]:
    """A new, empty database's URL on the server of `server_url`, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def reference_data(store):
    """The workbook the store's reference tables hold, in the workbook's order."""
    from ..domain.models import (
        ExampleSentence, InstructionPrompt, KeyExpression, ScriptType, Speaker, Style, Theme, Workbook,
    )
    from ..store import schema

    def rows(table) -> list[dict]:
        columns = [c for c in table.c if c.name != "position"]
        with store.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(*columns).order_by(table.c.position))]

    return Workbook(
        script_types=[ScriptType(**r) for r in rows(schema.script_type)],
        speakers=[Speaker(**r) for r in rows(schema.speaker)],
        styles=[Style(**r) for r in rows(schema.style)],
        themes=[Theme(**r) for r in rows(schema.theme)],
        key_expressions=[KeyExpression(**r) for r in rows(schema.key_expression)],
        instruction_prompts=[InstructionPrompt(**r) for r in rows(schema.instruction_prompt)],
        examples=[ExampleSentence(**r) for r in rows(schema.example)],
    )


def original_train_rows(store) -> list[dict]:
    """The `train_original` view's rows, oldest partition first."""
    from ..store import schema

    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(
            f"SELECT * FROM {schema.ORIGINAL_TRAIN_VIEW} ORDER BY date, theme, generated_text_id"))]
