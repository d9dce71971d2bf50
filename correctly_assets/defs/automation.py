"""Jobs, the daily schedule, the workbook sensor and the batch sensor."""

import asyncio
import datetime as dt

import dagster as dg

from ..inputs import INPUT_ERRORS, input_digest, read_input
from .partitions import daily_partitions, theme_partitions
from ..llm.batch_mode import refresh_open
from ..resources.files import WorkbookResource
from ..resources.store import CorrectionStoreResource
from ..resources.text_generator import TextGeneratorResource

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


# Open batches checked per tick (each one call, within the client's deadline), and how long a
# batch may stay "submitting" before its run is taken to have died mid-submission.
BATCHES_CHECKED_PER_TICK = 200
SUBMISSION_STALE_AFTER_S = 1800
# A tick's checks end within this, well inside Dagster's 60 s limit on a sensor evaluation;
# batches not checked in time are checked first on the next tick.
SENSOR_CHECK_BUDGET_S = 30


@dg.sensor(target=dg.AssetSelection.assets(*DAILY_DATA_ASSETS, "preference_pairs"),
           minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def llm_batch_sensor(context: dg.SensorEvaluationContext, text_generator: TextGeneratorResource,
                     store: CorrectionStoreResource):
    """Batch mode: asks the server how the ledger's open batches stand, then requests a run
    for each partition whose batches have all ended. The run collects the partition (or
    submits again what came back as errors), with the assets after it that the submitting
    run had selected. The run key names the newest batch, so a partition is collected once
    per round."""
    if text_generator.mode != "batch":
        return dg.SkipReason("the text generator is not in batch mode (CORRECTLY_LLM_MODE)")
    if text_generator.openai is None:
        return dg.SkipReason("batch mode without an OpenAI-compatible server configured")
    ledger = store.get_store().batch_ledger()
    batches = ledger.live_batches(BATCHES_CHECKED_PER_TICK)

    async def refresh() -> None:
        client = text_generator.batch_client()
        try:
            await asyncio.wait_for(refresh_open(client, ledger, batches, SUBMISSION_STALE_AFTER_S,
                                                (text_generator.openai.api_key,)),
                                   SENSOR_CHECK_BUDGET_S)
        except TimeoutError:
            context.log.warning(f"not every open batch checked within {SENSOR_CHECK_BUDGET_S} s")
        finally:
            await client.close()
    if batches:
        asyncio.run(refresh())
    ready = ledger.ready_partitions()
    if not ready:
        return dg.SkipReason(f"{len(batches)} open batch(es) checked; no partition ready")
    return [dg.RunRequest(run_key=f"{asset}|{date}|{theme}|{newest}",
                          asset_selection=_keys([asset, *downstream]),
                          partition_key=_partition_key(date, theme),
                          tags={"correctly/batch": newest})
            for asset, date, theme, downstream, newest in ready]
