"""Partitions: themes come from the workbook, dates from the calendar."""

import os

import dagster as dg

# Registered by `raw_sheet` from the workbook's theme sheet; a sensor adds new ones.
theme_partitions = dg.DynamicPartitionsDefinition(name="theme")

daily_partitions = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_offset=1)

# Keys read "<date>|<theme>": Dagster orders the dimensions by name.
theme_date_partitions = dg.MultiPartitionsDefinition(
    {"date": daily_partitions, "theme": theme_partitions}
)

PARTITIONS_PER_RUN_ENV = "CORRECTLY_BACKFILL_PARTITIONS_PER_RUN"


def data_backfill_policy() -> dg.BackfillPolicy:
    """A backfill of the data assets runs as one run: they batch LLM calls and embeddings
    across partitions, and a run per partition would pay process start-up, model loading
    and store connection hundreds of times. CORRECTLY_BACKFILL_PARTITIONS_PER_RUN=N splits
    a backfill into runs of at most N partitions (say, to spread a huge one over workers)."""
    cap = os.environ.get(PARTITIONS_PER_RUN_ENV, "").strip()
    if not cap:
        return dg.BackfillPolicy.single_run()
    if not cap.isdigit() or int(cap) < 1:
        raise ValueError(f"{PARTITIONS_PER_RUN_ENV} must be a positive whole number, got {cap!r}")
    return dg.BackfillPolicy.multi_run(int(cap))


def partitions_in_run(context: dg.AssetExecutionContext) -> list[tuple[str, str]]:
    """(date, theme) of every partition this run materialises, in date then theme order:
    one for an ordinary run, many for a backfill run."""
    keys = [theme_date_partitions.get_partition_key_from_str(str(key))
            for key in context.partition_keys]
    return sorted((k.keys_by_dimension["date"], k.keys_by_dimension["theme"]) for k in keys)
