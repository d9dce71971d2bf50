"""The registry the serving tests serve from: a tiny model trained here, registered by the
`registered_model` asset itself in a real MLflow store (the `trained` fixture)."""

from pathlib import Path

import dagster as dg

from correctly_assets.defs.model.registered_model import registered_model
from correctly_assets.defs.partitions import daily_partitions
from correctly_assets.resources.tracking import mlflow_resource
from correctly_assets.training import TrainingConfig, run_training

from correctly_assets_tests.test_training import _write_chats

DATE = "2026-04-02"
PROMOTED = "correctly"  # promoted: its validation GLEU beats the copy baseline
UNPROMOTED = "correctly-unpromoted"  # registered, but the gate kept it at `candidate`


def _register(tracking_uri: str, run_id: str, name: str, validation_gleu: float) -> None:
    """registered_model for the run, given evaluation figures that decide the gate."""

    @dg.asset(name="model_evaluation", partitions_def=daily_partitions)
    def evaluation_figures() -> dict:
        return {"mlflow_run_id": run_id, "validation_gleu": validation_gleu,
                "validation_gleu_copy": 40.0, "validation_parse_rate": 1.0}

    with dg.instance_for_test() as instance:
        dg.materialize([evaluation_figures, registered_model], partition_key=DATE, instance=instance,
                       resources={"mlflow": mlflow_resource(tracking_uri)},
                       run_config={"ops": {"registered_model": {"config": {"model_name": name}}}})


def train_and_register(workdir: Path):
    """A tiny model trained long enough, at a high rate, to answer in the reply format,
    registered twice: promoted as PROMOTED, kept at candidate as UNPROMOTED."""
    tracking_uri = f"sqlite:///{workdir / 'mlflow.db'}"
    result = run_training(TrainingConfig(
        train_file=str(_write_chats(workdir / "train.jsonl", 40)), output_dir=str(workdir / "out"),
        max_steps=120, learning_rate=5e-3, logging_steps=10, save_steps=1000,
        mlflow_tracking_uri=tracking_uri,
    ))
    for name, gleu in ((PROMOTED, 50.0), (UNPROMOTED, 30.0)):
        _register(tracking_uri, result.mlflow_run_id, name, gleu)
    return tracking_uri, result


