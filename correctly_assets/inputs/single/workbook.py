"""Reading the workbook the pipeline starts from, with every problem named.

People edit this workbook in Excel, so each problem is reported the way they will find it:
sheet, Excel row number and column header (with its letter). Every problem is collected
before failing, so one round of fixes is enough.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
import pandas as pd
from openpyxl.utils import get_column_letter
from pydantic import BaseModel

from ...domain.models import (
    ExampleSentence, InstructionPrompt, KeyExpression, ScriptType, Speaker, Style, Theme, Workbook,
)
from ...domain.prompt_format import template_problem
from ..excel import (
    MAX_CELL_CHARS, MAX_COLUMNS, MAX_ROWS, WorkbookError, WorkbookProblem, data_extent, is_blank,
    near_miss, open_workbook, theme_name_problem,
)

@dataclass(frozen=True)
class _Layout:
    field: str  # the Workbook field the sheet fills
    record: type[BaseModel]
    columns: tuple[str, ...]


SHEETS: dict[str, _Layout] = {
    "correction_script_type": _Layout("script_types", ScriptType, ("name", "description")),
    "speaker": _Layout("speakers", Speaker, ("name", "description")),
    "style": _Layout("styles", Style, ("name", "description")),
    "theme": _Layout("themes", Theme, ("name", "title", "description")),
    "key_expression": _Layout("key_expressions", KeyExpression, ("theme", "expression", "meaning")),
    "instruction_prompt": _Layout(
        "instruction_prompts", InstructionPrompt, ("name", "script_type", "template")
    ),
    "example": _Layout("examples", ExampleSentence, ("theme", "text", "korean")),
}


@dataclass
class _Row:
    number: int
    values: dict[str, str | None]  # None where the cell had a problem


@dataclass
class _Sheet:
    name: str
    letters: dict[str, str]
    rows: list[_Row] = field(default_factory=list)

    def problem(self, row: int, column: str | None, message: str) -> WorkbookProblem:
        return WorkbookProblem(self.name, row, column, message, self.letters.get(column or ""))


def read_workbook(path: str | Path) -> Workbook:
    """The workbook at `path`, validated; a WorkbookError lists every problem found."""
    path = Path(path)
    book = open_workbook(path)
    problems: list[WorkbookProblem] = []
    sheets = {}
    for name, layout in SHEETS.items():
        sheet = _read_sheet(book, name, layout.columns, problems)
        if sheet is not None:
            sheets[name] = sheet
    _check(sheets, problems)
    if problems:
        order = list(SHEETS)
        problems.sort(key=lambda p: (order.index(p.sheet) if p.sheet in order else -1, p.row or 0))
        raise WorkbookError(path, problems)
    return Workbook(
        **{layout.field: tuple(layout.record(**row.values) for row in sheets[name].rows)
           for name, layout in SHEETS.items()},
        hidden_sheets=tuple(name for name in SHEETS if book[name].sheet_state != "visible"),
        ignored_sheets=tuple(name for name in book.sheetnames if name not in SHEETS),
    )


def workbook_to_dataframes(workbook: Workbook) -> dict[str, pd.DataFrame]:
    """One frame per sheet, in the workbook's layout, for previews and metadata."""
    return {
        name: pd.DataFrame(
            [record.model_dump() for record in getattr(workbook, layout.field)],
            columns=list(layout.columns),
        )
        for name, layout in SHEETS.items()
    }


def _read_sheet(
    book: openpyxl.Workbook, name: str, columns: tuple[str, ...], problems: list[WorkbookProblem]
) -> _Sheet | None:
    """The sheet's rows as stripped text; None when its sheet or columns are missing."""
    if name not in book.sheetnames:
        listing = ", ".join(f"'{n}'" for n in book.sheetnames)
        problems.append(WorkbookProblem(
            name, None, None, f"missing sheet{near_miss(name, book.sheetnames)}; the workbook has {listing}"
        ))
        return None
    last_row, last_column = data_extent(book[name])
    if last_row > MAX_ROWS or last_column > MAX_COLUMNS:
        problems.append(WorkbookProblem(name, None, None, (
            f"data reaches cell {get_column_letter(max(last_column, 1))}{last_row}; a sheet may "
            f"use at most {MAX_ROWS:,} rows and {MAX_COLUMNS} columns (delete what lies beyond "
            f"the table)")))
        return None
    rows = book[name].iter_rows(max_row=max(last_row, 1), max_col=max(last_column, 1))
    header = next(rows, ())
    positions: dict[str, list[int]] = {}
    for index, cell in enumerate(header):
        if isinstance(cell.value, str) and cell.value.strip():
            positions.setdefault(cell.value.strip(), []).append(index)
    found_all = True
    for column in columns:
        found = positions.get(column, [])
        if len(found) != 1:
            found_all = False
            message = (
                f"missing column in the header row{near_miss(column, list(positions))}"
                if not found
                else f"column appears {len(found)} times ({', '.join(get_column_letter(i + 1) for i in found)})"
            )
            problems.append(WorkbookProblem(name, 1, column, message))
    if not found_all:
        return None

    index_of = {column: positions[column][0] for column in columns}
    sheet = _Sheet(name, {column: get_column_letter(i + 1) for column, i in index_of.items()})
    for cells in rows:
        # Blank rows between or after the data are common in hand-edited sheets.
        if all(is_blank(cell.value) for cell in cells):
            continue
        number = cells[0].row
        values: dict[str, str | None] = {}
        for column in columns:
            values[column], problem = _cell_text(cells[index_of[column]])
            if problem:
                problems.append(sheet.problem(number, column, problem))
        sheet.rows.append(_Row(number, values))
    return sheet


