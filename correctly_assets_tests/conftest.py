import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from correctly_assets.store import CorrectionStore, embedded_database_url


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory) -> str:
    """One embedded PostgreSQL server for the whole test session."""
    return embedded_database_url(tmp_path_factory.mktemp("postgres") / "data")


@pytest.fixture
def database_url(pg_url):
    """The URL of a database of its own on the session's server, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def store(database_url):
    """A CorrectionStore on a database of its own."""
    correction_store = CorrectionStore.connect(database_url)
    correction_store.create_schema()
    yield correction_store
    correction_store.dispose()
