"""The data half of the graph, materialised with dagster.materialize on a real embedded
PostgreSQL, with the offline generator and with the real openai client over HTTP."""

import contextlib
import json
import socket

import dagster as dg
import pytest
from dagster_openai import OpenAIResource

from correctly_assets.definitions import data_assets
from correctly_assets.inputs.single.sample import sample_sheets, write_workbook
from correctly_assets.testing.hostile_llm_server import hostile_server
from correctly_assets.testing.local_llm_server import serve_in_thread
from correctly_assets.resources.files import WorkbookResource
from correctly_assets.resources.text_generator import TextGeneratorResource

pytestmark = pytest.mark.integration

DATE = "2026-03-14"
PARTITIONED = ["prompt_examples", "generated_texts", "train_split"]


def _materialize_head(instance, resources):
    return dg.materialize(data_assets, selection=["raw_sheet", "yaml_spec"],
                          instance=instance, resources=resources)


def _materialize_partition(instance, resources, theme, date=DATE, **kwargs):
    return dg.materialize(data_assets, selection=PARTITIONED, partition_key=f"{date}|{theme}",
                          instance=instance, resources=resources, **kwargs)


def _check_results(result):
    return {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def _sides(store, date, theme):
    return sorted((e.prompt_id, e.split) for e in store.load_train_examples(up_to_date=date)
                  if (e.date, e.theme) == (date, theme))


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
              for t in ("prompt_example", "generated_text", "train_split")}
    assert counts == {"prompt_example": 6, "generated_text": 6, "train_split": 6}
    split_dir = tmp_path / "artifacts" / "train_split" / DATE / "travel"
    lines = [json.loads(line) for name in ("train", "validation")
             for line in (split_dir / f"{name}.jsonl").read_text().splitlines()]
    assert len(lines) == 6
    assert [m["role"] for m in lines[0]["messages"]] == ["system", "user", "assistant"]
    first_split = _sides(store, DATE, "travel")

    again = _materialize_partition(instance, resources, "travel")
    assert again.success
    assert {t: store.count_rows(t, date=DATE, theme="travel") for t in counts} == counts
    assert _sides(store, DATE, "travel") == first_split


def test_near_duplicates_keep_their_side_across_days(instance, resources):
    _materialize_head(instance, resources)
    store = resources["store"].get_store()
    # Offline, a theme's six passages recur every day as the corrected text: each day's
    # split must put a passage on the side it got the first day.
    days = ["2026-03-14", "2026-03-15"]
    sides = []
    for day in days:
        result = _materialize_partition(instance, resources, "food", date=day)
        assert result.success and _check_results(result)["no_split_leakage"]
        texts = {t.prompt_id: t.parsed.after for t in store.load_generated_texts(day, "food")}
        sides.append({texts[prompt_id]: side for prompt_id, side in _sides(store, day, "food")})
    assert sides[0] == sides[1]
    assert set(sides[0].values()) == {"train", "validation"}


def test_a_korean_theme_name_is_a_partition_key_a_file_and_rows(instance, resources, tmp_path):
    # The original Correctly's themes are Korean phrases, spaces included.
    theme = "일상적인 이야기를 일기처럼"
    sheets = sample_sheets()
    for sheet in ("theme", "key_expression", "example"):
        for row in sheets[sheet][1:]:
            if row[0] == "travel":
                row[0] = theme
    workbook = tmp_path / "korean.xlsx"
    write_workbook(workbook, sheets)
    resources["workbook"] = WorkbookResource(path=str(workbook))
    _materialize_head(instance, resources)
    assert theme in instance.get_dynamic_partitions("theme")
    result = _materialize_partition(instance, resources, theme)
    assert result.success
    [materialization] = result.asset_materializations_for_node("train_split")
    assert materialization.partition == f"{DATE}|{theme}"
    store = resources["store"].get_store()
    assert store.count_rows("generated_text", DATE, theme) == 6
    assert store.count_rows("train_split", DATE, theme) == 6
    artifacts = tmp_path / "artifacts"
    assert (artifacts / "yaml_spec" / f"{theme}.yaml").read_text(encoding="utf-8").count(theme)
    assert (artifacts / "train_split" / DATE / theme / "train.jsonl").exists()


@pytest.mark.adversarial
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



