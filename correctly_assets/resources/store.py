"""The correction store resource: PostgreSQL + pgvector, embedded unless a URL is given."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Optional

import dagster as dg
from sqlalchemy.engine import make_url

from ..settings import dagster_home
from ..store import CorrectionStore, embedded_database_url

# One engine (and connection pool) per process and database; a forked process makes its own.
_STORES: dict[tuple[int, str], CorrectionStore] = {}
_STORES_LOCK = threading.Lock()


class CorrectionStoreResource(dg.ConfigurableResource):
    """Where prompts, generated texts and splits are stored.

    `database_url` (set from CORRECTLY_DATABASE_URL in production) names a PostgreSQL
    server with the pgvector extension available. Without it, an embedded server keeps its
    data in `embedded_data_dir` (default `$DAGSTER_HOME/correctly/postgres`).
    """

    database_url: Optional[str] = None
    embedded_data_dir: Optional[str] = None

    def _data_dir(self) -> Path:
        if self.embedded_data_dir:
            return Path(self.embedded_data_dir)
        return dagster_home() / "correctly" / "postgres"

    def _url(self) -> str:
        return self.database_url or embedded_database_url(self._data_dir())

    def get_store(self) -> CorrectionStore:
        url = self._url()
        key = (os.getpid(), url)
        with _STORES_LOCK:
            if key not in _STORES:
                store = CorrectionStore.connect(url)
                store.create_schema()
                _STORES[key] = store
            return _STORES[key]

    def describe(self) -> str:
        """The store's URL with any password masked, for logs and metadata."""
        masked = make_url(self._url()).render_as_string(hide_password=True)
        if self.database_url:
            return masked
        return f"{masked} (embedded, data in {self._data_dir().resolve()})"
