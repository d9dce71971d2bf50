"""The data half of the graph, materialised with dagster.materialize on a real embedded
PostgreSQL, with the offline generator and with the real openai client over HTTP."""

import json

import dagster as dg
import pytest
from dagster_openai import OpenAIResource

from correctly_assets.definitions import data_assets
from correctly_assets.domain.sample_workbook import sample_sheets, write_workbook
from correctly_assets.local_llm_server import serve_in_thread
from correctly_assets.resources.embedder import SentenceEmbedderResource
from correctly_assets.resources.files import ArtifactStoreResource, WorkbookResource
from correctly_assets.resources.store import CorrectionStoreResource
from correctly_assets.resources.text_generator import TextGeneratorResource

DATE = "2026-03-14"
PARTITIONED = ["prompt_examples", "generated_texts", "train_split"]


@pytest.fixture
def resources(database_url, tmp_path):
    return {
        "workbook": WorkbookResource(),
        "artifacts": ArtifactStoreResource(root=str(tmp_path / "artifacts")),
        "store": CorrectionStoreResource(database_url=database_url),
        "text_generator": TextGeneratorResource(),
        "embedder": SentenceEmbedderResource(),
    }


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def _materialize_head(instance, resources):
    return dg.materialize(data_assets, selection=["raw_sheet", "yaml_spec"],
                          instance=instance, resources=resources)


def _materialize_partition(instance, resources, theme, date=DATE, **kwargs):
    return dg.materialize(data_assets, selection=PARTITIONED, partition_key=f"{date}|{theme}",
                          instance=instance, resources=resources, **kwargs)


def _check_results(result):
    return {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def test_whole_graph_for_one_partition_is_idempotent(instance, resources, tmp_path):
    head = _materialize_head(instance, resources)
    assert head.success
    themes = instance.get_dynamic_partitions("theme")
    assert "travel" in themes and len(themes) == 8

    result = _materialize_partition(instance, resources, "travel")
    assert result.success
    assert all(_check_results(result).values()), _check_results(result)
    store = resources["store"].get_store()
    counts = {t: store.count_rows(t, date=DATE, theme="travel")
              for t in ("example", "generated_text", "train")}
    assert counts == {"example": 6, "generated_text": 6, "train": 6}
    split_dir = tmp_path / "artifacts" / "train_split" / DATE / "travel"
    lines = [json.loads(line) for name in ("train", "validation")
             for line in (split_dir / f"{name}.jsonl").read_text().splitlines()]
    assert len(lines) == 6
    assert [m["role"] for m in lines[0]["messages"]] == ["system", "user", "assistant"]
    first_split = sorted((e.prompt_id, e.split) for e in result.output_for_node("train_split"))

    again = _materialize_partition(instance, resources, "travel")
    assert again.success
    assert {t: store.count_rows(t, date=DATE, theme="travel") for t in counts} == counts
    assert sorted((e.prompt_id, e.split) for e in again.output_for_node("train_split")) == first_split


def test_near_duplicates_keep_their_side_across_days(instance, resources):
    _materialize_head(instance, resources)
    # Offline, a theme's six passages recur every day as the corrected text: each day's
    # split must put a passage on the side it got the first day.
    days = ["2026-03-14", "2026-03-15"]
    sides = []
    for day in days:
        result = _materialize_partition(instance, resources, "food", date=day)
        assert result.success and _check_results(result)["no_split_leakage"]
        examples = result.output_for_node("train_split")
        texts = {t.prompt_id: t.parsed.after for t in result.output_for_node("generated_texts")}
        sides.append({texts[e.prompt_id]: e.split for e in examples})
    assert sides[0] == sides[1]
    assert set(sides[0].values()) == {"train", "validation"}


def test_bad_workbook_fails_raw_sheet_and_writes_nothing(instance, resources, tmp_path):
    sheets = sample_sheets()
    sheets["speaker"][2][1] = 42  # a number where the description text belongs
    bad = tmp_path / "bad.xlsx"
    write_workbook(bad, sheets)
    resources["workbook"] = WorkbookResource(path=str(bad))
    result = dg.materialize(data_assets, selection=["raw_sheet"], instance=instance,
                            resources=resources, raise_on_error=False)
    assert not result.success
    message = str(result.get_step_failure_events()[0].step_failure_data.error)
    assert "speaker" in message and "row 3" in message and "description" in message
    assert resources["store"].get_store().count_rows("speaker") == 0
    assert instance.get_dynamic_partitions("theme") == []


def test_openai_path_over_http_with_failures(instance, resources):
    _materialize_head(instance, resources)
    with serve_in_thread(latency_s=0.01, failure_rate=0.2, seed=3) as server:
        resources["text_generator"] = TextGeneratorResource(
            openai=OpenAIResource(api_key="test-key", base_url=server.base_url),
            model="local-test-model", max_concurrency=4,
        )
        result = _materialize_partition(instance, resources, "work")
        assert server.stats.failures > 0
    assert result.success
    texts = result.output_for_node("generated_texts")
    assert len(texts) == 6 and all(t.accepted for t in texts)
    metadata = result.asset_materializations_for_node("generated_texts")[0].metadata
    assert metadata["usage_total_tokens"].value > 0
    assert "test-key" not in json.dumps({k: str(v.value) for k, v in metadata.items()})
