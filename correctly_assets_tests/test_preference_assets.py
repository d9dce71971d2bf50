"""preference_pairs and dpo_model as assets: pairs from the three sources stored beside the
train rows, a DPO model trained from the fine-tuned one, and both scored by model_evaluation
so the promotion gate takes the better."""

import dagster as dg
import pytest
from dagster_openai import OpenAIResource
from mlflow import MlflowClient

from correctly_assets.definitions import data_assets, defs, model_assets
from correctly_assets.domain.preferences import SOURCES
from correctly_assets.testing.databases import original_train_rows
from correctly_assets.resources.text_generator import TextGeneratorResource
from correctly_assets.testing.local_llm_server import serve_in_thread

pytestmark = pytest.mark.integration

DATE = "2026-04-02"
PARTITIONS = ("2026-04-01|travel", f"{DATE}|food")
ASSETS = [*data_assets, *model_assets]


def _pairs(instance, resources, partition, **config):
    return dg.materialize(ASSETS, selection=["preference_pairs"], partition_key=partition,
                          instance=instance, resources=resources, raise_on_error=False,
                          run_config={"ops": {"preference_pairs": {"config": config}}})


def _fine_tune(instance, resources):
    """A model trained long enough on the few rows to end its replies (cut-off replies are
    not used for pairs)."""
    assert dg.materialize(ASSETS, selection=["fine_tuned_model"], partition_key=DATE,
                          instance=instance, resources=resources, run_config={"ops": {
                              "fine_tuned_model": {"config": {
                                  "max_steps": 150, "learning_rate": 3e-3, "save_steps": 150,
                                  "per_device_batch_size": 4}}}}).success


def _split(instance, resources):
    dg.materialize(ASSETS, selection=["raw_sheet", "yaml_spec"], instance=instance, resources=resources)
    for partition in PARTITIONS:
        dg.materialize(ASSETS, selection=["prompt_examples", "generated_texts", "train_split"],
                       partition_key=partition, instance=instance, resources=resources)


def _metadata(result, node="preference_pairs"):
    return {k: v.value for k, v in result.asset_materializations_for_node(node)[0].metadata.items()}


def test_pairs_train_a_dpo_model_that_the_gate_weighs_against_the_sft_model(
        resources, instance, store, tracking_uri):
    _split(instance, resources)
    # Without a fine-tuned model, the model's sources cannot be asked: a clear failure.
    failed = _pairs(instance, resources, f"{DATE}|food")
    assert not failed.success
    message = str(failed.failure_data_for_node("preference_pairs").user_failure_data.description)
    assert f"fine_tuned_model has no model for {DATE}" in message and "sources: [rule]" in message
    assert store.count_rows("preference_pair") == 0

    _fine_tune(instance, resources)
    result = _pairs(instance, resources, f"{DATE}|food")
    assert result.success
    metadata = _metadata(result)
    train_rows = store.load_train_examples(partition=(DATE, "food"))
    stored = store.load_preference_pairs(partition=(DATE, "food"))
    assert metadata["pairs"] == len(stored) > 0
    assert metadata["train_rows"] == len(train_rows)
    assert sum(metadata["pairs_per_source"].values()) == len(stored)
    assert set(metadata["pairs_per_source"]) == set(SOURCES)
    by_id = {e.prompt_id: e for e in train_rows}
    for pair in stored:
        row = by_id[pair.prompt_id]
        assert pair.split == row.split  # held-out pairs are validation rows' only
        assert pair.chosen == row.messages[2]["content"] != pair.rejected
        assert pair.source in SOURCES and pair.detail
    # The model's replies to texts it never trained on are far from the answers.
    assert metadata["replies_cut_off"] < metadata["train_rows"]
    assert metadata["pairs_per_source"]["on_policy"] > 0
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["no_identical_pairs"].passed
    assert set(checks) == {"no_identical_pairs", "source_shares", "length_bias"}
    # The original's train table shape: `rejected` filled where a row has a pair.
    original = {r["generated_text_id"]: r["rejected"] for r in original_train_rows(store)}
    assert all(original[p.prompt_id] == p.rejected for p in stored)

    # Re-materialising replaces the partition's pairs exactly; rule only needs no model.
    again = _pairs(instance, resources, f"{DATE}|food", sources=["rule"])
    assert again.success
    rule_pairs = store.load_preference_pairs(partition=(DATE, "food"))
    assert {p.source for p in rule_pairs} == {"rule"}
    assert len(rule_pairs) == _metadata(again)["pairs"]
    assert _pairs(instance, resources, "2026-04-01|travel", sources=["rule"]).success
    assert {p.source for p in store.load_preference_pairs(up_to_date=DATE)} == {"rule"}

    run = dg.materialize(
        ASSETS, selection=["dpo_model", "model_evaluation", "registered_model"], partition_key=DATE,
        instance=instance, resources=resources,
        run_config={"ops": {
            "dpo_model": {"config": {"max_steps": 4, "save_steps": 2, "logging_steps": 1,
                                     "per_device_batch_size": 4, "learning_rate": 1e-3}},
            "model_evaluation": {"config": {"jfleg_limit": 8, "max_new_tokens": 32}}}})
    assert run.success
    dpo = _metadata(run, "dpo_model")
    assert dpo["global_step"] == 4
    assert dpo["train_pairs"] + dpo["validation_pairs"] == len(store.load_preference_pairs(up_to_date=DATE))
    # Before training the model is its own reference: no margin.
    assert dpo["held_out_margin_before"] == pytest.approx(0.0, abs=1e-6)
    client = MlflowClient(tracking_uri)
    dpo_run = client.get_run(dpo["mlflow_run_id"])
    assert dpo_run.data.tags["lineage.fine_tuned_run_id"] == dpo["fine_tuned_run_id"]
    assert dpo_run.info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(dpo_run.info.run_id)} >= {"model"}

    evaluation = run.output_for_node("model_evaluation")
    candidates = evaluation["candidates_validation_gleu"]
    assert set(candidates) == {"fine_tuned_model", "dpo_model"}
    best = max(candidates, key=lambda name: candidates[name])  # the SFT model on a tie
    assert evaluation["model"] == best
    assert evaluation["validation_gleu"] == candidates[best]
    # each model's figures on its own training run
    assert client.get_run(dpo["mlflow_run_id"]).data.metrics["validation_gleu"] == candidates["dpo_model"]
    assert "jfleg_gleu" in client.get_run(dpo["mlflow_run_id"]).data.metrics
    registered = run.output_for_node("registered_model")
    version = client.get_model_version("correctly", str(registered["version"]))
    assert version.run_id == evaluation["mlflow_run_id"] and version.tags["model"] == best


