"""Batch mode over real HTTP (the openai client against the local server's Batch API), on a
real embedded PostgreSQL, through dagster.materialize and the batch sensor's own evaluation."""

import asyncio
import json

import dagster as dg
import pytest
from dagster_openai import OpenAIResource

from correctly_assets.definitions import data_assets, defs
from correctly_assets.llm.batch_client import BatchClient
from correctly_assets.llm.batch_mode import BatchSettings, batch_round
from correctly_assets.llm.generation import GENERATION_SYSTEM_PROMPT
from correctly_assets.resources.text_generator import TextGeneratorResource
from correctly_assets.testing.batch_server import BatchFaults
from correctly_assets.testing.local_llm_server import serve_in_thread

pytestmark = pytest.mark.integration

DATE = "2026-03-14"
KEY = "sk-batch-test-5b1c9e"  # must never reach a row, metadata or a log


def _generator(server, mode="batch", **kwargs) -> TextGeneratorResource:
    return TextGeneratorResource(openai=OpenAIResource(api_key=KEY, base_url=server.base_url),
                                 model="gpt-4o-mini", mode=mode, **kwargs)


def _head(instance, resources):
    assert dg.materialize(data_assets, selection=["raw_sheet", "yaml_spec"], instance=instance,
                          resources=resources).success


def _materialize(instance, resources, selection, partition, **kwargs):
    return dg.materialize(data_assets, selection=selection, partition_key=partition,
                          instance=instance, resources=resources, **kwargs)


def _sensor_runs(instance, resources) -> list[dg.RunRequest]:
    sensor = defs.resolve_sensor_def("llm_batch_sensor")
    with dg.build_sensor_context(instance=instance, resources={
            name: resources[name] for name in ("text_generator", "store")}) as context:
        result = sensor(context)
    return result if isinstance(result, list) else []


def _collect(instance, resources, request: dg.RunRequest, **kwargs):
    return _materialize(instance, resources, [k.to_user_string() for k in request.asset_selection],
                        request.partition_key, **kwargs)


def _rows(store, theme):
    return sorted((t.prompt_id, t.raw_answer, t.rejection_reason, t.prompt_tokens,
                   t.completion_tokens, t.parsed.model_dump_json() if t.parsed else None)
                  for t in store.load_generated_texts(DATE, theme))


def _all_events_text(result) -> str:
    return json.dumps([str(e) for e in result.all_events])


def test_a_partition_is_submitted_then_collected_with_a_synchronous_runs_rows(
        instance, resources, tmp_path):
    _head(instance, resources)
    partition = f"{DATE}|travel"
    with serve_in_thread(batch_faults=BatchFaults(complete_after_s=0)) as server:
        resources["text_generator"] = _generator(server)
        assert _materialize(instance, resources, ["prompt_examples"], partition).success
        smoke_calls = server.stats.requests  # prompt_examples' one synchronous smoke test

        first = _materialize(instance, resources, ["generated_texts", "train_split"], partition)
        # Submitted, not materialised: nothing stored, the downstream step skipped.
        assert first.success
        assert not first.asset_materializations_for_node("generated_texts")
        store = resources["store"].get_store()
        assert store.count_rows("generated_text", DATE, "travel") == 0
        [observation] = [e.event_specific_data.asset_observation for e in first.all_events
                         if e.event_type_value == "ASSET_OBSERVATION"]
        assert observation.partition == partition
        assert observation.metadata["waiting_for_batches"].value == 1
        assert "batch_" in observation.metadata["batches"].value
        assert server.batches.as_dict()["batches"] == 1

        [request] = _sensor_runs(instance, resources)
        assert request.partition_key == partition
        assert [k.to_user_string() for k in request.asset_selection] == ["generated_texts",
                                                                        "train_split"]
        collected = _collect(instance, resources, request)
        assert collected.success
        [materialization] = collected.asset_materializations_for_node("generated_texts")
        metadata = materialization.metadata
        assert metadata["usage_mode"].value == "batch"
        assert metadata["accepted"].value == 6
        assert metadata["cost_usd_batch"].value * 2 == pytest.approx(
            metadata["cost_usd_synchronous"].value)
        # one partition: its cost is the run's, at the batch price
        assert metadata["cost_usd_per_partition"].value == {
            partition: metadata["cost_usd_batch"].value}
        assert collected.asset_materializations_for_node("train_split")
        assert server.stats.requests == smoke_calls  # no synchronous call for the answers
        assert server.batches.as_dict()["answered_twice"] == 0
        assert KEY not in _all_events_text(first) + _all_events_text(collected)
        batch_rows = _rows(store, "travel")
        assert len(batch_rows) == 6
        assert _sensor_runs(instance, resources) == []  # collected: nothing more to run
        # The downloaded result files go once their batch is wholly stored.
        cache = tmp_path / "artifacts" / "llm_batches"
        assert cache.is_dir() and not list(cache.iterdir())

        resources["text_generator"] = _generator(server, mode="sync")
        assert _materialize(instance, resources, ["generated_texts"], partition).success
        assert _rows(store, "travel") == batch_rows


