"""Reading an original Correctly database: schemas `text_repository` and `correction_script`.

Only reads. The tables and columns the import needs are checked first, and every one that
is missing is named (`correction_script.generated_text.example_id`), before any row is read.
"""

from __future__ import annotations

from sqlalchemy import MetaData, Table, create_engine, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from .correction_store import connection_deadlines, psycopg2_url

LEGACY_STATEMENT_TIMEOUT_S = 120

# schema.table -> the columns read from it (the original's DDL has these and more).
LEGACY_TABLES: dict[str, tuple[str, ...]] = {
    "text_repository.form": ("id", "form", "description", "speaker_num"),
    "text_repository.emotion": ("id", "emotion"),
    "text_repository.mapping_emotion_form": ("id", "emotion_id", "form_id", "tone"),
    "text_repository.system_prompt": ("id", "prompt"),
    "text_repository.generation_prompt": ("id", "prompt"),
    "text_repository.creativity": ("id", "degree", "description"),
    "text_repository.length": ("id", "length"),
    "correction_script.correction_script_type": ("id", "type"),
    "correction_script.speaker": ("id", "speaker"),
    "correction_script.style": ("id", "style"),
    "correction_script.theme": ("id", "theme"),
    "correction_script.key_expression": ("id", "key_expression"),
    "correction_script.instruction_prompt": ("id", "type_id", "prompt"),
    "correction_script.example": (
        "id", "creativity_id", "length_id", "system_prompt_id", "generation_prompt_id", "form_id",
        "mapping_emotion_form_id", "style_id", "theme_id", "key_expression_id", "speaker_id",
        "etc", "example", "created_at"),
    "correction_script.generated_text": (
        "id", "creativity_id", "length_id", "example_id", "etc", "generated_text", "created_at"),
    "correction_script.train": (
        "id", "instruction_prompt_id", "input", "output", "rejected", "generated_text_id",
        "created_at"),
}


class LegacyShapeError(ValueError):
    """The database is not an original Correctly database: every missing piece named."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("not an original Correctly database: " + "; ".join(problems))


def shape_problems(inspector) -> list[str]:
    problems = []
    for name, columns in LEGACY_TABLES.items():
        schema, table = name.split(".")
        if not inspector.has_table(table, schema=schema):
            problems.append(f"no table {name}")
            continue
        present = {c["name"] for c in inspector.get_columns(table, schema=schema)}
        problems += [f"no column {name}.{c}" for c in columns if c not in present]
    return problems


def read_legacy_database(url: str) -> dict[str, list[dict]]:
    """Every table's rows (the columns in LEGACY_TABLES), ordered by id, keyed schema.table.
    Raises LegacyShapeError for a database of another shape; a connection error says what
    failed without the URL (it may hold a password)."""
    # Read-only reads of a database of a few thousand rows: no statement needs minutes.
    engine = create_engine(psycopg2_url(url, "the original database is PostgreSQL"),
                           connect_args=connection_deadlines(LEGACY_STATEMENT_TIMEOUT_S))
    try:
        with engine.connect() as conn:
            problems = shape_problems(inspect(conn))
            if problems:
                raise LegacyShapeError(problems)
            rows = {}
            for name, columns in LEGACY_TABLES.items():
                schema, table = name.split(".")
                reflected = Table(table, MetaData(), schema=schema, autoload_with=conn)
                query = select(*(reflected.c[c] for c in columns)).order_by(reflected.c.id)
                rows[name] = [dict(row._mapping) for row in conn.execute(query)]
            return rows
    except SQLAlchemyError as err:
        # The driver's message names the host, user or table; the password is taken out in
        # case a server ever echoes it.
        cause = getattr(err, "orig", None) or err
        message = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
        password = make_url(psycopg2_url(url)).password
        if password:
            message = message.replace(password, "[REDACTED]")
        raise ConnectionError(f"reading the original database failed: "
                              f"{type(cause).__name__}: {message}") from None
    finally:
        engine.dispose()
