"""Jobs, the daily schedule and the workbook sensor."""

import datetime as dt

import dagster as dg

from ..inputs import INPUT_ERRORS, input_digest, read_input
from .partitions import daily_partitions, theme_partitions
from ..resources.files import WorkbookResource

WORKBOOK_ASSETS = ["raw_sheet", "yaml_spec"]
DAILY_DATA_ASSETS = ["prompt_examples", "generated_texts", "train_split"]

workbook_job = dg.define_asset_job("workbook_job", selection=WORKBOOK_ASSETS)
# No partitioned job: the schedule and the sensor target the assets themselves. A job shows
# its page's "Launch backfill", and Dagster's job backfill of a multi-partitioned job tags
# each ranged run with one partition's keys (dagster 1.13), so that path could only fail
# (partitions.partitions_in_run refuses such a run). Backfills go through the assets:
# the asset graph's "Materialize selected", or python -m correctly_assets.cli.backfill.


def _keys(names: list[str]) -> list[dg.AssetKey]:
    return [dg.AssetKey(name) for name in names]


def _partition_key(date: str, theme: str) -> str:
    return dg.MultiPartitionKey({"date": date, "theme": theme})


@dg.schedule(target=dg.AssetSelection.assets(*DAILY_DATA_ASSETS), cron_schedule="0 2 * * *",
             execution_timezone="UTC")
def daily_data_schedule(context: dg.ScheduleEvaluationContext):
    """Every theme's partition for the day that just ended, keyed by the schedule's own
    time, not by "now", so a late or re-run tick makes the same batch."""
    date = (context.scheduled_execution_time.date() - dt.timedelta(days=1)).isoformat()
    themes = context.instance.get_dynamic_partitions(theme_partitions.name)
    return [dg.RunRequest(run_key=f"{date}|{theme}", partition_key=_partition_key(date, theme))
            for theme in themes]


@dg.sensor(target=dg.AssetSelection.assets(*WORKBOOK_ASSETS, *DAILY_DATA_ASSETS),
           minimum_interval_seconds=60)
def workbook_sensor(context: dg.SensorEvaluationContext, workbook: WorkbookResource):
    """When the workbook changes: re-materialise raw_sheet and yaml_spec, register new themes
    as partitions, and request today's partitions for them."""
    path = workbook.path
    digest = input_digest(path)
    if digest is None:
        return dg.SkipReason(f"workbook {path} not found (or, a directory, not all its files)")
    if digest == context.cursor:
        return dg.SkipReason("workbook unchanged")
    try:
        themes = read_input(path).theme_names
    except INPUT_ERRORS as err:
        context.update_cursor(digest)  # report once per version, not every minute
        return dg.SkipReason(f"workbook {path} is invalid: {err}")
    known = set(context.instance.get_dynamic_partitions(theme_partitions.name))
    new = [t for t in themes if t not in known]
    date = daily_partitions.get_last_partition_key()
    context.update_cursor(digest)
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=digest, asset_selection=_keys(WORKBOOK_ASSETS))] + [
            dg.RunRequest(run_key=f"{digest}|{theme}", asset_selection=_keys(DAILY_DATA_ASSETS),
                          partition_key=_partition_key(date, theme)) for theme in new],
        dynamic_partitions_requests=[theme_partitions.build_add_request(new)] if new else [],
    )
