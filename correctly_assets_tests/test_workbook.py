"""Reading the workbook: the shipped sample, and every kind of bad input named in Excel terms.

Bad workbooks are real .xlsx files: the sample's rows, changed, written with openpyxl.
In `sheets[name][i]`, i is the Excel row minus one (row 1 is the header).
"""

import datetime as dt

import openpyxl
import pytest

from correctly_assets.inputs.single.sample import (
    SAMPLE_WORKBOOK_PATH, build_sample_workbook, sample_sheets, write_workbook,
)
from correctly_assets.inputs.single.workbook import WorkbookError, read_workbook, workbook_to_dataframes

pytestmark = pytest.mark.unit


def _error(tmp_path, sheets) -> WorkbookError:
    path = write_workbook(tmp_path / "book.xlsx", sheets)
    with pytest.raises(WorkbookError) as caught:
        read_workbook(path)
    assert str(path) in str(caught.value)
    return caught.value


def _only_problem(tmp_path, sheets) -> str:
    error = _error(tmp_path, sheets)
    assert len(error.problems) == 1, str(error)
    return str(error)


def test_shipped_sample_reads_cleanly():
    book = read_workbook(SAMPLE_WORKBOOK_PATH)
    counts = {name: len(frame) for name, frame in workbook_to_dataframes(book).items()}
    assert counts == {"correction_script_type": 5, "speaker": 4, "style": 3, "theme": 8,
                      "key_expression": 24, "instruction_prompt": 4, "example": 48}
    assert book.theme_names == ["travel", "food", "school_life", "work", "health",
                                "shopping", "hobbies", "family"]
    assert book.speakers[0].name == "Minji"
    assert all(e.korean and e.text for e in book.examples)


def test_shipped_sample_is_what_the_generator_writes(tmp_path):
    regenerated = build_sample_workbook(tmp_path / "sample.xlsx")
    assert regenerated.read_bytes() == SAMPLE_WORKBOOK_PATH.read_bytes()


def test_dataframes_follow_the_sheet_layout():
    frames = workbook_to_dataframes(read_workbook(SAMPLE_WORKBOOK_PATH))
    assert list(frames["theme"].columns) == ["name", "title", "description"]
    assert list(frames["example"].columns) == ["theme", "text", "korean"]
    assert frames["theme"]["name"].iloc[0] == "travel"


def test_missing_file(tmp_path):
    with pytest.raises(WorkbookError, match="file not found"):
        read_workbook(tmp_path / "absent.xlsx")


@pytest.mark.adversarial
@pytest.mark.parametrize("name", ["notes.xlsx", "notes.csv"])
def test_not_an_xlsx(tmp_path, name):
    path = tmp_path / name
    path.write_text("name,description\nMinji,a student\n")
    with pytest.raises(WorkbookError, match=rf"(?s){name}: 1 problem.*not a readable \.xlsx workbook"):
        read_workbook(path)


def test_missing_sheet_is_named_with_a_hint(tmp_path):
    sheets = sample_sheets()
    sheets["Speaker"] = sheets.pop("speaker")
    message = _only_problem(tmp_path, sheets)
    assert "sheet 'speaker': missing sheet (found 'Speaker'" in message


def test_missing_column_is_named_in_row_1(tmp_path):
    sheets = sample_sheets()
    sheets["theme"] = [[name, description] for name, _, description in sheets["theme"]]
    message = _only_problem(tmp_path, sheets)
    assert "sheet 'theme', row 1, column 'title': missing column" in message


def test_misspelt_column_gets_a_hint(tmp_path):
    sheets = sample_sheets()
    sheets["style"][0] = ["Name", "description"]
    assert "found 'Name'" in _only_problem(tmp_path, sheets)


@pytest.mark.parametrize("value, kind", [
    (42, "a number"),
    (3.5, "a number"),
    (True, "a TRUE/FALSE value"),
    (dt.datetime(2026, 3, 1), "a date or time"),
])
@pytest.mark.adversarial
def test_non_text_cells_are_refused_not_stringified(tmp_path, value, kind):
    sheets = sample_sheets()
    sheets["speaker"][2][1] = value
    message = _only_problem(tmp_path, sheets)
    assert f"sheet 'speaker', row 3, column 'description' (B): expected text, got {kind}" in message


@pytest.mark.adversarial
def test_formula_is_refused(tmp_path):
    sheets = sample_sheets()
    sheets["example"][5][2] = '=UPPER("hello")'
    message = _only_problem(tmp_path, sheets)
    assert "sheet 'example', row 6, column 'korean' (C): formula not allowed; paste values" in message


@pytest.mark.adversarial
def test_error_value_is_refused(tmp_path):
    sheets = sample_sheets()
    sheets["theme"][4][2] = "#N/A"
    assert "sheet 'theme', row 5, column 'description' (C): error value #N/A" in _only_problem(tmp_path, sheets)


