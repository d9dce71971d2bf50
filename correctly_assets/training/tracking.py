"""The MLflow run a training logs to, continued across restarts, and the checkpoint it
resumes from: shared by SFT (sft.py), DPO (dpo.py) and the Dagster tracking resource.

`output_dir` records the run's id (mlflow_run_id) and what its checkpoints were trained
from (fingerprint). A rerun with the same base model, settings and data resumes from the
last complete checkpoint and keeps logging to the same run; otherwise the old state is
stale, and the training starts over in a new run that says why, as does the old one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from ..settings import without_credentials

logger = logging.getLogger(__name__)

RUN_ID_FILE = "mlflow_run_id"
FINGERPRINT_FILE = "fingerprint"
# Settings that change where the run writes or how often it reports, not what it learns.
_NOT_FINGERPRINTED = {"train_file", "validation_file", "output_dir", "mlflow_tracking_uri",
                      "mlflow_experiment", "mlflow_parent_run_id", "run_name", "logging_steps",
                      "save_steps", "eval_steps"}
CHECKPOINTS_DIR = "checkpoints"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def last_complete_checkpoint(checkpoints_dir: str | Path) -> Optional[Path]:
    """The newest checkpoint whose trainer state was written; a kill during a save leaves
    a checkpoint directory without it, and that one is skipped."""
    checkpoints_dir = Path(checkpoints_dir)
    if not checkpoints_dir.is_dir():
        return None
    complete = []
    for entry in checkpoints_dir.iterdir():
        match = _CHECKPOINT.match(entry.name)
        if match and entry.is_dir() and _readable_json(entry / "trainer_state.json"):
            complete.append((int(match[1]), entry))
    return max(complete)[1] if complete else None


def _readable_json(path: Path) -> bool:
    try:
        json.loads(path.read_text(encoding="utf-8"))
        return True
    except (OSError, ValueError):
        return False


def _tracking_uri(config, output_dir: Path) -> str:
    # Credentials in the URI go to MLflow's own variables (paths.without_credentials).
    return without_credentials(config.mlflow_tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
                               or f"sqlite:///{output_dir.resolve() / 'mlflow.db'}")


def ensure_experiment(client, name: str, tracking_uri: str) -> str:
    """The experiment's id, creating it if needed. On a SQLite store its artifacts go beside
    the database: MLflow would otherwise put them under ./mlruns of whatever the cwd is."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    artifact_location = None
    if tracking_uri.startswith("sqlite:///"):
        db_path = Path(tracking_uri.removeprefix("sqlite:///"))
        artifact_location = (db_path.parent / "mlartifacts").resolve().as_uri()
    return client.create_experiment(name, artifact_location)


def training_fingerprint(config) -> str:
    """A digest of what training learns from: the settings and the data's bytes."""
    settings = {k: v for k, v in asdict(config).items() if k not in _NOT_FINGERPRINTED}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in (config.train_file, config.validation_file):
        digest.update(b"\x00")
        if path:
            digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def _discard_stale_state(output_dir: Path, fingerprint: str) -> Optional[tuple[str, str]]:
    """(why, the stale MLflow run's id or "") when the checkpoints and run in output_dir
    cannot be resumed, having removed them; None when there is nothing to resume or it
    matches."""
    checkpoints, run_id_file = output_dir / CHECKPOINTS_DIR, output_dir / RUN_ID_FILE
    if not checkpoints.exists() and not run_id_file.exists():
        return None
    path = output_dir / FINGERPRINT_FILE
    recorded = path.read_text(encoding="utf-8").strip() if path.is_file() else None
    if recorded == fingerprint:
        return None
    why = ("the base model, training settings or data differ from the ones the checkpoints "
           "were trained from" if recorded else "the checkpoints carry no fingerprint")
    shutil.rmtree(checkpoints, ignore_errors=True)
    old_run = run_id_file.read_text(encoding="utf-8").strip() if run_id_file.is_file() else ""
    run_id_file.unlink(missing_ok=True)
    return f"{why} (stale MLflow run {old_run or 'none'})", old_run


def _record_fingerprint(output_dir: Path, fingerprint: str) -> None:
    staging = output_dir / f"{FINGERPRINT_FILE}.tmp"
    staging.write_text(fingerprint, encoding="utf-8")
    os.replace(staging, output_dir / FINGERPRINT_FILE)


