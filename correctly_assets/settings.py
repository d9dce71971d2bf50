"""What the environment says: every CORRECTLY_* variable the project reads, where the
embedded defaults live on disk, and the MLflow tracking URI without its credentials.
Plain Python, shared by the Dagster code, the training entry point, the serving app and
the command-line tools; docs/configuration.md says what each variable sets."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .domain.dates import iso_date

# scheme://user:password@host...: the user information of a URI's authority.
_USERINFO = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@:]*)(?::(?P<password>[^/@]*))?@")


# The project's own variables. Secrets among them (database URLs) reach resources only
# through dagster.EnvVar, so their values stay out of run config and metadata.
WORKBOOK = "CORRECTLY_WORKBOOK"
ARTIFACTS_DIR = "CORRECTLY_ARTIFACTS_DIR"
DATABASE_URL = "CORRECTLY_DATABASE_URL"
LLM_MODEL = "CORRECTLY_LLM_MODEL"
LLM_MODE = "CORRECTLY_LLM_MODE"  # sync (default) or batch: the OpenAI Batch API
EXECUTOR = "CORRECTLY_EXECUTOR"
# The production deployment names its base model here (docker/compose.yaml, the Helm
# values): the original Correctly's google/gemma-3-1b-it unless told otherwise.
BASE_MODEL = "CORRECTLY_BASE_MODEL"
JFLEG_DIR = "CORRECTLY_JFLEG_DIR"
FIRST_PARTITION_DATE = "CORRECTLY_FIRST_PARTITION_DATE"
BACKFILL_PARTITIONS_PER_RUN = "CORRECTLY_BACKFILL_PARTITIONS_PER_RUN"
LEGACY_DATABASE_URL = "CORRECTLY_LEGACY_DATABASE_URL"
SERVING_MODEL = "CORRECTLY_SERVING_MODEL"
SERVING_ALIAS = "CORRECTLY_SERVING_ALIAS"
SERVING_MAX_NEW_TOKENS = "CORRECTLY_SERVING_MAX_NEW_TOKENS"
SERVING_BACKEND = "CORRECTLY_SERVING_BACKEND"
ENGINE_URL = "CORRECTLY_ENGINE_URL"
ENGINE_MODEL = "CORRECTLY_ENGINE_MODEL"
ENGINE_API_KEY = "CORRECTLY_ENGINE_API_KEY"  # a secret: read where used, never logged

DEFAULT_FIRST_PARTITION_DATE = "2026-01-01"


def env(name: str) -> str | None:
    """The variable's value, stripped; None when it is unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None


def first_partition_date() -> str:
    """The first day that has partitions (YYYY-MM-DD): say, for data made before 2026 (the
    original Correctly's is from 2025)."""
    value = env(FIRST_PARTITION_DATE) or DEFAULT_FIRST_PARTITION_DATE
    iso_date(value, FIRST_PARTITION_DATE)
    return value


def backfill_partitions_per_run() -> int | None:
    """The most partitions one backfill run may hold; None: the whole backfill in one run."""
    cap = env(BACKFILL_PARTITIONS_PER_RUN)
    if cap is None:
        return None
    if not cap.isdigit() or int(cap) < 1:
        raise ValueError(f"{BACKFILL_PARTITIONS_PER_RUN} must be a positive whole number, got {cap!r}")
    return int(cap)


def serving_max_new_tokens() -> int | None:
    """The serving app's cap on new tokens; None: the model's own budget."""
    raw = env(SERVING_MAX_NEW_TOKENS)
    try:
        return int(raw) if raw else None
    except ValueError:
        raise ValueError(f"{SERVING_MAX_NEW_TOKENS} must be a whole number, got {raw!r}") from None


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or ".dagster_home").resolve()


def artifacts_root(configured: str | None = None) -> Path:
    """Where artifacts live: the configured root, else CORRECTLY_ARTIFACTS_DIR (in production
    a volume every run container and step pod mounts), else `$DAGSTER_HOME/correctly/artifacts`."""
    configured = configured or env(ARTIFACTS_DIR)
    return Path(configured) if configured else dagster_home() / "correctly" / "artifacts"


def default_tracking_uri() -> str:
    """The embedded MLflow store, `sqlite:///$DAGSTER_HOME/correctly/mlflow.db` (MLflow
    creates the directory when it first opens the store)."""
    return f"sqlite:///{dagster_home() / 'correctly' / 'mlflow.db'}"


def redacted(uri: str) -> str:
    """The URI with any password replaced by ***, fit for logs and errors; never raises,
    whatever the rest of the URI holds (a malformed port, say)."""
    def hidden(match: re.Match) -> str:
        password = ":***" if match["password"] is not None else ""
        return f"{match['scheme']}{match['user']}{password}@"

    return _USERINFO.sub(hidden, uri, count=1)


def without_credentials(uri: str) -> str:
    """The URI with its user information taken out. When it had any, MLflow is given it
    through its own MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (unless they are
    set already), so the password is in no URI MLflow logs, tags or prints. Every URI the
    project hands MLflow passes here, so MLflow's HTTP calls are bounded here too."""
    bound_mlflow_calls()
    match = _USERINFO.match(uri)
    if not match:
        return uri
    os.environ.setdefault("MLFLOW_TRACKING_USERNAME", match["user"])
    if match["password"] is not None:
        os.environ.setdefault("MLFLOW_TRACKING_PASSWORD", match["password"])
    return match["scheme"] + uri[match.end():]


# MLflow's own HTTP defaults (120 s a request, 7 retries with growing backoff) let a call to
# an unreachable server go on for many minutes; these bound each call to about two.
MLFLOW_HTTP_DEADLINES = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "30", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3"}


def bound_mlflow_calls() -> None:
    """MLflow's HTTP calls bounded (MLFLOW_HTTP_DEADLINES), unless set in the environment."""
    for name, value in MLFLOW_HTTP_DEADLINES.items():
        os.environ.setdefault(name, value)


def tracking_uri() -> str:
    """The MLflow store in effect: MLFLOW_TRACKING_URI, else the embedded one. Credentials in
    it are moved to MLflow's own variables, the variable itself rewritten without them, so
    that nothing else in the process (dagster-mlflow included) sees them in a URI; a server's
    HTTP calls are bounded (without_credentials)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        return default_tracking_uri()
    clean = without_credentials(uri)
    os.environ["MLFLOW_TRACKING_URI"] = clean
    return clean
