"""Where the embedded defaults live on disk: plain Python, shared by the Dagster code,
the training entry point and the serving app."""

from __future__ import annotations

import os
from pathlib import Path


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or ".dagster_home").resolve()


def default_tracking_uri() -> str:
    """The embedded MLflow store, `sqlite:///$DAGSTER_HOME/correctly/mlflow.db`."""
    directory = dagster_home() / "correctly"
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{directory / 'mlflow.db'}"
