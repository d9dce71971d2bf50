"""Experiment tracking with dagster-mlflow: an MLflow server in production, SQLite locally.

dagster-mlflow's `mlflow_tracking` opens one MLflow run per Dagster run, shared by all its
steps (also when each step runs in a pod of its own), and `end_mlflow_on_run_finished`
closes it. Training logs to a run of its own, nested under that one, because it must
outlive a crash: the retry is a new Dagster run, and it resumes the checkpoint and keeps
logging to the same training run.
"""

from __future__ import annotations

import os

import dagster as dg
from dagster_mlflow import end_mlflow_on_run_finished
from dagster_mlflow.resources import CONFIG_SCHEMA, MlFlow

from ..settings import default_tracking_uri, tracking_uri, without_credentials
from ..training.tracking import ensure_experiment

EXPERIMENT = "correctly"
# Added to every model asset: closes the Dagster run's MLflow run, FAILED if a step failed.
MLFLOW_HOOKS = {end_mlflow_on_run_finished}


@dg.resource(config_schema=CONFIG_SCHEMA, description=MlFlow.__doc__)
def mlflow_tracking(context) -> MlFlow:
    """dagster-mlflow's resource, once the experiment exists with its artifacts in the
    right place (see `ensure_experiment`); dagster-mlflow would create it with MLflow's
    defaults."""
    from mlflow import MlflowClient

    uri = context.resource_config["mlflow_tracking_uri"]
    ensure_experiment(MlflowClient(uri), context.resource_config["experiment_name"], uri)
    tracking = MlFlow(context)
    # dagster-mlflow names the run after the job; runs launched from the asset graph all
    # belong to the same hidden job, so the Dagster run id tells them apart.
    job, run_id = context.run.job_name, context.run.run_id
    tracking.set_tag("mlflow.runName", f"{'assets' if job.startswith('__') else job}-{run_id[:8]}")
    return tracking


def dagster_run_mlflow_id(tracking: MlFlow) -> str:
    """The id of the MLflow run dagster-mlflow opened for the current Dagster run."""
    return tracking.active_run().info.run_id


def mlflow_resource(uri: str | None = None) -> dg.ResourceDefinition:
    """The `mlflow` resource: `uri`, else the server named by MLFLOW_TRACKING_URI (read when
    a run starts, and kept out of the run's config), else the embedded SQLite store."""
    if uri is None:
        tracking_uri()  # moves credentials in MLFLOW_TRACKING_URI to MLflow's own variables
        uri = {"env": "MLFLOW_TRACKING_URI"} if os.environ.get("MLFLOW_TRACKING_URI") else default_tracking_uri()
    else:
        uri = without_credentials(uri)
    return mlflow_tracking.configured({"experiment_name": EXPERIMENT, "mlflow_tracking_uri": uri})
