"""registered_model: the selected model as a new registry version, and the promotion gate
that moves `production` to it."""

import dagster as dg
from mlflow.exceptions import MlflowException

from ..automation_conditions import REGISTRY_FOLLOWS_EVALUATION
from ...domain.promotion import MIN_PARSE_RATE, promotion_decision, versions_to_archive
from ..partitions import daily_partitions
from ...resources.tracking import MLFLOW_HOOKS, MlFlow


class RegistryConfig(dg.Config):
    model_name: str = "correctly"
    keep_versions: int = 5  # older versions are archived (tagged), unless an alias points at them
    # The share of the candidate's validation replies that must parse (every section of the
    # answer format) for the gate to promote it, whatever its GLEU.
    min_parse_rate: float = MIN_PARSE_RATE


@dg.asset(
    group_name="model",
    partitions_def=daily_partitions,
    kinds={"mlflow"},
    check_specs=[dg.AssetCheckSpec("promotion_gate", asset="registered_model")],
    hooks=MLFLOW_HOOKS,
    automation_condition=REGISTRY_FOLLOWS_EVALUATION,
)
def registered_model(
    context: dg.AssetExecutionContext,
    config: RegistryConfig,
    model_evaluation: dict,
    mlflow: dg.ResourceParam[MlFlow],
):  # MaterializeResult[dict]: asset checks are outputs, so no annotation
    """A new registry version with alias `candidate` (the model model_evaluation selected:
    the fine-tuned or the DPO model); the promotion gate moves `production` to it only when
    at least min_parse_rate of its validation replies parse and it beats production and the
    copy baseline on validation GLEU."""
    client = mlflow.tracking_client
    name, run_id = config.model_name, model_evaluation["mlflow_run_id"]
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name)
    if model_evaluation.get("registry_model_name", name) != name:
        raise dg.Failure(
            f"model_evaluation scored registry model {model_evaluation['registry_model_name']!r}'s "
            f"production version, but this registers to {name!r}: set the same name in both")
    gleu, copy_gleu = model_evaluation["validation_gleu"], model_evaluation["validation_gleu_copy"]
    parse_rate = model_evaluation.get("validation_parse_rate")
    evaluation_set = model_evaluation.get("evaluation_set", {})
    try:
        production = client.get_model_version_by_alias(name, "production")
    except MlflowException:
        production = None
    # Production as scored in the same run on the same set; never a figure from another day.
    scored = model_evaluation.get("production_version")
    if production is not None and scored != int(production.version):
        raise dg.Failure(
            f"production is version {production.version} but model_evaluation scored version "
            f"{scored}; materialise model_evaluation again so both are scored on the same set")
    production_gleu = model_evaluation.get("production_validation_gleu") if production else None
    version = client.create_model_version(
        name, source=f"{client.get_run(run_id).info.artifact_uri}/model", run_id=run_id,
        tags={"validation_gleu": f"{gleu:.4f}", "date": context.partition_key,
              **({"validation_parse_rate": f"{parse_rate:.4f}"} if parse_rate is not None else {}),
              "model": model_evaluation.get("model", "fine_tuned_model"),
              "evaluation_set_sha256": evaluation_set.get("sha256", ""),
              **({"production_validation_gleu": f"{production_gleu:.4f}"}
                 if production_gleu is not None else {})},
    )
    client.set_registered_model_alias(name, "candidate", version.version)
    promote, why = promotion_decision(gleu, copy_gleu, production_gleu, parse_rate,
                                      config.min_parse_rate)
    if promote:
        client.set_registered_model_alias(name, "production", version.version)
    aliased = {int(v) for v in client.get_registered_model(name).aliases.values()}
    versions = [int(v.version) for v in client.search_model_versions(f"name='{name}'")]
    archived = versions_to_archive(versions, aliased, config.keep_versions)
    for old in archived:
        client.set_model_version_tag(name, str(old), "archived", "true")
    mlflow.set_tags({"registered_version": version.version, "promoted": str(promote).lower(),
                     "production_validation_gleu": str(production_gleu)})
    production_version = version.version if promote else (production.version if production else None)
    return dg.MaterializeResult(
        value={"name": name, "version": int(version.version), "promoted": promote,
               "production_version": production_version},
        metadata={"version": int(version.version), "promoted": promote, "why": why,
                  "model": model_evaluation.get("model", "fine_tuned_model"),
                  "validation_gleu": round(gleu, 4), "validation_gleu_copy": round(copy_gleu, 4),
                  "validation_parse_rate": (round(parse_rate, 4) if parse_rate is not None
                                            else float("nan")),
                  "production_validation_gleu": (round(production_gleu, 4)
                                                 if production_gleu is not None else float("nan")),
                  "evaluation_set": dg.MetadataValue.json(evaluation_set),
                  "production_version": str(production_version), "archived": len(archived)},
        check_results=[dg.AssetCheckResult(
            passed=promote, severity=dg.AssetCheckSeverity.WARN,
            metadata={"why": why, "evaluation_set": dg.MetadataValue.json(evaluation_set)})],
    )