def test_a_theme_taken_out_of_the_workbook_and_hidden_sheets_are_reported(
        instance, resources, tmp_path):
    import openpyxl

    _materialize_head(instance, resources)
    assert "travel" in instance.get_dynamic_partitions("theme")
    sheets = sample_sheets()
    for name in ("theme", "key_expression", "example"):  # every row of the theme goes
        sheets[name] = [row for row in sheets[name] if row[0] != "travel"]
    changed = write_workbook(tmp_path / "changed.xlsx", sheets)
    book = openpyxl.load_workbook(changed)
    book["style"].sheet_state = "hidden"
    book.create_sheet("notes")["A1"] = "not part of the layout"
    book.save(changed)
    resources["workbook"] = WorkbookResource(path=str(changed))

    result = _materialize_head(instance, resources)
    metadata = result.asset_materializations_for_node("raw_sheet")[0].metadata
    assert metadata["removed_themes"].value == ["travel"]
    assert metadata["hidden_sheets"].value == ["style"]
    assert metadata["ignored_sheets"].value == ["notes"]
    assert "travel" not in instance.get_dynamic_partitions("theme")
    spec_metadata = result.asset_materializations_for_node("yaml_spec")[0].metadata
    assert spec_metadata["removed_specs"].value == ["travel"]
    assert not (tmp_path / "artifacts" / "yaml_spec" / "travel.yaml").exists()
    assert (tmp_path / "artifacts" / "yaml_spec" / "food.yaml").exists()

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
    texts = resources["store"].get_store().load_generated_texts(DATE, "work")
    assert len(texts) == 6 and all(t.accepted for t in texts)
    metadata = result.asset_materializations_for_node("generated_texts")[0].metadata
    assert metadata["usage_total_tokens"].value > 0
    assert "test-key" not in json.dumps({k: str(v.value) for k, v in metadata.items()})


def test_a_backfill_range_runs_as_one_run_with_one_set_of_rows_per_partition(instance, resources):
    _materialize_head(instance, resources)
    themes = instance.get_dynamic_partitions("theme")
    days = ["2026-02-01", "2026-02-02", "2026-02-03"]
    # What the backfill daemon launches for a single-run policy: one run over a key range.
    tags = {"dagster/asset_partition_range_start": f"{days[0]}|{themes[0]}",
            "dagster/asset_partition_range_end": f"{days[-1]}|{themes[-1]}"}
    for _ in range(2):  # a repeated backfill replaces, never duplicates
        result = dg.materialize(data_assets, selection=PARTITIONED, instance=instance,
                                resources=resources, tags=tags)
        assert result.success
        assert all(_check_results(result).values()), _check_results(result)
    materialized = {m.partition for m in result.asset_materializations_for_node("train_split")}
    assert materialized == {f"{d}|{t}" for d in days for t in themes}
    store = resources["store"].get_store()
    for table in ("prompt_example", "generated_text", "train_split"):
        counts = {(d, t): store.count_rows(table, date=d, theme=t) for d in days for t in themes}
        assert set(counts.values()) == {6}, (table, counts)
    assert store.count_rows("generated_text") == 6 * len(days) * len(themes)


@pytest.mark.adversarial
def test_answers_received_before_the_store_failed_are_not_paid_for_again(
        instance, resources, tmp_path):
    """The database refuses the rows after every call has been answered (a real PostgreSQL
    error, raised by a trigger): the retry takes the answers from the journal."""
    from sqlalchemy import text

    _materialize_head(instance, resources)
    key = f"{DATE}|travel"
    dg.materialize(data_assets, selection=["prompt_examples"], partition_key=key,
                   instance=instance, resources=resources)
    engine = resources["store"].get_store().engine
    with engine.begin() as conn:
        conn.execute(text("""CREATE FUNCTION refuse_rows() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'the store is unavailable'; END $$"""))
        conn.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON generated_text "
                          "FOR EACH ROW EXECUTE FUNCTION refuse_rows()"))
    journal = tmp_path / "artifacts" / "generated_texts" / "journal" / DATE / "travel.jsonl"

    def generate():
        return dg.materialize(data_assets, selection=["generated_texts"], partition_key=key,
                              instance=instance, resources=resources, raise_on_error=False)

    try:
        with serve_in_thread(latency_s=0.01, failure_rate=0.2, seed=5) as server:
            resources["text_generator"] = TextGeneratorResource(
                openai=OpenAIResource(api_key="test-key", base_url=server.base_url),
                model="local-test-model", max_concurrency=4)
            failed = generate()
            assert not failed.success
            assert "the store is unavailable" in str(failed.get_step_failure_events()[0]
                                                     .event_specific_data.error)
            paid = server.stats.requests - server.stats.failures
            assert paid == 6 and len(journal.read_text().splitlines()) == 6
            assert "test-key" not in journal.read_text()

            with engine.begin() as conn:
                conn.execute(text("DROP TRIGGER refuse ON generated_text"))
            retried = generate()
            assert retried.success
            assert server.stats.requests - server.stats.failures == paid  # nothing asked again
            metadata = retried.asset_materializations_for_node("generated_texts")[0].metadata
            assert metadata["answers_from_journal"].value == 6
            assert metadata["usage_calls"].value == 0
            texts = resources["store"].get_store().load_generated_texts(DATE, "travel")
            assert len(texts) == 6 and all(t.accepted for t in texts)
            assert not journal.exists()  # stored: the journal is done

            # A deliberate re-materialisation asks the model again.
            assert generate().success
            assert server.stats.requests - server.stats.failures == paid + 6
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER IF EXISTS refuse ON generated_text"))
            conn.execute(text("DROP FUNCTION IF EXISTS refuse_rows()"))


