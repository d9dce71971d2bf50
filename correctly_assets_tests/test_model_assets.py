"""fine_tuned_model on the data the data assets wrote, and how it is launched on a GPU node."""

import dagster as dg
import pytest
from dagster_k8s.job import (
    DagsterK8sJobConfig,
    construct_dagster_k8s_job,
    get_user_defined_k8s_config,
)
from mlflow import MlflowClient

from correctly_assets.definitions import data_assets, model_assets
from correctly_assets.domain.promotion import promotion_decision, versions_to_archive
from correctly_assets.defs.partitions import daily_partitions
from correctly_assets.resources.files import ArtifactStoreResource
from correctly_assets.resources.store import CorrectionStoreResource
from correctly_assets.resources.tracking import mlflow_resource

pytestmark = pytest.mark.integration

DATE = "2026-04-02"


def _train_evaluate_register(assets, instance, resources, jfleg_limit: int):
    return dg.materialize(
        assets, selection=["fine_tuned_model", "model_evaluation", "registered_model"],
        partition_key=DATE, instance=instance, resources=resources,
        run_config={"ops": {
            "fine_tuned_model": {"config": {"max_steps": 4, "save_steps": 2, "logging_steps": 1,
                                            "per_device_batch_size": 4}},
            "model_evaluation": {"config": {"jfleg_limit": jfleg_limit, "max_new_tokens": 32}},
        }},
    )