def test_errors_an_expiry_and_a_failed_batch_are_asked_again_and_nothing_is_lost(
        instance, resources):
    _head(instance, resources)
    partitions = [f"{DATE}|travel", f"{DATE}|food"]
    # Both first batches expire with half their lines done, one of those an error line.
    faults = BatchFaults(expire_next=2, error_every=2)
    with serve_in_thread(batch_faults=faults) as server:
        resources["text_generator"] = _generator(server)
        for partition in partitions:
            assert _materialize(instance, resources, ["prompt_examples"], partition).success
            submitted = _materialize(instance, resources, ["generated_texts"], partition)
            assert submitted.success
            assert not submitted.asset_materializations_for_node("generated_texts")

        faults.error_every, faults.fail_next = 0, 1  # the first resubmission fails whole
        rounds, stored = 0, set()
        while len(stored) < 2:
            rounds += 1
            assert rounds <= 5, "the partitions were never collected"
            for request in _sensor_runs(instance, resources):
                result = _collect(instance, resources, request)
                assert result.success, request.partition_key
                if result.asset_materializations_for_node("generated_texts"):
                    stored.add(request.partition_key)
    stats = server.batches.as_dict()
    assert stats["statuses"] == {"expired": 2, "failed": 1, "completed": 2}, stats
    assert stats["answered_twice"] == 0
    store = resources["store"].get_store()
    for theme in ("travel", "food"):
        texts = store.load_generated_texts(DATE, theme)
        assert len(texts) == 6 and all(t.accepted for t in texts), [t.rejection_reason for t in texts]


def test_requests_past_their_attempts_are_kept_as_failed_rows_with_the_reason(
        instance, resources):
    _head(instance, resources)
    partition = f"{DATE}|work"
    # The error lines quote the key, as a server's "Incorrect API key provided: ..." does.
    faults = BatchFaults(error_every=2, error_message=f"Incorrect API key provided: {KEY}")
    with serve_in_thread(batch_faults=faults) as server:
        resources["text_generator"] = _generator(server, max_batch_attempts=1)
        assert _materialize(instance, resources, ["prompt_examples"], partition).success
        assert _materialize(instance, resources, ["generated_texts"], partition).success
        [request] = _sensor_runs(instance, resources)
        result = _collect(instance, resources, request)
    assert result.success
    texts = resources["store"].get_store().load_generated_texts(DATE, "work")
    failed = [t for t in texts if not t.accepted]
    assert len(texts) == 6 and len(failed) == 3
    assert all(t.rejection_reason.startswith("request failed: batch: HTTP 500: server_error: "
                                             "Incorrect API key provided: [REDACTED]")
               and "(asked 1 times)" in t.rejection_reason for t in failed), failed[0]
    assert KEY not in _all_events_text(result)
    metadata = result.asset_materializations_for_node("generated_texts")[0].metadata
    assert metadata["usage_batch_requests_given_up"].value == 3


