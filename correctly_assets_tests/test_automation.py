"""The workbook sensor and the daily schedule, evaluated against a real instance."""

import datetime as dt
import pytest
import os

import dagster as dg

from correctly_assets.defs.automation import daily_data_schedule, workbook_sensor
from correctly_assets.inputs.single.sample import sample_sheets, write_workbook
from correctly_assets.resources.files import WorkbookResource

pytestmark = pytest.mark.unit

WORKBOOK = ["raw_sheet", "yaml_spec"]
DAILY_DATA = ["generated_texts", "prompt_examples", "train_split"]


def _names(request: dg.RunRequest) -> list[str]:
    return sorted(key.to_user_string() for key in request.asset_selection)


def test_sensor_registers_new_themes_once_per_workbook_version(tmp_path):
    path = tmp_path / "book.xlsx"
    sheets = sample_sheets()
    write_workbook(path, sheets)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("theme", ["travel"])
        context = dg.build_sensor_context(instance=instance, resources={
            "workbook": WorkbookResource(path=str(path))})
        result = workbook_sensor(context)
        assert result.dynamic_partitions_requests[0].partition_keys == [
            t[0] for t in sheets["theme"][1:] if t[0] != "travel"]
        selections = [_names(r) for r in result.run_requests]
        assert selections.count(WORKBOOK) == 1 and selections.count(DAILY_DATA) == 7
        assert all(r.partition_key.keys_by_dimension["theme"] != "travel"
                   for r in result.run_requests if _names(r) == DAILY_DATA)

        unchanged = dg.build_sensor_context(instance=instance, cursor=context.cursor,
                                            resources={"workbook": WorkbookResource(path=str(path))})
        assert isinstance(workbook_sensor(unchanged), dg.SkipReason)

        sheets["speaker"][2][1] = 7
        write_workbook(path, sheets)
        broken = dg.build_sensor_context(instance=instance, cursor=context.cursor,
                                         resources={"workbook": WorkbookResource(path=str(path))})
        skipped = workbook_sensor(broken)
        assert isinstance(skipped, dg.SkipReason) and "row 3" in skipped.skip_message


def test_schedule_requests_every_theme_for_the_day_before_its_tick():
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("theme", ["food", "travel"])
        tick = dt.datetime(2026, 6, 2, 2, 0, tzinfo=dt.timezone.utc)
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        requests = daily_data_schedule(context)
    assert sorted(r.run_key for r in requests) == ["2026-06-01|food", "2026-06-01|travel"]
    assert {r.partition_key.keys_by_dimension["date"] for r in requests} == {"2026-06-01"}


def _materialized(instance, asset, *partitions):
    for partition in partitions:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=partition))


def _evaluate(instance, now, previous=None):
    from correctly_assets.definitions import defs

    return dg.evaluate_automation_conditions(
        defs=defs, instance=instance, evaluation_time=now,
        asset_selection=dg.AssetSelection.assets(
            "train_split", "fine_tuned_model", "model_evaluation", "registered_model"),
        cursor=previous.cursor if previous else None,
    )


def test_split_and_model_follow_their_upstreams_for_recent_days():
    now = dt.datetime(2026, 6, 2, 3, 0, tzinfo=dt.timezone.utc)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("theme", ["food", "travel"])
        first = _evaluate(instance, now)
        assert first.total_requested == 0

        # Yesterday's texts for both themes, and a 20-day-old re-generation.
        _materialized(instance, "generated_texts", "2026-06-01|food", "2026-06-01|travel",
                      "2026-05-13|food")
        second = _evaluate(instance, now, first)
        assert second.get_requested_partitions(dg.AssetKey("train_split")) == {
            "2026-06-01|food", "2026-06-01|travel"}
        # Splits and model have different partitions, so cannot share a run: the model
        # follows on the next tick, once the splits exist.
        assert second.get_requested_partitions(dg.AssetKey("fine_tuned_model")) == set()
        _materialized(instance, "train_split", "2026-06-01|food", "2026-06-01|travel")
        third = _evaluate(instance, now, second)
        assert third.get_requested_partitions(dg.AssetKey("fine_tuned_model")) == {"2026-06-01"}
        # ... evaluated and registered in the same run, where the gate may promote it.
        for downstream in ("model_evaluation", "registered_model"):
            assert third.get_requested_partitions(dg.AssetKey(downstream)) == {"2026-06-01"}
        assert third.get_requested_partitions(dg.AssetKey("train_split")) == set()

        # Once handled, nothing more until an upstream changes again.
        for asset in ("fine_tuned_model", "model_evaluation", "registered_model"):
            _materialized(instance, asset, "2026-06-01")
        fourth = _evaluate(instance, now, third)
        assert fourth.total_requested == 0
        _materialized(instance, "train_split", "2026-06-01|food")
        fifth = _evaluate(instance, now, fourth)
        assert fifth.get_requested_partitions(dg.AssetKey("fine_tuned_model")) == {"2026-06-01"}

        # A dpo_model, trained on request, is scored and weighed by the gate when it lands
        # (its absence held nothing back above).
        for asset in ("fine_tuned_model", "model_evaluation", "registered_model"):
            _materialized(instance, asset, "2026-06-01")
        sixth = _evaluate(instance, now, fifth)
        assert sixth.total_requested == 0
        _materialized(instance, "dpo_model", "2026-06-01")
        seventh = _evaluate(instance, now, sixth)
        for asset in ("model_evaluation", "registered_model"):
            assert seventh.get_requested_partitions(dg.AssetKey(asset)) == {"2026-06-01"}
        assert seventh.get_requested_partitions(dg.AssetKey("fine_tuned_model")) == set()


def test_the_first_partition_date_is_configurable_and_checked(tmp_path):
    import subprocess
    import sys

    script = ("from correctly_assets.definitions import defs; "
              "from correctly_assets.defs.partitions import daily_partitions; "
              "print(daily_partitions.get_first_partition_key())")
    env = {**os.environ, "CORRECTLY_FIRST_PARTITION_DATE": "2025-05-08", "DAGSTER_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "2025-05-08"
    env["CORRECTLY_FIRST_PARTITION_DATE"] = "8 May 2025"
    done = subprocess.run([sys.executable, "-c", "import correctly_assets.definitions"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "CORRECTLY_FIRST_PARTITION_DATE must be a date written YYYY-MM-DD, got '8 May 2025'" in done.stderr


def test_sensor_watches_the_original_workbooks_and_their_grid(tmp_path):
    from correctly_assets.inputs.original.sample import build_original_sample

    directory = build_original_sample(tmp_path / "original")
    resources = {"workbook": WorkbookResource(path=str(directory))}
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources=resources)
        result = workbook_sensor(context)
        assert result.dynamic_partitions_requests[0].partition_keys == [
            "주말에 있었던 일을 일기처럼", "여행 계획을 친구와 상의하듯이", "건강한 습관을 소개하는 설명문"]
        unchanged = dg.build_sensor_context(instance=instance, cursor=context.cursor,
                                            resources=resources)
        assert isinstance(workbook_sensor(unchanged), dg.SkipReason)
        # the grid is part of the input: a change to it alone is a new version
        grid = directory / "grid.yaml"
        grid.write_text(grid.read_text() + "\n# one more line\n")
        changed = dg.build_sensor_context(instance=instance, cursor=context.cursor,
                                          resources=resources)
        assert _names(workbook_sensor(changed).run_requests[0]) == WORKBOOK
        grid.unlink()
        missing = dg.build_sensor_context(instance=instance, resources=resources)
        assert "not all its files" in workbook_sensor(missing).skip_message