def test_model_is_trained_evaluated_and_registered(resources, instance, tracking_uri, tmp_path):
    assets = [*data_assets, *model_assets]
    dg.materialize(assets, selection=["raw_sheet", "yaml_spec"], instance=instance, resources=resources)
    for partition in ("2026-04-01|travel", f"{DATE}|food"):
        dg.materialize(assets, selection=["prompt_examples", "generated_texts", "train_split"],
                       partition_key=partition, instance=instance, resources=resources)
    result = _train_evaluate_register(assets, instance, resources, jfleg_limit=16)
    assert result.success
    metadata = result.asset_materializations_for_node("fine_tuned_model")[0].metadata
    assert metadata["global_step"].value == 4
    assert metadata["partitions"].value == 2  # both days' themes, up to DATE
    assert metadata["train_rows"].value + metadata["validation_rows"].value == 12
    run = MlflowClient(tracking_uri).get_run(metadata["mlflow_run_id"].value)
    assert run.data.tags["lineage.date"] == DATE
    history = MlflowClient(tracking_uri).get_metric_history(run.info.run_id, "loss")
    assert history, "per-step loss is tracked"
    assert (tmp_path / "artifacts" / "fine_tuned_model" / DATE / "model" / "config.json").exists()

    # The chats' lengths in the model's tokens; none was trained cut.
    assert metadata["chats_left_out"].value == 0
    assert metadata["max_length"].value >= metadata["chat_tokens"].value["longest"]

    evaluation = result.output_for_node("model_evaluation")
    for figure in ("validation_gleu", "validation_gleu_copy", "validation_f0_5", "jfleg_gleu"):
        assert 0 <= evaluation[figure] <= 100
    # What the replies came to, beside the scores.
    for figure in ("validation_parse_rate", "validation_cut_off_rate", "validation_fallback_rate",
                   "jfleg_parse_rate"):
        assert 0 <= evaluation[figure] <= 1
    run = MlflowClient(tracking_uri).get_run(run.info.run_id)
    assert run.data.metrics["validation_gleu"] == evaluation["validation_gleu"]
    assert run.data.metrics["validation_parse_rate"] == evaluation["validation_parse_rate"]
    logged = {a.path for a in MlflowClient(tracking_uri).list_artifacts(run.info.run_id, "evaluation")}
    assert {"evaluation/validation_error_types.png", "evaluation/loss_curve.png",
            "evaluation/scoreboard.md"} <= logged
    page = result.asset_materializations_for_node("model_evaluation")[0].metadata
    board = page["scoreboard"].value
    assert "**validation**" in board and "**jfleg**" in board
    assert "| fine_tuned_model (selected) |" in board and "| copy baseline |" in board
    assert f"| {evaluation['validation_gleu']:.2f} |" in board
    assert page["validation_gleu"].value == round(evaluation["validation_gleu"], 4)

    # dagster-mlflow's run for this Dagster run: closed by its hook, holding the evaluation
    # figures and the registry outcome, with the training run nested under it.
    [dagster_run] = MlflowClient(tracking_uri).search_runs(
        [run.info.experiment_id], f"tags.dagster_run_id = '{result.run_id}'")
    assert dagster_run.info.status == "FINISHED"
    assert run.data.tags["mlflow.parentRunId"] == dagster_run.info.run_id
    assert dagster_run.data.tags["training_run_id"] == run.info.run_id
    assert dagster_run.data.metrics["validation_gleu"] == evaluation["validation_gleu"]

    registered = result.output_for_node("registered_model")
    assert dagster_run.data.tags["registered_version"] == str(registered["version"])
    client = MlflowClient(tracking_uri)
    assert int(client.get_model_version_by_alias("correctly", "candidate").version) == registered["version"]
    beats_copy = (evaluation["validation_gleu"] > evaluation["validation_gleu_copy"]
                  and evaluation["validation_parse_rate"] >= 0.9)
    assert registered["promoted"] == beats_copy  # no production model before this one
    assert ("production" in client.get_registered_model("correctly").aliases) == beats_copy

    # The gate compares on the same data: production is scored again, in the evaluation's
    # run, on today's validation set, never read from the figure tagged when it was
    # registered. Made production with a stale, flattering tag, the same model scores
    # exactly what the candidate scores, so the candidate does not beat it.
    first = registered["version"]
    client.set_registered_model_alias("correctly", "production", str(first))
    client.set_model_version_tag("correctly", str(first), "validation_gleu", "99.0")
    with dg.instance_for_test() as instance:
        dg.materialize(assets, selection=["raw_sheet", "yaml_spec"], instance=instance,
                       resources=resources)  # registers the themes in this instance
        again = _train_evaluate_register(assets, instance, resources, jfleg_limit=4)
    assert again.success
    rescored = again.output_for_node("model_evaluation")
    assert rescored["production_version"] == first
    assert rescored["evaluation_set"]["rows"] == evaluation["evaluation_set"]["rows"]
    second = again.output_for_node("registered_model")
    gate = again.asset_materializations_for_node("registered_model")[0].metadata
    assert gate["production_validation_gleu"].value == round(rescored["production_validation_gleu"], 4)
    # The scoreboard has production, re-scored on both sets, and the delta to it.
    board = again.asset_materializations_for_node("model_evaluation")[0].metadata["scoreboard"].value
    assert board.count(f"\n| production v{first} |") == 2  # a row on validation and on JFLEG
    delta = rescored["validation_gleu"] - rescored["production_validation_gleu"]
    assert f"| {rescored['validation_gleu']:.2f} | {delta:+.2f} |" in board
    # A stale tag of 99 would have kept the candidate out whatever it scored.
    assert rescored["production_validation_gleu"] < 99.0
    version = client.get_model_version("correctly", str(second["version"]))
    assert version.tags["evaluation_set_sha256"] == rescored["evaluation_set"]["sha256"]
    assert second["promoted"] == (rescored["validation_gleu"] > rescored["production_validation_gleu"]
                                  and rescored["validation_gleu"] > rescored["validation_gleu_copy"]
                                  and rescored["validation_parse_rate"] >= 0.9)


