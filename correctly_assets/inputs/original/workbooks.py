"""The original Correctly's two workbooks, read as they are and validated.

`text_repository.xlsx` holds what shapes the first LLM stage (the example writer): forms,
emotions and the tone of each emotion for each form, system and generation prompts,
creativity (the sampling temperature) and length (max tokens). `correction_script.xlsx`
holds what shapes the second (the correction answer): script types, speakers, styles,
themes, key expressions, instruction prompts. One sheet per table, sheet name = table name,
a numeric `id` column, foreign keys by id.

Every published variant is read: `form.speaker_num` as a number, or `form.speaker_num_id`
into a `speaker_num` sheet; `instruction_prompt` absent in the early copies; the output
sheets (`example`, `generated_text`, `train`, `evaluation_prompt`, `inference_evaluation`)
are not input and are listed, not read; sheets the original leaves empty (`theme`,
`key_expression`) may be empty. Anything else is a WorkbookError naming the file, sheet,
Excel row and column.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from openpyxl.utils import get_column_letter
from pydantic import BaseModel, ConfigDict

from ...domain.prompt_format import template_problem
from ..excel import (
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    MAX_ROWS,
    WorkbookError,
    WorkbookProblem,
    data_extent,
    is_blank,
    open_workbook,
    theme_name_problem,
)

TEXT_REPOSITORY = "text_repository.xlsx"
CORRECTION_SCRIPT = "correction_script.xlsx"
# The generation prompt's placeholders, named <table>_<column> as the original fills them,
# and the shorter names of its copies of 2025-05-08 and 2025-05-09.
GENERATION_PLACEHOLDERS = frozenset({
    "form_form", "form_description", "speaker_speaker", "mapping_emotion_form_tone",
    "example_example", "key_expression_key_expression", "theme_theme", "style_style", "etc",
    "form_name", "speaker", "emotion", "tone", "example", "key_expression", "theme", "style",
})
# The copies of 2025-05-08 and 2025-05-09 give creativity as a level, 1 to 5; the later
# copies give the temperature of each level, with the same descriptions.
CREATIVITY_LEVEL_TEMPERATURES = {1: 0.1, 2: 0.4, 3: 0.7, 4: 1.0, 5: 1.3}
OUTPUT_SHEETS = ("example", "generated_text", "train", "evaluation_prompt", "inference_evaluation")
# The partition of what the original leaves without a theme (an empty theme sheet, an
# example whose theme_id is NULL).
NO_THEME = "no-theme"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class Creativity(_Record):
    id: int
    degree: float  # the sampling temperature (a level 1-5 of the early copies, converted)
    description: str


class Length(_Record):
    id: int
    length: int  # max tokens


class Named(_Record):
    """A table of one text column besides its id (emotion, speaker, style, theme, ...)."""

    id: int
    text: str


class Form(_Record):
    id: int
    form: str
    description: str
    speaker_num: int


class Tone(_Record):
    """mapping_emotion_form: how a form is written in an emotion."""

    id: int
    emotion_id: int
    form_id: int
    tone: str


class ScriptTypePrompt(_Record):
    """A row of the original's `instruction_prompt` sheet: the second stage's instruction
    for one script type (this project's workbook has its own InstructionPrompt, a template)."""

    id: int
    type_id: int
    prompt: str


class OriginalWorkbooks(_Record):
    creativities: tuple[Creativity, ...]
    lengths: tuple[Length, ...]
    emotions: tuple[Named, ...]
    system_prompts: tuple[Named, ...]
    generation_prompts: tuple[Named, ...]
    forms: tuple[Form, ...]
    tones: tuple[Tone, ...]
    script_types: tuple[Named, ...]
    speakers: tuple[Named, ...]
    styles: tuple[Named, ...]
    themes: tuple[Named, ...]
    key_expressions: tuple[Named, ...]
    instruction_prompts: tuple[ScriptTypePrompt, ...]
    output_sheets: tuple[str, ...] = ()  # present, not read
    ignored_sheets: tuple[str, ...] = ()  # not in the original's layout
    hidden_sheets: tuple[str, ...] = ()  # read as data though hidden in Excel: reported

    @property
    def theme_names(self) -> list[str]:
        """The partition keys: the theme sheet's themes, or `no-theme` when the sheet is
        empty (the early copies leave it so)."""
        return [t.text for t in self.themes] or [NO_THEME]


# The largest whole number (an id, a length in tokens, a speaker count) a store column holds:
# PostgreSQL's integer.
MAX_WHOLE = 2**31 - 1
# Column kinds: an id, a reference (an id in another table), text, a number.
ID, REF, TEXT, FLOAT, INT = "id", "ref", "text", "float", "int"


@dataclass(frozen=True)
class _Table:
    columns: dict[str, str]
    may_be_empty: bool = False


_TEXT_REPOSITORY = {
    "creativity": _Table({"id": ID, "degree": FLOAT, "description": TEXT}),
    "length": _Table({"id": ID, "length": INT}),
    "emotion": _Table({"id": ID, "emotion": TEXT}),
    "system_prompt": _Table({"id": ID, "prompt": TEXT}),
    "generation_prompt": _Table({"id": ID, "prompt": TEXT}),
    "mapping_emotion_form": _Table({"id": ID, "emotion_id": REF, "form_id": REF, "tone": TEXT}),
}
_CORRECTION_SCRIPT = {
    "correction_script_type": _Table({"id": ID, "type": TEXT}),
    "speaker": _Table({"id": ID, "speaker": TEXT}),
    "style": _Table({"id": ID, "style": TEXT}),
    "theme": _Table({"id": ID, "theme": TEXT}, may_be_empty=True),
    "key_expression": _Table({"id": ID, "key_expression": TEXT}, may_be_empty=True),
}
_FORM_WITH_COUNT = {"id": ID, "form": TEXT, "description": TEXT, "speaker_num": INT}
_FORM_WITH_REF = {"id": ID, "form": TEXT, "description": TEXT, "speaker_num_id": REF}
_SPEAKER_NUM = _Table({"id": ID, "speaker_num": INT})
_INSTRUCTION_PROMPT = _Table({"id": ID, "type_id": REF, "prompt": TEXT})


class _Reader:
    """Reads one workbook's tables, collecting problems located by file, sheet, row, column."""

    def __init__(self, path: Path, problems: list[WorkbookProblem]):
        self.file = path.name
        self.book = open_workbook(path)
        self.problems = problems

    def problem(self, sheet: str, row: int | None, column: str | None, message: str,
                letter: str | None = None) -> None:
        self.problems.append(WorkbookProblem(f"{self.file}: {sheet}", row, column, message, letter))

    def header(self, sheet: str) -> list[str]:
        first = next(self.book[sheet].iter_rows(max_row=1, values_only=True), ())
        return [v.strip() for v in first if isinstance(v, str) and v.strip()]

    def table(self, sheet: str, table: _Table) -> list[dict] | None:
        """The sheet's rows as {column: value} (with "_row", the Excel row), or None."""
        if sheet not in self.book.sheetnames:
            self.problem(sheet, None, None, f"missing sheet; {self.file} has "
                         + ", ".join(f"'{n}'" for n in self.book.sheetnames))
            return None
        worksheet = self.book[sheet]
        last_row, last_column = data_extent(worksheet)
        if last_row > MAX_ROWS or last_column > MAX_COLUMNS:
            self.problem(sheet, None, None, (
                f"data reaches cell {get_column_letter(max(last_column, 1))}{last_row}; a sheet "
                f"may use at most {MAX_ROWS:,} rows and {MAX_COLUMNS} columns"))
            return None
        cells = worksheet.iter_rows(max_row=max(last_row, 1), max_col=max(last_column, 1))
        header = next(cells, ())
        index = {}
        for i, cell in enumerate(header):
            if isinstance(cell.value, str) and cell.value.strip():
                index.setdefault(cell.value.strip(), i)
        missing = [c for c in table.columns if c not in index]
        for column in missing:
            self.problem(sheet, 1, column, "missing column in the header row; the header has "
                         + ", ".join(f"'{n}'" for n in index))
        if missing:
            return None
        rows = []
        for row in cells:
            if all(is_blank(cell.value) for cell in row):
                continue
            values = {"_row": row[0].row}
            for column, kind in table.columns.items():
                cell = row[index[column]]
                values[column] = self._value(sheet, cell, column, kind, get_column_letter(index[column] + 1))
            rows.append(values)
        if not rows and not table.may_be_empty:
            self.problem(sheet, 2, None, "no rows; this table needs at least one")
        ids = {}
        for values in rows:
            if values["id"] is not None and values["id"] in ids:
                self.problem(sheet, values["_row"], "id", f"id {values['id']} repeats row "
                             f"{ids[values['id']]}", "A")
            ids.setdefault(values["id"], values["_row"])
        return rows

    def _value(self, sheet: str, cell, column: str, kind: str, letter: str):
        value = cell.value
        if cell.data_type == "f":
            self.problem(sheet, cell.row, column, f"formula not allowed; paste values ({value})", letter)
            return None
        if is_blank(value):
            self.problem(sheet, cell.row, column, "required value is empty", letter)
            return None
        if kind == TEXT:
            if not isinstance(value, str):
                self.problem(sheet, cell.row, column, f"expected text, found {value!r}", letter)
                return None
            if len(value) >= MAX_CELL_CHARS:
                self.problem(sheet, cell.row, column, "cell reaches Excel's limit of "
                             f"{MAX_CELL_CHARS:,} characters, so its text may have been cut", letter)
                return None
            # One form of each text: themes that differ only in their Unicode normalisation
            # (NFC and NFD) would be two partitions that look the same.
            return unicodedata.normalize("NFC", value.strip())
        number = value
        if isinstance(value, str):  # a number typed as text: '1', ' 0.4 '
            try:
                number = float(value.strip())
            except ValueError:
                number = None
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            self.problem(sheet, cell.row, column, f"expected a number, found {value!r}", letter)
            return None
        if not math.isfinite(number):  # 'inf' or 'nan' typed as text
            self.problem(sheet, cell.row, column, f"expected a finite number, found {value!r}", letter)
            return None
        if kind == FLOAT:
            return float(number)
        if float(number) != int(number):
            self.problem(sheet, cell.row, column, f"expected a whole number, found {value!r}", letter)
            return None
        whole = int(number)
        if whole > MAX_WHOLE:  # 3e9 tokens: no API takes it and the store cannot hold it
            self.problem(sheet, cell.row, column, f"{value!r} is over {MAX_WHOLE:,}, the largest "
                         "whole number the store holds", letter)
            return None
        if kind in (ID, REF) and whole < 1:
            self.problem(sheet, cell.row, column, f"an id is a positive whole number, found {value!r}", letter)
            return None
        return whole


def _check_refs(reader: _Reader, sheet: str, rows: list[dict] | None, column: str,
                target: str, targets: list[dict] | None) -> None:
    if rows is None or targets is None:
        return
    known = {t["id"] for t in targets}
    for row in rows:
        if row[column] is not None and row[column] not in known:
            reader.problem(sheet, row["_row"], column,
                           f"no row with id {row[column]} in sheet '{target}'")


def read_original_workbooks(directory: str | Path) -> OriginalWorkbooks:
    """The two workbooks in `directory`, validated; a WorkbookError lists every problem."""
    directory = Path(directory)
    problems: list[WorkbookProblem] = []
    text = _Reader(directory / TEXT_REPOSITORY, problems)
    script = _Reader(directory / CORRECTION_SCRIPT, problems)

    tables = {name: text.table(name, table) for name, table in _TEXT_REPOSITORY.items()}
    if "form" in text.book.sheetnames and "speaker_num_id" in text.header("form"):
        tables["speaker_num"] = text.table("speaker_num", _SPEAKER_NUM)
        forms = text.table("form", _Table(_FORM_WITH_REF))
        _check_refs(text, "form", forms, "speaker_num_id", "speaker_num", tables["speaker_num"])
        counts = {r["id"]: r["speaker_num"] for r in tables["speaker_num"] or ()}
        for form in forms or ():
            form["speaker_num"] = counts.get(form.pop("speaker_num_id"))
    else:
        forms = text.table("form", _Table(_FORM_WITH_COUNT))
    _check_refs(text, "mapping_emotion_form", tables["mapping_emotion_form"], "emotion_id",
                "emotion", tables["emotion"])
    _check_refs(text, "mapping_emotion_form", tables["mapping_emotion_form"], "form_id",
                "form", forms)
    for row in tables["generation_prompt"] or ():
        problem = row["prompt"] and template_problem(row["prompt"], GENERATION_PLACEHOLDERS)
        if problem:
            text.problem("generation_prompt", row["_row"], "prompt", problem)
    creativities = tables["creativity"] or []
    degrees = [r["degree"] for r in creativities if r["degree"] is not None]
    if degrees and max(degrees) > 2 and all(d in CREATIVITY_LEVEL_TEMPERATURES for d in degrees):
        for row in creativities:  # levels, as the early copies give them
            row["degree"] = CREATIVITY_LEVEL_TEMPERATURES[row["degree"]]
    for row in creativities:
        if row["degree"] is not None and not 0 <= row["degree"] <= 2:
            text.problem("creativity", row["_row"], "degree", (
                f"a temperature is between 0 and 2 (or a level 1 to 5 in every row), found "
                f"{row['degree']:g}"))
    for row in tables["length"] or ():
        if row["length"] is not None and row["length"] < 1:
            text.problem("length", row["_row"], "length", "max tokens must be at least 1")

    scripts = {name: script.table(name, table) for name, table in _CORRECTION_SCRIPT.items()}
    instructions = []
    if "instruction_prompt" in script.book.sheetnames:  # absent in the early copies
        instructions = script.table("instruction_prompt", _INSTRUCTION_PROMPT)
        _check_refs(script, "instruction_prompt", instructions, "type_id",
                    "correction_script_type", scripts["correction_script_type"])
    first_row = {}
    for row in scripts["theme"] or ():
        if row["theme"] and row["theme"] in first_row:  # one partition per theme
            script.problem("theme", row["_row"], "theme",
                           f"theme {row['theme']!r} repeats row {first_row[row['theme']]}")
        first_row.setdefault(row["theme"], row["_row"])
        why = row["theme"] and theme_name_problem(row["theme"])
        if why:
            script.problem("theme", row["_row"], "theme",
                           f"theme {row['theme']!r} cannot be a partition key: {why}")

    if problems:
        raise WorkbookError(directory, problems)

    def named(rows: list[dict], column: str) -> tuple[Named, ...]:
        return tuple(Named(id=r["id"], text=r[column]) for r in rows)

    def plain(rows: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "_row"} for r in rows]

    known = {*_TEXT_REPOSITORY, "form", "speaker_num", *_CORRECTION_SCRIPT, "instruction_prompt"}
    sheets = [*text.book.sheetnames, *script.book.sheetnames]
    return OriginalWorkbooks(
        creativities=tuple(Creativity(**r) for r in plain(tables["creativity"])),
        lengths=tuple(Length(**r) for r in plain(tables["length"])),
        emotions=named(tables["emotion"], "emotion"),
        system_prompts=named(tables["system_prompt"], "prompt"),
        generation_prompts=named(tables["generation_prompt"], "prompt"),
        forms=tuple(Form(**r) for r in plain(forms)),
        tones=tuple(Tone(**r) for r in plain(tables["mapping_emotion_form"])),
        script_types=named(scripts["correction_script_type"], "type"),
        speakers=named(scripts["speaker"], "speaker"),
        styles=named(scripts["style"], "style"),
        themes=named(scripts["theme"], "theme"),
        key_expressions=named(scripts["key_expression"], "key_expression"),
        instruction_prompts=tuple(ScriptTypePrompt(**r) for r in plain(instructions)),
        output_sheets=tuple(s for s in script.book.sheetnames if s in OUTPUT_SHEETS),
        ignored_sheets=tuple(s for s in sheets if s not in known and s not in OUTPUT_SHEETS),
        hidden_sheets=tuple(f"{file}: {ws.title}" for file, reader in
                            ((TEXT_REPOSITORY, text), (CORRECTION_SCRIPT, script))
                            for ws in reader.book.worksheets
                            if ws.title in known and ws.sheet_state != "visible"),
    )


def main(argv: list[str] | None = None) -> int:
    """python -m correctly_assets.inputs.original.workbooks DIRECTORY: reads the two
    workbooks there and prints what they hold, or every problem found."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("directory", help=f"holds {TEXT_REPOSITORY} and {CORRECTION_SCRIPT}")
    args = parser.parse_args(argv)
    try:
        books = read_original_workbooks(args.directory)
    except WorkbookError as error:
        print(error, file=sys.stderr)
        return 1
    for field, value in books:
        print(f"{field}: {', '.join(value) if field.endswith('sheets') else len(value)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
