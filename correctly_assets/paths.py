"""Where the embedded defaults live on disk: plain Python, shared by the Dagster code,
the training entry point and the serving app."""

from __future__ import annotations

import os
from pathlib import Path


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or ".dagster_home").resolve()


def artifacts_root(configured: str | None = None) -> Path:
    """Where artifacts live: the configured root (CORRECTLY_ARTIFACTS_DIR, in production a
    volume every run container and step pod mounts), else `$DAGSTER_HOME/correctly/artifacts`."""
    return Path(configured) if configured else dagster_home() / "correctly" / "artifacts"


def default_tracking_uri() -> str:
    """The embedded MLflow store, `sqlite:///$DAGSTER_HOME/correctly/mlflow.db` (MLflow
    creates the directory when it first opens the store)."""
    return f"sqlite:///{dagster_home() / 'correctly' / 'mlflow.db'}"


def tracking_uri() -> str:
    """The MLflow store in effect: MLFLOW_TRACKING_URI, else the embedded one."""
    return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()