def test_empty_required_cell(tmp_path):
    sheets = sample_sheets()
    sheets["key_expression"][7][2] = "   "
    message = _only_problem(tmp_path, sheets)
    assert "sheet 'key_expression', row 8, column 'meaning' (C): required value is empty" in message


def test_blank_rows_are_skipped_and_text_is_stripped(tmp_path):
    sheets = sample_sheets()
    sheets["speaker"].insert(2, [None, None])
    sheets["speaker"].insert(3, ["", "   "])
    sheets["speaker"][1] = ["  Minji ", "\ta student\n"]
    sheets["speaker"] += [[None, None]] * 3
    book = read_workbook(write_workbook(tmp_path / "book.xlsx", sheets))
    assert [s.name for s in book.speakers] == ["Minji", "Junho", "Seoyeon", "Donghyun"]
    assert book.speakers[0].description == "a student"


def test_rows_after_a_blank_row_keep_their_excel_numbers(tmp_path):
    sheets = sample_sheets()
    sheets["style"].insert(2, [None, None])
    sheets["style"][3][1] = 7  # Excel row 4 after the inserted blank row 3
    assert "sheet 'style', row 4, column 'description'" in _only_problem(tmp_path, sheets)


def test_extra_columns_and_sheets_are_ignored(tmp_path):
    sheets = sample_sheets()
    sheets["theme"] = [row + [note] for row, note in zip(sheets["theme"], ["notes", 1, True])] + \
        sheets["theme"][3:]
    sheets["scratch"] = [["anything"], [42]]
    book = read_workbook(write_workbook(tmp_path / "book.xlsx", sheets))
    assert len(book.themes) == 8


def test_header_only_sheet_needs_a_row(tmp_path):
    sheets = sample_sheets()
    sheets["style"] = sheets["style"][:1]
    assert "sheet 'style', row 2: no rows below the header" in _only_problem(tmp_path, sheets)


@pytest.mark.parametrize("sheet", ["correction_script_type", "speaker", "style", "instruction_prompt"])
def test_duplicate_names(tmp_path, sheet):
    sheets = sample_sheets()
    sheets[sheet][3][0] = sheets[sheet][1][0]
    message = str(_error(tmp_path, sheets))
    assert f"sheet '{sheet}', row 4, column 'name' (A): duplicate name" in message
    assert "(first at row 2)" in message


def test_duplicate_theme_name(tmp_path):
    sheets = sample_sheets()
    sheets["theme"][2][0] = "travel"  # "food" disappears, so its rows become unknown too
    message = str(_error(tmp_path, sheets))
    assert "sheet 'theme', row 3, column 'name' (A): duplicate name 'travel' (first at row 2)" in message
    assert "unknown theme 'food'" in message


def test_duplicate_example_text_within_a_theme(tmp_path):
    sheets = sample_sheets()
    first_text = sheets["example"][1][1]
    sheets["example"][3][1] = "  " + first_text.upper().replace(" ", "  ")
    message = _only_problem(tmp_path, sheets)
    assert "sheet 'example', row 4, column 'text' (B): duplicate text in this theme" in message


def test_same_example_text_in_two_themes_is_allowed(tmp_path):
    sheets = sample_sheets()
    sheets["example"][7][1] = sheets["example"][1][1]  # row 8 is a food passage
    assert len(read_workbook(write_workbook(tmp_path / "book.xlsx", sheets)).examples) == 48


@pytest.mark.parametrize("sheet, column, letter, index, what", [
    ("key_expression", "theme", "A", 0, "theme"),
    ("example", "theme", "A", 0, "theme"),
    ("instruction_prompt", "script_type", "B", 1, "script_type"),
])
def test_unknown_references(tmp_path, sheet, column, letter, index, what):
    sheets = sample_sheets()
    sheets[sheet][2][index] = "nonexistent"
    message = _only_problem(tmp_path, sheets)
    assert f"sheet '{sheet}', row 3, column '{column}' ({letter}): unknown {what} 'nonexistent'" in message


@pytest.mark.parametrize("sheet, what", [("example", "examples"), ("key_expression", "key expressions")])
def test_theme_without_examples_or_key_expressions(tmp_path, sheet, what):
    sheets = sample_sheets()
    sheets[sheet] = [row for row in sheets[sheet] if row[0] != "food"]
    message = _only_problem(tmp_path, sheets)
    assert f"sheet 'theme', row 3, column 'name' (A): theme 'food' has no {what}" in message


@pytest.mark.adversarial
@pytest.mark.parametrize("bad_name", ["1st_theme", "a" * 65, "travel|tips", "a/b", "trip.",
                                      "two  spaces", "a,b", "_hidden", "tab\there"])