def _cell_text(cell) -> tuple[str | None, str | None]:
    """(stripped text, None), or (None, what is wrong with the cell)."""
    value = cell.value
    if cell.data_type == "f":
        # Only the formula is read; its last saved result may be stale or missing.
        return None, f"formula not allowed; paste values ({value})"
    if cell.data_type == "e":
        return None, f"error value {value}; enter text"
    if isinstance(value, str):
        if len(value) >= MAX_CELL_CHARS:  # openpyxl cuts longer text to the limit, silently
            return None, (f"cell reaches Excel's limit of {MAX_CELL_CHARS:,} characters, so its "
                          "text may have been cut; shorten it")
        # NFC: text that looks the same is the same key (a theme typed on another machine)
        text = unicodedata.normalize("NFC", value.strip())
        return (text, None) if text else (None, "required value is empty")
    if value is None:
        return None, "required value is empty"
    if isinstance(value, bool):
        kind = "a TRUE/FALSE value"
    elif isinstance(value, (int, float)):
        kind = "a number"
    elif isinstance(value, (dt.datetime, dt.date, dt.time, dt.timedelta)):
        kind = "a date or time"
    else:
        kind = type(value).__name__
    return None, f"expected text, got {kind} ({value}); enter it as text"


def _check(sheets: dict[str, _Sheet], problems: list[WorkbookProblem]) -> None:
    """Rules across rows and sheets; rules needing a missing sheet are skipped."""
    for sheet in sheets.values():
        if not sheet.rows:
            problems.append(sheet.problem(2, None, "no rows below the header; at least one is needed"))
    for name in ("correction_script_type", "speaker", "style", "theme", "instruction_prompt"):
        if name in sheets:
            _report_duplicates(sheets[name], "name", lambda v: v["name"], "name", problems)
    if "key_expression" in sheets:
        _report_duplicates(
            sheets["key_expression"], "expression", lambda v: _pair(v["theme"], v["expression"]),
            "expression in this theme", problems,
        )
    if "example" in sheets:
        _report_duplicates(
            sheets["example"], "text", lambda v: _pair(v["theme"], v["text"]),
            "text in this theme", problems,
        )

    if "theme" in sheets:
        themes = sheets["theme"]
        for row in themes.rows:
            name = row.values["name"]
            why = name is not None and theme_name_problem(name)
            if why:
                problems.append(themes.problem(row.number, "name", (
                    f"invalid theme name {name!r}: {why} (it becomes a partition key and a "
                    "file name)")))
        theme_names = _names(themes, "name")
        for child, what in (("key_expression", "key expressions"), ("example", "examples")):
            if child in sheets:
                _report_unknown(sheets[child], "theme", theme_names, "theme", problems)
                used = _names(sheets[child], "theme")
                if sheets[child].rows:
                    for row in themes.rows:
                        name = row.values["name"]
                        if name is not None and name not in used:
                            problems.append(themes.problem(
                                row.number, "name", f"theme {name!r} has no {what} on sheet '{child}'"
                            ))

    if "instruction_prompt" in sheets:
        prompts = sheets["instruction_prompt"]
        if "correction_script_type" in sheets:
            known = _names(sheets["correction_script_type"], "name")
            _report_unknown(prompts, "script_type", known, "correction_script_type", problems)
        for row in prompts.rows:
            template = row.values["template"]
            problem = template_problem(template) if template is not None else None
            if problem:
                problems.append(prompts.problem(row.number, "template", problem))


def _pair(theme: str | None, text: str | None) -> tuple[str, str] | None:
    # Texts differing only in case or spacing are the same passage to a model.
    if theme is None or text is None:
        return None
    return theme, " ".join(text.split()).casefold()


def _names(sheet: _Sheet, column: str) -> set[str]:
    return {row.values[column] for row in sheet.rows if row.values[column] is not None}


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _report_duplicates(sheet: _Sheet, column: str, key, label: str, problems: list[WorkbookProblem]) -> None:
    first_row: dict[object, int] = {}
    for row in sheet.rows:
        value = key(row.values)
        if value is None:
            continue
        if value in first_row:
            problems.append(sheet.problem(row.number, column, (
                f"duplicate {label} {_shorten(row.values[column])!r} (first at row {first_row[value]})"
            )))
        else:
            first_row[value] = row.number


def _report_unknown(
    sheet: _Sheet, column: str, known: set[str], target: str, problems: list[WorkbookProblem]
) -> None:
    names = sorted(known)
    listing = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    for row in sheet.rows:
        value = row.values[column]
        if value is not None and value not in known:
            problems.append(sheet.problem(row.number, column, (
                f"unknown {column} {value!r}: no such name on sheet '{target}' (known: {listing})"
            )))
