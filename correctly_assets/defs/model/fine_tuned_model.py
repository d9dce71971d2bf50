"""fine_tuned_model: SFT with TRL on every theme's train split up to the partition's date."""

import dataclasses
import shutil
import typing
from collections import Counter

import dagster as dg
import pydantic

from ..automation_conditions import MODEL_FOLLOWS_SPLITS
from ...domain.chat_format import write_chats
from ...domain.splitting import TRAIN, VALIDATION
from ..gpu_launch import TRAINING_OP_TAGS
from ..partitions import daily_partitions
from ...resources.files import ArtifactStoreResource
from ...resources.store import CorrectionStoreResource
from ...resources.tracking import MLFLOW_HOOKS, MlFlow, dagster_run_mlflow_id
from ...training import TrainingConfig, run_training
from ...training.config import TrainingSettings
from ...training.sft import MODEL_DIR
from ...settings import BASE_MODEL, env


def run_config(settings: type, name: str) -> type[dg.Config]:
    """A Dagster run config with one field per settings field (type, default, help), so the
    training settings are declared once, in training/, for the CLI and the UI."""
    hints = typing.get_type_hints(settings)
    fields = {f.name: (hints[f.name], pydantic.Field(default=f.default,
                                                      description=f.metadata.get("help")))
              for f in dataclasses.fields(settings)}
    return pydantic.create_model(name, __base__=dg.Config, __module__=__name__,
                                 **fields)


# base_model empty: $CORRECTLY_BASE_MODEL, and when that is unset too, the tiny model built
# locally (the offline default).
FineTuneConfig = run_config(TrainingSettings, "FineTuneConfig")


@dg.asset(
    group_name="model",
    partitions_def=daily_partitions,
    deps=[dg.AssetDep("train_split", partition_mapping=dg.MultiToSingleDimensionPartitionMapping(
        partition_dimension_name="date"))],
    op_tags=TRAINING_OP_TAGS,
    automation_condition=MODEL_FOLLOWS_SPLITS,
    kinds={"pytorch", "mlflow"},
    # A crashed step (lost pod, OOM kill) is retried and resumes from its last checkpoint.
    retry_policy=dg.RetryPolicy(max_retries=2, delay=30),
    hooks=MLFLOW_HOOKS,
)
def fine_tuned_model(
    context: dg.AssetExecutionContext,
    config: FineTuneConfig,
    store: CorrectionStoreResource,
    artifacts: ArtifactStoreResource,
    mlflow: dg.ResourceParam[MlFlow],
) -> dg.MaterializeResult[dict]:
    """The model fine-tuned on all themes' splits up to this date, tracked in MLflow.

    Its output directory is fixed per partition: a retry after a crash finds the
    checkpoints there and resumes the same MLflow training run; a re-materialisation
    after a finished training starts over. A new training run is nested under this
    Dagster run's MLflow run.
    """
    date = context.partition_key
    examples = store.get_store().load_train_examples(up_to_date=date)
    train = [e for e in examples if e.split == TRAIN]
    validation = [e for e in examples if e.split == VALIDATION]
    if not train:
        raise dg.Failure(f"partition {date}: no train_split rows up to this date; "
                         "materialise train_split for at least one theme first")
    output_dir = artifacts.path("fine_tuned_model", date)
    if (output_dir / MODEL_DIR).exists():
        shutil.rmtree(output_dir)
        output_dir.mkdir(parents=True)
    write_chats(output_dir / "train.jsonl", train)
    write_chats(output_dir / "validation.jsonl", validation)

    partitions = sorted({f"{e.date}|{e.theme}" for e in examples})
    lineage = {"date": date, "train_rows": len(train), "validation_rows": len(validation),
               "partitions": len(partitions), "themes": ",".join(sorted({e.theme for e in examples}))}
    result = run_training(
        TrainingConfig(
            train_file=str(output_dir / "train.jsonl"),
            validation_file=str(output_dir / "validation.jsonl") if validation else None,
            output_dir=str(output_dir),
            mlflow_tracking_uri=mlflow.tracking_uri,
            mlflow_experiment=mlflow.experiment_name,
            mlflow_parent_run_id=dagster_run_mlflow_id(mlflow),
            run_name=f"fine_tuned_model-{date}",
            **{**config.model_dump(),
               "base_model": config.base_model or env(BASE_MODEL) or ""},
        ),
        lineage={**lineage, "partition_keys": partitions},
    )
    mlflow.set_tags({"training_run_id": result.mlflow_run_id, "partition_date": date})
    if result.resumed_from_checkpoint:
        close_interrupted_parent(mlflow, result.mlflow_run_id)
    rows_per_theme = Counter(e.theme for e in train)
    return dg.MaterializeResult(
        value={"model_dir": str(result.model_dir), "mlflow_run_id": result.mlflow_run_id,
               "date": date},
        metadata={
            "model_dir": dg.MetadataValue.path(str(result.model_dir)),
            "mlflow_run_id": result.mlflow_run_id,
            "resumed_from_checkpoint": result.resumed_from_checkpoint or "",
            "global_step": result.global_step,
            "train_loss": result.train_loss,
            "eval_loss": result.eval_loss if result.eval_loss is not None else float("nan"),
            "train_rows_per_theme": dg.MetadataValue.json(dict(rows_per_theme)),
            # The chats in the base model's tokens: none is trained cut (training/lengths.py).
            "chat_tokens": dg.MetadataValue.json(result.lengths),
            "max_length": result.lengths["max_length"],
            "chats_left_out": result.lengths["left_out"] + result.lengths["validation_left_out"],
            "max_answer_tokens": result.max_answer_tokens,
            **{k: v for k, v in lineage.items() if k != "themes"},
        },
    )


def close_interrupted_parent(mlflow: MlFlow, training_run_id: str) -> None:
    """A resumed training run stays nested under the Dagster run that started it; that run's
    process was lost before its MLflow run could be closed, so it is marked KILLED here."""
    client = mlflow.tracking_client
    parent = client.get_run(training_run_id).data.tags.get("mlflow.parentRunId")
    if parent and parent != dagster_run_mlflow_id(mlflow) and client.get_run(parent).info.status == "RUNNING":
        client.set_terminated(parent, "KILLED")
