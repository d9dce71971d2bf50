"""Dates as partitions write them: YYYY-MM-DD exactly."""

from __future__ import annotations

import datetime as dt


def iso_date(value: object, what: str) -> dt.date:
    """`value` as a date; ValueError naming `what` for anything but YYYY-MM-DD (a date
    Python would also accept, such as 20260105 or 2026-W02-1, is refused)."""
    try:
        parsed = dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.isoformat() != value:
        raise ValueError(f"{what} must be a date written YYYY-MM-DD, got {value!r}")
    return parsed
