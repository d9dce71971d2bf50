"""What both inputs share in reading Excel: problems named by file, sheet, row and column,
the limits past which a sheet is refused, and the rule for theme names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import openpyxl

# A theme name becomes a Dagster partition key and a file name: 1 to 64 letters of any
# script (the original Correctly's themes are Korean phrases), digits, '_', '-' and single
# spaces, starting with a letter and not ending with a space. Nothing else: '|' joins the
# date and theme of a partition key, '/' and '.' would make paths, ',' and brackets have
# meanings in Dagster's partition selections, control characters in every one of them.
THEME_NAME_PATTERN = re.compile(r"^(?=.{1,64}$)[^\W\d_](?:[\w-]| (?! ))*(?<! )$")
# A file name holds at most 255 bytes: a theme's name, with the longest suffix a file of it
# gets (".jsonl"), stays well under. 64 Hangul syllables are 192 bytes; 62 four-byte
# letters (248) would pass the pattern and then fail to become a file.
MAX_THEME_BYTES = 200
THEME_NAME_RULE = ("1 to 64 letters (any script), digits, '_', '-' or single spaces, starting "
                   f"with a letter, at most {MAX_THEME_BYTES} bytes in UTF-8")


def theme_name_problem(name: str) -> str | None:
    """Why `name` cannot be a theme (a partition key and a file name), or None."""
    if not THEME_NAME_PATTERN.match(name):
        return f"use {THEME_NAME_RULE}"
    size = len(name.encode("utf-8"))
    if size > MAX_THEME_BYTES:
        return f"it is {size} bytes in UTF-8; use {THEME_NAME_RULE}"
    return None

MAX_LISTED_PROBLEMS = 50


@dataclass(frozen=True)
class WorkbookProblem:
    """One problem, located as a person sees it in Excel (row 1 is the header)."""

    sheet: str | None
    row: int | None
    column: str | None
    message: str
    column_letter: str | None = None

    def __str__(self) -> str:
        where = []
        if self.sheet:
            where.append(f"sheet '{self.sheet}'")
        if self.row:
            where.append(f"row {self.row}")
        if self.column:
            letter = f" ({self.column_letter})" if self.column_letter else ""
            where.append(f"column '{self.column}'{letter}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class WorkbookError(ValueError):
    """The workbook cannot be used; `problems` lists everything found wrong with it."""

    def __init__(self, path: str | Path, problems: list[WorkbookProblem]):
        self.path = Path(path)
        self.problems = list(problems)
        lines = [f"  - {problem}" for problem in self.problems[:MAX_LISTED_PROBLEMS]]
        if len(self.problems) > MAX_LISTED_PROBLEMS:
            lines.append(f"  ... and {len(self.problems) - MAX_LISTED_PROBLEMS} more")
        count = len(self.problems)
        heading = f"workbook {self.path}: {count} problem{'' if count == 1 else 's'}"
        super().__init__("\n".join([heading, *lines]))


def open_workbook(path: Path) -> openpyxl.Workbook:
    if not path.is_file():
        reason = "not a file" if path.exists() else "file not found"
        raise WorkbookError(path, [WorkbookProblem(None, None, None, reason)])
    try:
        # data_only=False keeps formulas visible, so they can be refused.
        return openpyxl.load_workbook(path, data_only=False)
    except Exception as error:  # openpyxl raises many kinds for a damaged or foreign file
        message = f"not a readable .xlsx workbook ({type(error).__name__}: {error})"
        raise WorkbookError(path, [WorkbookProblem(None, None, None, message)]) from error


def near_miss(wanted: str, present: list[str]) -> str:
    for name in present:
        if name.strip().lower() == wanted:
            return f" (found '{name}'; names must match exactly, in lower case)"
    return ""


# Far beyond any real workbook of this kind; past them a sheet is refused by name, in seconds.
MAX_ROWS, MAX_COLUMNS = 50_000, 200
MAX_CELL_CHARS = 32_767  # Excel's own limit for a cell


def data_extent(sheet) -> tuple[int, int]:
    """(last row, last column) holding a non-blank value. Read from the cells the file
    stores, not the sheet's claimed dimensions: one space typed in cell XFD1048576 would
    otherwise make every row 16,384 cells wide, a million rows long."""
    cells = getattr(sheet, "_cells", None)  # openpyxl keeps only the cells the file has
    if cells is None:
        return sheet.max_row, sheet.max_column
    present = [(row, column) for (row, column), cell in cells.items() if not is_blank(cell.value)]
    if not present:
        return 0, 0
    return max(r for r, _ in present), max(c for _, c in present)


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
