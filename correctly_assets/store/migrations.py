"""What changed in the store's schema since a database was first made, applied in place when
the store opens (CorrectionStore.create_schema), rows kept. Each step is idempotent: a
database already up to date finds nothing to do.
"""

from __future__ import annotations

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text

# Databases made before the tables took their assets' names are renamed when the store
# opens (CorrectionStore.create_schema), rows kept: the old name of each table, index and
# constraint, in the order the renames must run (`example` is free only once it is renamed).
LEGACY_RENAMES = (
    ("TABLE", "example", "prompt_example"),
    ("INDEX", "example_pkey", "prompt_example_pkey"),
    ("INDEX", "ix_example_date_theme", "ix_prompt_example_date_theme"),
    ("CONSTRAINT prompt_example", "uq_example_partition_index", "uq_prompt_example_partition_index"),
    ("TABLE", "sentence", "example"),
    ("INDEX", "sentence_pkey", "example_pkey"),
    ("TABLE", "train", "train_split"),
    ("INDEX", "train_pkey", "train_split_pkey"),
    ("INDEX", "ix_train_date_theme", "ix_train_split_date_theme"),
)

# Columns added after a table was first made: added in place when the store opens.
ADDED_COLUMNS = (
    ("prompt_example", "temperature", "double precision"),
    ("prompt_example", "max_tokens", "integer"),
    ("prompt_example", "system_prompt", "text"),
    ("prompt_example", "example", "text"),
    ("prompt_example", "example_rejection", "text"),
    ("prompt_example", "combination", "jsonb"),
)

# Indexes no longer made. ix_generated_text_embedding_hnsw served a nearest-neighbour
# query; the split scans its partition's candidates exactly instead (split_near_duplicates),
# and an HNSW index costs every insert of a generated text.
DROPPED_INDEXES = ("ix_generated_text_embedding_hnsw",)


def rename_legacy_tables(conn) -> list[str]:
    """Renames a database made before the tables took their assets' names (LEGACY_RENAMES), in the caller's transaction: "old -> new" for each table renamed."""
    tables = set(sa_inspect(conn).get_table_names())
    if "sentence" not in tables or "prompt_example" in tables:
        return []
    renamed = []
    for kind, old, new in LEGACY_RENAMES:
        if kind == "TABLE":
            conn.execute(text(f'ALTER TABLE "{old}" RENAME TO "{new}"'))
            renamed.append(f"{old} -> {new}")
        elif kind == "INDEX":
            conn.execute(text(f'ALTER INDEX IF EXISTS "{old}" RENAME TO "{new}"'))
        else:  # "CONSTRAINT <table>"
            table = kind.split()[1]
            exists = conn.execute(text("SELECT 1 FROM pg_constraint WHERE conname = :name"),
                                  {"name": old}).first()
            if exists:
                conn.execute(text(f'ALTER TABLE "{table}" RENAME CONSTRAINT "{old}" TO "{new}"'))
    return renamed


def bring_up_to_date(conn) -> None:
    """After create_all, in the caller's transaction: columns added, indexes dropped."""
    for table, column, sql_type in ADDED_COLUMNS:
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {sql_type}"))
    for index in DROPPED_INDEXES:
        conn.execute(text(f'DROP INDEX IF EXISTS "{index}"'))
