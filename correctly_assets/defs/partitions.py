"""Partitions: themes come from the workbook, dates from the calendar."""

import dagster as dg

from ..settings import backfill_partitions_per_run, first_partition_date

# Registered by `raw_sheet` from the workbook's theme sheet; a sensor adds new ones.
theme_partitions = dg.DynamicPartitionsDefinition(name="theme")

daily_partitions = dg.DailyPartitionsDefinition(start_date=first_partition_date(), end_offset=1)

# Keys read "<date>|<theme>": Dagster orders the dimensions by name.
theme_date_partitions = dg.MultiPartitionsDefinition(
    {"date": daily_partitions, "theme": theme_partitions}
)

def data_backfill_policy() -> dg.BackfillPolicy:
    """A backfill of the data assets runs as one run: they batch LLM calls and embeddings
    across partitions, and a run per partition would pay process start-up, model loading
    and store connection hundreds of times. CORRECTLY_BACKFILL_PARTITIONS_PER_RUN=N splits
    a backfill into runs of at most N partitions (say, to spread a huge one over workers)."""
    cap = backfill_partitions_per_run()
    return dg.BackfillPolicy.single_run() if cap is None else dg.BackfillPolicy.multi_run(cap)


_RANGE_START, _RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


class PartitionsDisagree(dg.Failure):
    """A run whose partition tags and partition range name different partitions."""


def partitions_in_run(context: dg.AssetExecutionContext) -> list[tuple[str, str]]:
    """(date, theme) of every partition this run materialises, in date then theme order:
    one for an ordinary run, many for a backfill run.

    A ranged run must materialise exactly its range. Dagster's *job* backfill of a
    multi-partitioned job tags each ranged run with the last selected partition's keys as
    well (dagster 1.13), so the run would write that one partition while the backfill
    reports every selected one done: such a run fails here, before it writes anything. The
    UI offers no such job (defs/automation.py); this guards the API's job backfills.
    """
    keys = sorted(str(key) for key in context.partition_keys)
    start, end = context.run.tags.get(_RANGE_START), context.run.tags.get(_RANGE_END)
    if start and end:
        in_range = sorted(str(key) for key in theme_date_partitions.get_partition_keys_in_range(
            dg.PartitionKeyRange(start, end), dynamic_partitions_store=context.instance))
        if in_range != keys:
            raise PartitionsDisagree(
                f"this run's range {start}..{end} holds {len(in_range)} partition(s), but its "
                f"partition tags name {len(keys)} ({', '.join(keys[:3])}"
                f"{', ...' if len(keys) > 3 else ''}); nothing was written. A job backfill of a "
                "multi-partitioned job tags its ranged runs wrongly: backfill the assets instead "
                "(in the UI, select prompt_examples, generated_texts and train_split in the asset "
                "graph, then Materialize selected; or python -m correctly_assets.cli.backfill).")
    parsed = [theme_date_partitions.get_partition_key_from_str(key) for key in keys]
    return sorted((k.keys_by_dimension["date"], k.keys_by_dimension["theme"]) for k in parsed)