def test_the_judge_is_asked_over_http_and_its_verdicts_make_the_pairs(resources, instance, store):
    _split(instance, resources)
    _fine_tune(instance, resources)
    with serve_in_thread(latency_s=0.01, failure_rate=0.2, seed=7) as server:
        resources = {**resources, "text_generator": TextGeneratorResource(
            openai=OpenAIResource(api_key="sk-judge-secret-0123456789", base_url=server.base_url),
            model="local-judge", max_retries=8)}
        result = _pairs(instance, resources, f"{DATE}|food", sources=["llm_judged"])
    assert result.success
    metadata = _metadata(result)
    verdicts = metadata["judge_verdicts"]
    # Every reply that differs was judged, through 20% failed calls retried.
    assert metadata["judgements_without_verdict"] == 0
    replies = metadata["train_rows"] - metadata["replies_cut_off"]
    assert 0 < sum(verdicts.values()) <= replies
    stored = store.load_preference_pairs(partition=(DATE, "food"))
    assert len(stored) == verdicts.get("reply_worse", 0) > 0
    assert {p.source for p in stored} == {"llm_judged"}

    # The judge in batch mode: the run submits and stores nothing; the batch sensor's run
    # collects the verdicts, and the pairs are those of the synchronous judge.
    with serve_in_thread() as server:
        batch = {**resources, "text_generator": TextGeneratorResource(
            openai=OpenAIResource(api_key="sk-judge-secret-0123456789", base_url=server.base_url),
            model="local-judge", mode="batch")}
        submitted = _pairs(instance, batch, f"{DATE}|food", sources=["llm_judged"])
        assert submitted.success and not submitted.asset_materializations_for_node("preference_pairs")
        assert server.stats.requests == 0 and server.batches.as_dict()["batches"] == 1
        with dg.build_sensor_context(instance=instance, resources={
                name: batch[name] for name in ("text_generator", "store")}) as context:
            [request] = defs.resolve_sensor_def("llm_batch_sensor")(context)
        assert [k.to_user_string() for k in request.asset_selection] == ["preference_pairs"]
        collected = _pairs(instance, batch, request.partition_key, sources=["llm_judged"])
    assert collected.success
    assert _metadata(collected)["judge_verdicts"] == verdicts
    assert store.load_preference_pairs(partition=(DATE, "food")) == stored