DIARY = "일상적인 이야기를 일기처럼"


def _original(resources, tmp_path):
    from correctly_assets_tests.test_original_spec import write_original_input

    directory = write_original_input(tmp_path / "original")
    return {**resources, "workbook": WorkbookResource(path=str(directory))}


def test_the_original_workbooks_run_both_llm_stages_per_korean_partition(
        instance, resources, tmp_path):
    resources = _original(resources, tmp_path)
    head = _materialize_head(instance, resources)
    assert head.success
    assert instance.get_dynamic_partitions("theme") == [DIARY, "여행의 즐거움을 3인칭으로"]
    spec_metadata = head.asset_materializations_for_node("yaml_spec")[0].metadata
    assert spec_metadata["grid_combinations_per_partition"].value == 12
    assert spec_metadata["max_completion_tokens_per_partition"].value == 2 * 6 * (100 + 600)
    assert DIARY in spec_metadata["grid_per_partition"].value
    # What a day of every theme can cost with the generator's model, both ways.
    assert spec_metadata["llm_model_priced"].value == "gpt-4o-mini"
    batch = spec_metadata["max_usd_batch_per_day_of_every_theme"].value
    assert 0 < batch == pytest.approx(
        spec_metadata["max_usd_synchronous_per_day_of_every_theme"].value / 2, abs=1e-4)

    result = _materialize_partition(instance, resources, DIARY)
    assert result.success
    store = resources["store"].get_store()
    written = store.load_prompt_examples(DATE, DIARY, with_rejected=True)
    used = store.load_prompt_examples(DATE, DIARY)
    # the 100-token length cuts some examples off: kept with the reason, asked nothing more
    assert len(written) == 12 and 0 < len(used) < 12
    assert all(p.example and p.example.strip() in p.prompt for p in used)
    assert {p.example_rejection for p in written if p not in used} == {
        "unparseable answer: answer is truncated: the token limit cut it off (finish_reason=length)"}
    assert store.count_rows("generated_text", date=DATE, theme=DIARY) == len(used)
    assert store.count_rows("train_split", date=DATE, theme=DIARY) == sum(
        t.accepted for t in store.load_generated_texts(DATE, DIARY))
    checks = _check_results(result)
    assert checks.pop("llm_smoke_test") is False  # a warning: some examples were cut off
    assert all(checks.values()), checks
    metadata = result.asset_materializations_for_node("prompt_examples")[0].metadata
    assert metadata["rows"].value == 12 and metadata["examples"].value == len(used)
    assert f"{DATE}|{DIARY}" in metadata["per_partition"].value

    texts = store.load_generated_texts(DATE, DIARY)
    assert _materialize_partition(instance, resources, DIARY).success
    assert store.load_prompt_examples(DATE, DIARY, with_rejected=True) == written
    assert store.load_generated_texts(DATE, DIARY) == texts


def test_the_original_stages_send_each_combinations_settings_over_http(
        instance, resources, tmp_path):
    resources = _original(resources, tmp_path)
    _materialize_head(instance, resources)
    with serve_in_thread(latency_s=0.01, failure_rate=0.2, seed=5) as server:
        resources["text_generator"] = TextGeneratorResource(
            openai=OpenAIResource(api_key="test-key", base_url=server.base_url),
            model="local-test-model", max_concurrency=4, temperature=0.5, max_tokens=2000)
        result = dg.materialize(data_assets, selection=["prompt_examples", "generated_texts"],
                                partition_key=f"{DATE}|{DIARY}", instance=instance,
                                resources=resources)
        settings = list(server.stats.settings)
    assert result.success
    # never the generator's own 0.5 and 2000: each combination's creativity and length
    assert {(s["temperature"], s["max_tokens"]) for s in settings} == {
        (0.1, 100), (0.1, 600), (1.3, 100), (1.3, 600)}
    assert {s["system"] for s in settings} == {"자연스럽게 쓰세요."}
    store = resources["store"].get_store()
    used = store.load_prompt_examples(DATE, DIARY)
    assert 0 < len(used) < 12
    assert store.count_rows("generated_text", date=DATE, theme=DIARY) == len(used)