def test_invalid_theme_name(tmp_path, bad_name):
    sheets = sample_sheets()
    for sheet in ("theme", "key_expression", "example"):
        for row in sheets[sheet][1:]:
            if row[0] == "school_life":
                row[0] = bad_name
    message = _only_problem(tmp_path, sheets)
    assert f"sheet 'theme', row 4, column 'name' (A): invalid theme name {bad_name!r}" in message


@pytest.mark.parametrize("template, expected", [
    ("You are {speaker} in {place}.", "unknown placeholder {place}"),
    ("You are {speaker} writing {speaker.upper}.",
     "placeholder {speaker.upper} uses attribute or index access"),
    ("You are {speaker[0]}.", "placeholder {speaker[0]} uses attribute or index access"),
    ("You are {speaker:>20000000}.", "placeholder {speaker:>20000000} has a format spec"),
    ("You are {speaker:>1000000000}.", "placeholder {speaker:>1000000000} has a format spec"),
    ("You are {speaker!r}.", "placeholder {speaker!r} has a format spec or conversion"),
    ("You are {speaker", "unbalanced braces"),
    ("You are } {speaker}", "unbalanced braces"),
    ("You are {}.", "empty placeholder {}"),
    ("You are {speaker:d}.", "placeholder {speaker:d} has a format spec"),
])
@pytest.mark.adversarial
def test_bad_templates(tmp_path, template, expected):
    sheets = sample_sheets()
    sheets["instruction_prompt"][3][2] = template
    message = _only_problem(tmp_path, sheets)
    assert f"sheet 'instruction_prompt', row 4, column 'template' (C): {expected}" in message


def test_literal_braces_in_a_template_are_fine(tmp_path):
    sheets = sample_sheets()
    sheets["instruction_prompt"][1][2] = "You are {speaker}; answer with {{Before}} first."
    assert read_workbook(write_workbook(tmp_path / "book.xlsx", sheets)).instruction_prompts


def test_all_problems_are_reported_in_sheet_order(tmp_path):
    sheets = sample_sheets()
    sheets["example"][10][0] = "nowhere"
    sheets["speaker"][4][0] = None
    sheets["theme"][6][1] = 2026
    error = _error(tmp_path, sheets)
    assert [(p.sheet, p.row, p.column, p.column_letter) for p in error.problems] == [
        ("speaker", 5, "name", "A"), ("theme", 7, "title", "B"), ("example", 11, "theme", "A")]
    message = str(error)
    assert message.startswith(f"workbook {tmp_path / 'book.xlsx'}: 3 problems")
    assert "sheet 'speaker', row 5, column 'name' (A): required value is empty" in message
    assert "sheet 'theme', row 7, column 'title' (B): expected text, got a number (2026)" in message
    assert "sheet 'example', row 11, column 'theme' (A): unknown theme 'nowhere'" in message


@pytest.mark.adversarial
def test_long_problem_listings_are_capped(tmp_path):
    sheets = sample_sheets()
    for row in sheets["example"][1:]:
        row[2] = 1.0
    sheets["key_expression"][1][2] = 2.0
    sheets["key_expression"][2][2] = 3.0
    error = _error(tmp_path, sheets)
    assert len(error.problems) == 50
    sheets["speaker"][1][1] = None
    error = _error(tmp_path, sheets)
    assert len(error.problems) == 51
    lines = str(error).splitlines()
    assert len(lines) == 52 and lines[-1] == "  ... and 1 more"


@pytest.mark.adversarial
def test_a_stray_cell_far_away_does_not_hang_the_reader(tmp_path):
    import time

    path = write_workbook(tmp_path / "book.xlsx", sample_sheets())
    book = openpyxl.load_workbook(path)
    book["theme"]["XFD1048576"] = " "  # one space, far beyond the table
    book.save(path)
    started = time.monotonic()
    assert read_workbook(path).themes  # blank: ignored, and the table reads as before
    assert time.monotonic() - started < 30  # seconds, where it took hours

    book["theme"]["XFD1048576"] = "x"  # real data out there is refused, by name
    book.save(path)
    with pytest.raises(WorkbookError, match=r"sheet 'theme'.*data reaches cell XFD1048576; a "
                                            r"sheet may use at most 50,000 rows and 200 columns"):
        read_workbook(path)


@pytest.mark.adversarial
def test_a_cell_over_excels_limit_is_refused(tmp_path):
    sheets = sample_sheets()
    sheets["example"][1][1] = "a" * 40_000
    message = _only_problem(tmp_path, sheets)
    assert ("sheet 'example', row 2, column 'text' (B): cell reaches Excel's limit of 32,767 "
            "characters, so its text may have been cut") in message
