"""dpo_model: the date's fine-tuned model trained further on preference pairs (DPO)."""

import json
import shutil
from collections import Counter

import dagster as dg

from ...domain.splitting import TRAIN, VALIDATION
from ..gpu_launch import TRAINING_OP_TAGS
from ..partitions import daily_partitions
from ...resources.files import ArtifactStoreResource
from ...resources.store import CorrectionStoreResource
from ...resources.tracking import MLFLOW_HOOKS, MlFlow, dagster_run_mlflow_id
from ...training.dpo import PreferenceConfig, PreferenceSettings, run_preference_training
from ...training.sft import MODEL_DIR
from .fine_tuned_model import close_interrupted_parent, run_config

DpoConfig = run_config(PreferenceSettings, "DpoConfig")


def _write_pairs(path, pairs) -> None:
    path.write_text("".join(json.dumps(p.as_trl(), ensure_ascii=False) + "\n" for p in pairs),
                    encoding="utf-8")


@dg.asset(
    group_name="model",
    partitions_def=daily_partitions,
    deps=[dg.AssetDep("preference_pairs", partition_mapping=dg.MultiToSingleDimensionPartitionMapping(
        partition_dimension_name="date"))],
    op_tags=TRAINING_OP_TAGS,
    kinds={"pytorch", "mlflow"},
    # As fine_tuned_model: a crashed step is retried and resumes from its last checkpoint.
    retry_policy=dg.RetryPolicy(max_retries=2, delay=30),
    hooks=MLFLOW_HOOKS,
)
def dpo_model(
    context: dg.AssetExecutionContext,
    config: DpoConfig,
    fine_tuned_model: dict,
    store: CorrectionStoreResource,
    artifacts: ArtifactStoreResource,
    mlflow: dg.ResourceParam[MlFlow],
) -> dg.MaterializeResult[dict]:
    """The date's fine_tuned_model trained with TRL's DPOTrainer on every theme's preference
    pairs up to this date; the held-out pairs (from validation rows) scored before and after.

    Checkpoints, resume and MLflow lineage as fine_tuned_model's. Trained only on request:
    model_evaluation scores it beside the SFT model once it is there, and the promotion gate
    takes the better of the two.
    """
    date = context.partition_key
    pairs = store.get_store().load_preference_pairs(up_to_date=date)
    train = [p for p in pairs if p.split == TRAIN]
    held_out = [p for p in pairs if p.split == VALIDATION]
    if not train:
        raise dg.Failure(f"partition {date}: no preference_pairs from train rows up to this date; "
                         "materialise preference_pairs for at least one theme first")
    output_dir = artifacts.path("dpo_model", date)
    if (output_dir / MODEL_DIR).exists():  # a finished training: a re-materialisation starts over
        shutil.rmtree(output_dir)
        output_dir.mkdir(parents=True)
    _write_pairs(output_dir / "train_pairs.jsonl", train)
    if held_out:
        _write_pairs(output_dir / "validation_pairs.jsonl", held_out)
    sources = dict(Counter(p.source for p in pairs))
    lineage = {"date": date, "train_pairs": len(train), "validation_pairs": len(held_out),
               "fine_tuned_run_id": fine_tuned_model["mlflow_run_id"],
               "pairs_per_source": sources,
               "partition_keys": sorted({f"{p.date}|{p.theme}" for p in pairs})}
    result = run_preference_training(
        PreferenceConfig(
            model_dir=fine_tuned_model["model_dir"],
            model_revision=fine_tuned_model["mlflow_run_id"],
            train_file=str(output_dir / "train_pairs.jsonl"),
            validation_file=str(output_dir / "validation_pairs.jsonl") if held_out else None,
            output_dir=str(output_dir),
            mlflow_tracking_uri=mlflow.tracking_uri,
            mlflow_experiment=mlflow.experiment_name,
            mlflow_parent_run_id=dagster_run_mlflow_id(mlflow),
            run_name=f"dpo_model-{date}",
            **config.model_dump(),
        ),
        lineage=lineage,
    )
    mlflow.set_tags({"dpo_run_id": result.mlflow_run_id, "partition_date": date})
    if result.resumed_from_checkpoint:
        close_interrupted_parent(mlflow, result.mlflow_run_id)
    scores = {}
    if result.margin is not None:
        scores = {"held_out_margin_before": result.margin[0], "held_out_margin_after": result.margin[1],
                  "held_out_accuracy_before": result.accuracy[0],
                  "held_out_accuracy_after": result.accuracy[1]}
    return dg.MaterializeResult(
        value={"model_dir": str(result.model_dir), "mlflow_run_id": result.mlflow_run_id,
               "date": date, "fine_tuned_run_id": fine_tuned_model["mlflow_run_id"]},
        metadata={
            "model_dir": dg.MetadataValue.path(str(result.model_dir)),
            "mlflow_run_id": result.mlflow_run_id,
            "fine_tuned_run_id": fine_tuned_model["mlflow_run_id"],
            "resumed_from_checkpoint": result.resumed_from_checkpoint or "",
            "global_step": result.global_step,
            "train_loss": result.train_loss,
            "train_pairs": len(train), "validation_pairs": len(held_out),
            "pairs_per_source": dg.MetadataValue.json(sources),
            # Both answers of each pair in the model's tokens: none is trained cut.
            "pair_tokens": dg.MetadataValue.json(result.lengths),
            "pairs_left_out": result.lengths["left_out"],
            **scores,
        },
    )