def test_a_result_file_that_cannot_be_read_fails_the_run_and_the_next_run_reads_it(
        instance, resources):
    _head(instance, resources)
    partition = f"{DATE}|food"
    faults = BatchFaults()
    with serve_in_thread(batch_faults=faults) as server:
        resources["text_generator"] = _generator(server)
        assert _materialize(instance, resources, ["prompt_examples"], partition).success
        assert _materialize(instance, resources, ["generated_texts"], partition).success
        [request] = _sensor_runs(instance, resources)
        faults.content_fails = 3  # the download and the client's two retries
        failed = _collect(instance, resources, request, raise_on_error=False)
        assert not failed.success
        assert "results not read" in _all_events_text(failed) and "injected" in _all_events_text(failed)
        assert resources["store"].get_store().count_rows("generated_text", DATE, "food") == 0
        again = _materialize(instance, resources, ["generated_texts"], partition)
        assert again.success and again.asset_materializations_for_node("generated_texts")
        assert server.batches.as_dict()["batches"] == 1  # read, not submitted again
    assert resources["store"].get_store().count_rows("generated_text", DATE, "food") == 6


def test_a_live_batch_is_never_submitted_again_and_a_lost_answer_is_found(
        instance, resources, store, tmp_path):
    _head(instance, resources)
    partition = f"{DATE}|travel"
    with serve_in_thread(batch_faults=BatchFaults(complete_after_s=3600)) as server:
        resources["text_generator"] = _generator(server)
        assert _materialize(instance, resources, ["prompt_examples"], partition).success
        for _ in range(2):  # a user launches it again while the batch runs
            assert _materialize(instance, resources, ["generated_texts"], partition).success
        assert server.batches.as_dict()["batches"] == 1
        assert _sensor_runs(instance, resources) == []  # still in progress
        assert _materialize(instance, resources, ["prompt_examples"], f"{DATE}|food").success

    # The batch was created, but its answer never came back (the run died): the next round
    # finds it at the server by our id instead of sending its requests again.
    class AnswerLost(BatchClient):
        async def submit(self, ledger_id, lines, metadata):
            await super().submit(ledger_id, lines, metadata)
            raise ConnectionError("the connection dropped before the answer")

    prompts = resources["store"].get_store().load_prompt_examples(DATE, "food")
    assert len(prompts) == 6
    ledger = resources["store"].get_store().batch_ledger()
    settings = BatchSettings("gpt-4o-mini", 0.7, GENERATION_SYSTEM_PROMPT, None, "test")
    with serve_in_thread(batch_faults=BatchFaults(complete_after_s=3600)) as server:
        async def round_with(client_type):
            client = client_type(KEY, server.base_url)
            try:
                return await batch_round(client, ledger, "generated_texts",
                                         {(DATE, "food"): prompts}, settings, tmp_path, [], (KEY,))
            finally:
                await client.close()
        lost = asyncio.run(round_with(AnswerLost))
        assert lost.batches_created == 0 and "dropped" in lost.problems[0]
        again = asyncio.run(round_with(BatchClient))
        assert again.submitted == 0
        assert again.waiting[(DATE, "food")][0]["status"] in ("validating", "in_progress")
        assert server.batches.as_dict()["batches"] == 1 and server.batches.uploads == 1


def test_files_are_split_by_the_servers_limits(store, tmp_path, resources, instance):
    _head(instance, resources)
    partition = f"{DATE}|family"
    faults = BatchFaults(max_file_requests=4)
    with serve_in_thread(batch_faults=faults) as server:
        resources["text_generator"] = _generator(server)
        assert _materialize(instance, resources, ["prompt_examples"], partition).success
        prompts = resources["store"].get_store().load_prompt_examples(DATE, "family")
        ledger = resources["store"].get_store().batch_ledger()
        settings = BatchSettings("gpt-4o-mini", 0.7, GENERATION_SYSTEM_PROMPT, None, "test",
                                 max_requests_per_file=4, max_file_bytes=8_000)
        faults.max_file_bytes = 8_000

        async def one_round():
            client = BatchClient(KEY, server.base_url)
            try:
                return await batch_round(client, ledger, "generated_texts",
                                         {(DATE, "family"): prompts}, settings, tmp_path, [])
            finally:
                await client.close()
        submitted = asyncio.run(one_round())
        assert submitted.problems == [] and submitted.submitted == 6
        assert submitted.batches_created == server.batches.as_dict()["batches"] >= 2
        collected = asyncio.run(one_round())
    assert len(collected.texts) == 6 and not collected.waiting
