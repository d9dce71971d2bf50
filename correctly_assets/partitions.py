"""Partitions: themes come from the workbook, dates from the calendar."""

import dagster as dg

# Registered by `raw_sheet` from the workbook's theme sheet; a sensor adds new ones.
theme_partitions = dg.DynamicPartitionsDefinition(name="theme")

daily_partitions = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_offset=1)

# Keys read "<date>|<theme>": Dagster orders the dimensions by name.
theme_date_partitions = dg.MultiPartitionsDefinition(
    {"date": daily_partitions, "theme": theme_partitions}
)


def partition_date_and_theme(context: dg.AssetExecutionContext) -> tuple[str, str]:
    key = context.partition_key.keys_by_dimension
    return key["date"], key["theme"]
