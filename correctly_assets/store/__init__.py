"""The correction store: PostgreSQL with pgvector, through SQLAlchemy Core."""

from .correction_store import CorrectionStore, embedded_database_url, psycopg2_url

__all__ = ["CorrectionStore", "embedded_database_url", "psycopg2_url"]