def _open_run(client, config, output_dir: Path, tracking_uri: str) -> str:
    """The run recorded in output_dir, reopened; or a new one, recorded there at once."""
    run_id_file = output_dir / RUN_ID_FILE
    if run_id_file.is_file():
        run_id = run_id_file.read_text(encoding="utf-8").strip()
        client.get_run(run_id)  # fails clearly if the tracking store has no such run
        client.update_run(run_id, status="RUNNING")
        return run_id
    experiment_id = ensure_experiment(client, config.mlflow_experiment, tracking_uri)
    parent = {"mlflow.parentRunId": config.mlflow_parent_run_id} if config.mlflow_parent_run_id else {}
    run = client.create_run(experiment_id, run_name=config.run_name, tags=parent)
    staging = run_id_file.with_suffix(".tmp")
    staging.write_text(run.info.run_id, encoding="utf-8")
    os.replace(staging, run_id_file)
    return run.info.run_id


def _mark_superseded(client, old_run_id: str, new_run_id: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.set_tag(old_run_id, "superseded_by", new_run_id)
        if client.get_run(old_run_id).info.status == "RUNNING":
            client.set_terminated(old_run_id, "KILLED")
    except MlflowException:  # a run in another tracking store: nothing to mark
        pass


def log_new_params(client, run_id: str, params: dict[str, Any]) -> None:
    """MLflow params cannot change; on a resumed run only the missing ones are logged."""
    from mlflow.entities import Param

    existing = client.get_run(run_id).data.params
    for key, value in params.items():
        if key in existing and existing[key] != str(value):
            logger.warning("param %s was %r, now %r; the run keeps %r",
                           key, existing[key], str(value), existing[key])
    fresh = [Param(key, str(value)) for key, value in params.items() if key not in existing]
    for start in range(0, len(fresh), 100):
        client.log_batch(run_id, params=fresh[start:start + 100], synchronous=True)


def _metrics_callback(client, run_id: str):
    from mlflow.entities import Metric
    from transformers import TrainerCallback

    class MlflowMetrics(TrainerCallback):
        """Every trainer log line (loss per logging step, eval metrics) as MLflow metrics,
        written synchronously so that a kill loses nothing already logged."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            now = int(time.time() * 1000)
            metrics = [Metric(key, float(value), now, state.global_step)
                       for key, value in logs.items()
                       if isinstance(value, (int, float)) and not isinstance(value, bool)]
            if metrics:
                client.log_batch(run_id, metrics=metrics, synchronous=True)

    return MlflowMetrics()


@dataclass
class TrackedRun:
    """The MLflow run a training logs to, and the checkpoint it resumes from, if any."""

    client: Any
    run_id: str
    checkpoints_dir: Path
    checkpoint: Optional[Path]

    @property
    def resume_from(self) -> Optional[str]:
        return str(self.checkpoint) if self.checkpoint else None

    def callback(self):
        return _metrics_callback(self.client, self.run_id)


@contextmanager
def tracked_run(config, output_dir: Path, lineage: dict[str, Any] | None,
                params: dict[str, Any]) -> Iterator[TrackedRun]:
    """The training's MLflow run, resumed with its checkpoints when `config` and its data
    match the fingerprint in `output_dir`, else a new one; marked FINISHED when the block
    ends, FAILED when it raises. `config` is a dataclass with the train and validation files,
    the MLflow settings and the run name (TrainingConfig, PreferenceConfig)."""
    from mlflow import MlflowClient

    tracking_uri = _tracking_uri(config, output_dir)
    client = MlflowClient(tracking_uri)
    fingerprint = training_fingerprint(config)
    stale = _discard_stale_state(output_dir, fingerprint)
    _record_fingerprint(output_dir, fingerprint)
    run_id = _open_run(client, config, output_dir, tracking_uri)
    if stale:
        why, old_run_id = stale
        logger.warning("Not resuming: %s; training starts over in MLflow run %s", why, run_id)
        client.set_tag(run_id, "restarted_because", why[:5000])
        if old_run_id:
            _mark_superseded(client, old_run_id, run_id)
    checkpoints_dir = output_dir / CHECKPOINTS_DIR
    checkpoint = last_complete_checkpoint(checkpoints_dir)
    if checkpoint is not None:
        logger.info("Resuming from checkpoint %s (MLflow run %s)", checkpoint, run_id)
    try:
        log_new_params(client, run_id, {**asdict(config), **params,
                                        "mlflow_tracking_uri": tracking_uri})
        if lineage:
            client.log_dict(run_id, lineage, "lineage.json")
            for key, value in lineage.items():
                text = value if isinstance(value, str) else json.dumps(value, default=str)
                client.set_tag(run_id, f"lineage.{key}", text[:5000])
        if checkpoint is not None:
            client.set_tag(run_id, "resumed_from_checkpoint", checkpoint.name)
        yield TrackedRun(client, run_id, checkpoints_dir, checkpoint)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
