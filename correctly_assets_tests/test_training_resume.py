"""Training survives a lost process: kill the materialisation mid-way, materialise again,
and it resumes from the last checkpoint into the same MLflow run."""

import pytest
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
from mlflow import MlflowClient

from correctly_assets.training.tracking import last_complete_checkpoint

pytestmark = pytest.mark.integration

DAGSTER = str(Path(sys.executable).with_name("dagster"))
DATE = "2026-02-10"
TRAINING = {"ops": {"fine_tuned_model": {"config": {
    "max_steps": 60, "save_steps": 10, "logging_steps": 5, "per_device_batch_size": 2}}}}


def _materialize(env, *args, **popen):
    command = [DAGSTER, "asset", "materialize", "-m", "correctly_assets.definitions", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True, **popen)


def _finish(process) -> str:
    output, _ = process.communicate(timeout=400)
    assert process.returncode == 0, output[-4000:]
    return output


def test_killed_training_resumes_from_its_checkpoint(cli_env, database_url, tmp_path, tracking_uri):
    env, home = cli_env, Path(cli_env["DAGSTER_HOME"])
    _finish(_materialize(env, "--select", "raw_sheet,yaml_spec"))
    _finish(_materialize(env, "--select", "prompt_examples,generated_texts,train_split",
                         "--partition", f"{DATE}|travel"))

    training = ["--select", "fine_tuned_model", "--partition", DATE, "--config-json", json.dumps(TRAINING)]
    checkpoints = tmp_path / "artifacts" / "fine_tuned_model" / DATE / "checkpoints"
    first = _materialize(env, *training)
    deadline = time.monotonic() + 300
    while last_complete_checkpoint(checkpoints) is None:
        assert first.poll() is None, "training ended before a checkpoint was written"
        assert time.monotonic() < deadline
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)  # the lost session: no cleanup, no goodbye
    first.wait()
    killed_at = last_complete_checkpoint(checkpoints)
    run_id = (tmp_path / "artifacts" / "fine_tuned_model" / DATE / "mlflow_run_id").read_text().strip()

    _finish(_materialize(env, *training))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("fine_tuned_model"))
    metadata = event.asset_materialization.metadata
    assert metadata["resumed_from_checkpoint"].value == str(killed_at)
    assert metadata["mlflow_run_id"].value == run_id
    client = MlflowClient(tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("correctly").experiment_id],
                              order_by=["attributes.start_time ASC"])
    trainings = [r for r in runs if "dagster_run_id" not in r.data.tags]
    assert [r.info.run_id for r in trainings] == [run_id]  # one training run, continued
    # Each Dagster run has its own MLflow run (dagster-mlflow); the killed one is marked so,
    # and the training stays nested under the run that started it.
    killed, resumed = [r for r in runs if "dagster_run_id" in r.data.tags]
    assert trainings[0].data.tags["mlflow.parentRunId"] == killed.info.run_id
    assert (killed.info.status, resumed.info.status) == ("KILLED", "FINISHED")
    assert resumed.data.tags["training_run_id"] == run_id
    steps = [m.step for m in client.get_metric_history(run_id, "loss")]
    assert steps[0] < int(killed_at.name.split("-")[1]) < steps[-1] == 60