def test_training_step_is_rendered_as_a_gpu_job():
    [asset] = [a for a in model_assets if a.key.to_user_string() == "fine_tuned_model"]
    tags = asset.op.tags
    job = construct_dagster_k8s_job(
        DagsterK8sJobConfig(job_image="correctly-user-code:latest", dagster_home="/opt/dagster/home",
                            image_pull_policy="IfNotPresent"),
        args=["dagster", "api", "execute_step"],
        job_name="dagster-step-fine-tuned-model",
        user_defined_k8s_config=get_user_defined_k8s_config(tags),
    )
    pod = job.spec.template.spec
    container = pod.containers[0]
    assert container.resources.limits["nvidia.com/gpu"] == "1"
    assert container.resources.requests["nvidia.com/gpu"] == "1"
    assert pod.node_selector == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert any(t.key == "nvidia.com/gpu" and t.effect == "NoSchedule" for t in pod.tolerations)
    assert job.spec.backoff_limit == 0
    assert container.image == "correctly-user-code:latest"


def test_promotion_gate_needs_to_beat_copy_and_production():
    assert promotion_decision(45.0, 40.0, None, 1.0)[0]
    assert not promotion_decision(39.0, 40.0, None, 1.0)[0]
    assert not promotion_decision(45.0, 40.0, 46.0, 1.0)[0]
    assert promotion_decision(47.0, 40.0, 46.0, 1.0)[0]
    assert "copying the source" in promotion_decision(39.0, 40.0, None, 1.0)[1]
    assert "on the same validation set" in promotion_decision(45.0, 40.0, 46.0, 1.0)[1]


def test_promotion_gate_refuses_replies_that_do_not_parse_whatever_the_gleu():
    promote, why = promotion_decision(90.0, 40.0, 50.0, parse_rate=0.85)
    assert not promote and "85.0% of its validation replies parse, below the 90.0%" in why
    assert promotion_decision(90.0, 40.0, 50.0, parse_rate=0.85, min_parse_rate=0.8)[0]
    assert not promotion_decision(90.0, 40.0, None, parse_rate=None)[0]  # not measured


def test_registered_model_keeps_a_model_whose_replies_do_not_parse_at_candidate(tmp_path):
    """A candidate far above copy and no production: refused on its parse rate alone,
    registered as `candidate`, and the check says why."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("e")).info.run_id
    [registered_model] = [a for a in model_assets if a.key.to_user_string() == "registered_model"]

    @dg.asset(name="model_evaluation", partitions_def=daily_partitions)
    def figures() -> dict:
        return {"mlflow_run_id": run_id, "validation_gleu": 80.0, "validation_gleu_copy": 40.0,
                "validation_parse_rate": 0.5}

    with dg.instance_for_test() as instance:
        result = dg.materialize([figures, registered_model], partition_key=DATE, instance=instance,
                                resources={"mlflow": mlflow_resource(uri)})
    outcome = result.output_for_node("registered_model")
    assert not outcome["promoted"]
    assert "production" not in client.get_registered_model("correctly").aliases
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and "50.0% of its validation replies parse" in check.metadata["why"].value


def test_old_versions_are_archived_unless_aliased():
    assert versions_to_archive([1, 2, 3, 4, 5, 6, 7], aliased={2, 7}, keep=3) == [4, 3, 1]


def test_a_configured_jfleg_that_is_missing_fails_the_evaluation(database_url, tmp_path):
    @dg.asset(name="fine_tuned_model", partitions_def=daily_partitions)
    def trained_elsewhere() -> dict:
        return {"model_dir": str(tmp_path / "model"), "mlflow_run_id": "r", "date": DATE}

    [evaluation] = [a for a in model_assets if a.key.to_user_string() == "model_evaluation"]
    missing = tmp_path / "no-jfleg-here"
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [trained_elsewhere, evaluation], partition_key=DATE, instance=instance,
            raise_on_error=False,
            resources={"store": CorrectionStoreResource(database_url=database_url),
                       "artifacts": ArtifactStoreResource(root=str(tmp_path / "artifacts")),
                       "mlflow": mlflow_resource(f"sqlite:///{tmp_path / 'mlflow.db'}")},
            run_config={"ops": {"model_evaluation": {"config": {"jfleg_dir": str(missing)}}}},
        )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.message
    assert f"partition {DATE}: JFLEG was configured but is missing" in message
    assert str(missing) in message
