"""The evaluation page's scoreboard: per evaluation set, one Markdown table of every model
scored in the run beside the copy baseline, rounded, with the delta to production; and the
edit F0.5 per error type as a second table.

`reports` maps a model's row name to its reports by set (`evaluate_corrections`' dict, with
"replies" from `corrector.reply_rates`): {"fine_tuned_model": {"validation": {...}, ...}}.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .report import BASELINE, MODEL

COPY_ROW = "copy baseline"
_DASH = "–"


def _percent(share: float | None) -> str:
    return _DASH if share is None else f"{100 * share:.1f}%"


def _signed(delta: float | None) -> str:
    return _DASH if delta is None else f"{delta:+.2f}"


def _row(name: str, report: Mapping[str, Any], system: str, production_gleu: float | None) -> str:
    gleu = report["gleu"][system]
    replies = report.get("replies", {}) if system == MODEL else {}
    cells = [name, f"{gleu:.2f}",
             _signed(None if production_gleu is None else gleu - production_gleu),
             _percent(report["exact_match"][system]),
             f"{report['edits'][system]['overall']['f0_5']:.3f}",
             _percent(replies.get("parse_rate")), _percent(replies.get("cut_off_rate")),
             _percent(replies.get("fallback_rate"))]
    return "| " + " | ".join(cells) + " |"


def set_table(set_name: str, reports: Mapping[str, Mapping[str, Any]],
              production: str | None = None) -> str:
    """One set's table: each model that has a report on it, then the copy baseline. The
    delta is to `production`'s GLEU (the row of that name), when it was scored."""
    scored = {name: by_set[set_name] for name, by_set in reports.items() if set_name in by_set}
    if not scored:
        raise ValueError(f"no model was scored on {set_name}")
    production_gleu = scored[production]["gleu"][MODEL] if production in scored else None
    header = ("| model | GLEU | Δ GLEU vs production | exact match | F0.5 | parse rate | "
              "cut-off rate | fallback rate |\n|---|--:|--:|--:|--:|--:|--:|--:|")
    rows = [_row(name, report, MODEL, None if name == production else production_gleu)
            for name, report in scored.items()]
    # The baseline copies the sources, which are the same for every model on a set.
    rows.append(_row(COPY_ROW, next(iter(scored.values())), BASELINE, production_gleu))
    sentences = next(iter(scored.values()))["sentences"]
    return f"**{set_name}** ({sentences} texts)\n\n{header}\n" + "\n".join(rows)


def error_type_table(set_name: str, reports: Mapping[str, Mapping[str, Any]],
                     max_types: int = 12) -> str:
    """Edit F0.5 per ERRANT error type on one set, a column per model and the copy
    baseline; the types with the most reference edits first (their count in brackets)."""
    scored = {name: by_set[set_name] for name, by_set in reports.items() if set_name in by_set}
    columns = {name: report["edits"][MODEL]["by_type"] for name, report in scored.items()}
    columns[COPY_ROW] = next(iter(scored.values()))["edits"][BASELINE]["by_type"]
    frequency: dict[str, int] = {}
    for by_type in columns.values():
        for error_type, s in by_type.items():
            frequency[error_type] = max(frequency.get(error_type, 0), s["tp"] + s["fn"])
    types = sorted(frequency, key=lambda t: (-frequency[t], t))[:max_types]
    if not types:
        return f"**{set_name}, F0.5 per error type**: no edits of any type"
    header = ("| error type | " + " | ".join(columns) + " |\n|---|"
              + "--:|" * len(columns))
    rows = ["| " + " | ".join([f"{t} ({frequency[t]})"]
                              + [f"{by_type[t]['f0_5']:.3f}" if t in by_type else _DASH
                                 for by_type in columns.values()]) + " |" for t in types]
    more = len(frequency) - len(types)
    tail = f"\n\n{more} rarer type(s) in the report." if more > 0 else ""
    return f"**{set_name}, F0.5 per error type**\n\n{header}\n" + "\n".join(rows) + tail


def scoreboard(reports: Mapping[str, Mapping[str, Any]], production: str | None = None,
               sets: tuple[str, ...] = ("validation", "jfleg")) -> str:
    """Every set's table, then every set's per-error-type table, as one Markdown text."""
    present = [s for s in sets if any(s in by_set for by_set in reports.values())]
    return "\n\n".join([*(set_table(s, reports, production) for s in present),
                        *(error_type_table(s, reports) for s in present)])
