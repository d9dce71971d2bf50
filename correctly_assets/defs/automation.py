"""Jobs, the daily schedule and the workbook sensor."""

import datetime as dt

import dagster as dg

from ..inputs import INPUT_ERRORS, input_digest, read_input
from .partitions import daily_partitions, theme_date_partitions, theme_partitions
from ..resources.files import WorkbookResource

workbook_job = dg.define_asset_job("workbook_job", selection=["raw_sheet", "yaml_spec"])
daily_data_job = dg.define_asset_job(
    "daily_data_job",
    selection=["prompt_examples", "generated_texts", "train_split"],
    partitions_def=theme_date_partitions,
)


def _partition_key(date: str, theme: str) -> str:
    return dg.MultiPartitionKey({"date": date, "theme": theme})


@dg.schedule(job=daily_data_job, cron_schedule="0 2 * * *", execution_timezone="UTC")
def daily_data_schedule(context: dg.ScheduleEvaluationContext):
    """Every theme's partition for the day that just ended, keyed by the schedule's own
    time, not by "now", so a late or re-run tick makes the same batch."""
    date = (context.scheduled_execution_time.date() - dt.timedelta(days=1)).isoformat()
    themes = context.instance.get_dynamic_partitions(theme_partitions.name)
    return [dg.RunRequest(run_key=f"{date}|{theme}", partition_key=_partition_key(date, theme))
            for theme in themes]


@dg.sensor(jobs=[workbook_job, daily_data_job], minimum_interval_seconds=60)
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
        run_requests=[dg.RunRequest(run_key=digest, job_name="workbook_job")] + [
            dg.RunRequest(run_key=f"{digest}|{theme}", job_name="daily_data_job",
                          partition_key=_partition_key(date, theme)) for theme in new],
        dynamic_partitions_requests=[theme_partitions.build_add_request(new)] if new else [],
    )
