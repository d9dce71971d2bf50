"""Where the embedded defaults live on disk: plain Python, shared by the Dagster code,
the training entry point and the serving app."""

from __future__ import annotations

import os
from pathlib import Path


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or ".dagster_home").resolve()


def default_tracking_uri() -> str:
    """The embedded MLflow store, `sqlite:///$DAGSTER_HOME/correctly/mlflow.db` (MLflow
    creates the directory when it first opens the store)."""
    return f"sqlite:///{dagster_home() / 'correctly' / 'mlflow.db'}"


def tracking_uri() -> str:
    """The MLflow store in effect: MLFLOW_TRACKING_URI, else the embedded one."""
    return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()