@pytest.mark.parametrize("failure", ["unreachable", "[[html]]", "[[garbage]]", "[[nochoices]]"])
def test_a_model_out_of_reach_keeps_both_stages_stored_rows(instance, resources, tmp_path, failure):
    """No usable answer at all, whatever it looks like (no server, a proxy's HTML page with
    status 200, garbage, a completion without choices): the stored rows stay."""
    resources = _original(resources, tmp_path)
    _materialize_head(instance, resources)
    key = f"{DATE}|{DIARY}"
    assert dg.materialize(data_assets, selection=["prompt_examples", "generated_texts"],
                          partition_key=key, instance=instance, resources=resources).success
    store = resources["store"].get_store()
    examples = store.load_prompt_examples(DATE, DIARY, with_rejected=True)
    texts = store.load_generated_texts(DATE, DIARY)
    with contextlib.ExitStack() as stack:
        if failure == "unreachable":
            with socket.socket() as probe:  # a port nothing listens on
                probe.bind(("127.0.0.1", 0))
                base_url = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
        else:
            base_url = stack.enter_context(hostile_server(always=failure))
        resources["text_generator"] = TextGeneratorResource(
            openai=OpenAIResource(api_key="test-key", base_url=base_url),
            model="local-test-model", max_retries=0)
        _fail_both_stages(instance, resources, key)
    # nothing replaced by failures
    assert store.load_prompt_examples(DATE, DIARY, with_rejected=True) == examples
    assert store.load_generated_texts(DATE, DIARY) == texts


def _fail_both_stages(instance, resources, key):
    """Both LLM stages fail for the partition, naming it, and never the key."""
    for asset in ("prompt_examples", "generated_texts"):
        result = dg.materialize(data_assets, selection=[asset], partition_key=key,
                                instance=instance, resources=resources, raise_on_error=False)
        assert not result.success
        [failure] = result.get_step_failure_events()
        message = failure.step_failure_data.error.message
        assert "every call failed for 1 partition(s)" in message and key in message, message
        assert "test-key" not in message


@pytest.mark.adversarial
@pytest.mark.parametrize("break_it", ["grid typo", "name too long in bytes", "NFC twin"])
def test_a_workbook_change_that_fails_leaves_partitions_themes_and_specs_as_they_were(
        instance, resources, tmp_path, break_it):
    """A theme renamed together with a mistake elsewhere: nothing of the change is applied
    (the old partition, theme row and spec file stay; no new partition)."""
    import unicodedata

    from correctly_assets.inputs.original.workbooks import CORRECTION_SCRIPT
    from correctly_assets.inputs.single.sample import write_workbook
    from correctly_assets_tests.test_original_workbooks import _correction_script

    resources = _original(resources, tmp_path)
    assert _materialize_head(instance, resources).success
    directory = tmp_path / "original"
    partitions = instance.get_dynamic_partitions("theme")
    store = resources["store"].get_store()
    themes = store.count_rows("theme")
    specs_dir = tmp_path / "artifacts" / "yaml_spec"
    spec_files = {p.name: p.read_bytes() for p in specs_dir.iterdir()}

    script = _correction_script(False)
    if break_it == "grid typo":
        script["theme"][1][1] = "새로운 이름의 주제"  # renamed ...
        (directory / "grid.yaml").write_text("example:\n  theme_id: [1, 2\n", encoding="utf-8")
    elif break_it == "name too long in bytes":
        script["theme"][1][1] = "𝒜" * 62  # 62 four-byte letters: 248 bytes, no file name
    else:  # the same theme typed in its decomposed (NFD) form: one partition, named twice
        script["theme"].append([3, unicodedata.normalize("NFD", DIARY)])
    write_workbook(directory / CORRECTION_SCRIPT, script)

    result = dg.materialize(data_assets, selection=["raw_sheet", "yaml_spec"], instance=instance,
                            resources=resources, raise_on_error=False)
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert failure.step_key == "raw_sheet"
    message = str(failure.step_failure_data.error)
    assert {"grid typo": "grid.yaml", "name too long in bytes": "248 bytes in UTF-8",
            "NFC twin": "repeats row 2"}[break_it] in message, message
    assert instance.get_dynamic_partitions("theme") == partitions
    assert store.count_rows("theme") == themes
    assert {p.name: p.read_bytes() for p in specs_dir.iterdir()} == spec_files
