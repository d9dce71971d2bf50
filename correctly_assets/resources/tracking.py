"""Where experiments are tracked: an MLflow server in production, SQLite locally."""

from typing import Optional

import dagster as dg

from .files import dagster_home


class ExperimentTrackingResource(dg.ConfigurableResource):
    """MLflow tracking URI and experiment; set `tracking_uri` from
    `EnvVar("MLFLOW_TRACKING_URI")` in production, so a training pod reaches the same
    server as everything else. Default: `sqlite:///$DAGSTER_HOME/correctly/mlflow.db`."""

    tracking_uri: Optional[str] = None
    experiment: str = "correctly"

    def uri(self) -> str:
        if self.tracking_uri:
            return self.tracking_uri
        directory = dagster_home() / "correctly"
        directory.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{directory / 'mlflow.db'}"
