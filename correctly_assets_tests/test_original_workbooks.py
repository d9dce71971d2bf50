"""The original Correctly's two workbooks, in the shapes of its published copies (the fixtures
are written here, in those shapes, with text of their own)."""

from pathlib import Path

import pytest

from correctly_assets.inputs.original.workbooks import (
    CORRECTION_SCRIPT,
    TEXT_REPOSITORY,
    main,
    read_original_workbooks,
)
from correctly_assets.inputs.single.sample import write_workbook
from correctly_assets.inputs.single.workbook import WorkbookError

pytestmark = pytest.mark.unit

LATE_PROMPT = ("##### 목적 #####\n글을 쓰세요.\n형식: {form_form}\n설명: {form_description}\n"
               "작성자: {speaker_speaker}\n어조: {mapping_emotion_form_tone}\n예시: {example_example}\n"
               "필수 표현: {key_expression_key_expression}\n주제: {theme_theme}\n"
               "스타일: {style_style}\n기타: {etc}")
EARLY_PROMPT = ("형식: {form_name}\n설명: {form_description}\n작성자: {speaker}\n어조: {tone}\n"
                "예시: {example}\n필수 표현: {key_expression}\n주제: {theme}\n스타일: {style}\n기타: {etc}")


def _text_repository(early: bool) -> dict[str, list[list]]:
    sheets = {
        "creativity": [["id", "degree", "description"]] + (
            [[i, i, f"level {i}"] for i in range(1, 6)] if early
            else [[1, 0.1, "교과서적인"], [2, 0.7, "균형잡힌"], [3, 1.3, "독창적인"]]),
        "length": [["id", "length"], [1, 100], [2, 600]],
        "emotion": [["id", "emotion"], [1, "긍정"], [2, "부정"]],
        "system_prompt": [["id", "prompt"], [1, "자연스럽게 쓰세요."]],
        "generation_prompt": [["id", "prompt"], [1, EARLY_PROMPT if early else LATE_PROMPT]],
        "mapping_emotion_form": [["id", "emotion_id", "form_id", "tone"],
                                 [1, 1, 1, "밝은 어조"], [2, 2, 1, "차분한 어조"], [3, 1, 2, "정중한 어조"]],
    }
    if early:
        sheets["speaker_num"] = [["id", "speaker_num"], [1, 0], [2, 2]]
        sheets["form"] = [["id", "form", "description", "speaker_num_id"],
                          [1, "설명문", "사실을 설명하는 글", 1], [2, "대화문", "두 사람의 대화", 2]]
    else:
        sheets["form"] = [["id", "form", "description", "speaker_num"],
                          [1, "설명문", "사실을 설명하는 글", 0], [2, "대화문", "두 사람의 대화", 2]]
    return sheets


def _correction_script(early: bool) -> dict[str, list[list]]:
    sheets = {
        # trailing unnamed columns and blank rows, as the published copies have them
        "correction_script_type": [["id", "type", None, None], [1, "영어 문장 교정", None, None],
                                   [None, None, None, None], [None, None, None, None]],
        "speaker": [["id", "speaker"], [1, "영어 선생님"]],
        "style": [["id", "style"], [1, "## 답변 형태 ##\n### 교정 전 ###\n{어색한 영어 문장}"],
                  [None, None]],
        "theme": [["id", "theme"]] + ([] if early else [[1, "일상적인 이야기를 일기처럼"],
                                                        [2, "여행의 즐거움을 3인칭으로"]]),
        "key_expression": [["id", "key_expression"]],
        "example": [["id", "creativity_id", "length_id", "system_prompt_id", "generation_prompt_id",
                     "form_id", "mapping_emotion_form_id", "style_id", "key_expression_id",
                     "theme_id", "speaker_id", "example", "etc", "created_at", "modified_at"]],
        "generated_text": [["id", "creativity_id", "length_id", "example_id", "generated_text",
                            "etc", "created_at", "modified_at"]],
    }
    if early:
        sheets["evaluation_prompt"] = [["id", "type_id", "evaluation_prompt"], [1, 1, "평가"]]
        sheets["inference_evaluation"] = [["id", "generated_text_id", "evaluation_prompt_id",
                                           "label", "inference", "etc", "created_at", "modified_at"]]
    else:
        sheets["train"] = [["id", "instruction_prompt_id", "input", "output", "rejected",
                            "generated_text_id", "created_at", "modified_at", "etc"]]
        sheets["instruction_prompt"] = [["id", "type_id", "prompt"], [1, 1, "당신은 선생님입니다."]]
    return sheets


def _write(directory: Path, text: dict, script: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    write_workbook(directory / TEXT_REPOSITORY, text)
    write_workbook(directory / CORRECTION_SCRIPT, script)
    return directory


def test_the_latest_layout_reads_with_its_korean_themes(tmp_path):
    books = read_original_workbooks(_write(tmp_path, _text_repository(False), _correction_script(False)))
    assert [c.degree for c in books.creativities] == [0.1, 0.7, 1.3]
    assert [l.length for l in books.lengths] == [100, 600]
    assert [(t.emotion_id, t.form_id, t.tone) for t in books.tones][0] == (1, 1, "밝은 어조")
    assert [f.speaker_num for f in books.forms] == [0, 2]
    assert [t.text for t in books.themes] == ["일상적인 이야기를 일기처럼", "여행의 즐거움을 3인칭으로"]
    assert [s.text for s in books.script_types] == ["영어 문장 교정"]  # blank rows skipped
    assert books.key_expressions == ()  # left empty, as the original leaves it
    assert [(p.type_id, p.prompt) for p in books.instruction_prompts] == [(1, "당신은 선생님입니다.")]
    assert books.output_sheets == ("example", "generated_text", "train")


def test_the_early_layout_reads_with_its_drift(tmp_path):
    books = read_original_workbooks(_write(tmp_path, _text_repository(True), _correction_script(True)))
    # form.speaker_num_id into the speaker_num sheet; creativity levels 1-5 as temperatures
    assert [f.speaker_num for f in books.forms] == [0, 2]
    assert [c.degree for c in books.creativities] == [0.1, 0.4, 0.7, 1.0, 1.3]
    assert books.themes == () and books.instruction_prompts == ()
    assert books.output_sheets == ("example", "generated_text", "evaluation_prompt",
                                   "inference_evaluation")


def _problems(tmp_path, text=None, script=None) -> str:
    directory = _write(tmp_path, text or _text_repository(False), script or _correction_script(False))
    with pytest.raises(WorkbookError) as error:
        read_original_workbooks(directory)
    return str(error.value)


@pytest.mark.adversarial
def test_problems_are_named_by_file_sheet_row_and_column(tmp_path):
    text = _text_repository(False)
    text["mapping_emotion_form"][2][2] = 99  # no such form
    text["length"][2][1] = "long"  # not a number
    text["creativity"][2][1] = 2.5  # not a temperature
    text["emotion"].append([1, "중립"])  # a repeated id
    text["generation_prompt"][1][1] += " {mood}"
    script = _correction_script(False)
    script["theme"].append([3, "a|b"])
    script["theme"].append([4, "일상적인 이야기를 일기처럼"])  # two partitions of one name
    del script["speaker"]
    message = _problems(tmp_path, text, script)
    for expected in [
        "sheet 'text_repository.xlsx: mapping_emotion_form', row 3, column 'form_id': "
        "no row with id 99 in sheet 'form'",
        "sheet 'text_repository.xlsx: length', row 3, column 'length' (B): expected a number, "
        "found 'long'",
        "sheet 'text_repository.xlsx: creativity', row 3, column 'degree': a temperature is "
        "between 0 and 2 (or a level 1 to 5 in every row), found 2.5",
        "sheet 'text_repository.xlsx: emotion', row 4, column 'id' (A): id 1 repeats row 2",
        "sheet 'text_repository.xlsx: generation_prompt', row 2, column 'prompt': unknown "
        "placeholder {mood}",
        "sheet 'correction_script.xlsx: speaker': missing sheet",
        "sheet 'correction_script.xlsx: theme', row 4, column 'theme': theme 'a|b' cannot be a "
        "partition key",
        "sheet 'correction_script.xlsx: theme', row 5, column 'theme': theme '일상적인 이야기를 "
        "일기처럼' repeats row 2",
    ]:
        assert expected in message, (expected, message)


@pytest.mark.adversarial
def test_numbers_no_api_or_store_takes_are_refused_before_any_call(tmp_path):
    """A length of 3e9 or 1e300 tokens, inf or nan typed as text: named by cell when the
    workbooks are read, before a call is paid for (they once overflowed the store after 45)."""
    text = _text_repository(False)
    text["length"] += [[3, 3e9], [4, 1e300], [5, "inf"]]
    text["creativity"].append([4, "nan", "level"])
    message = _problems(tmp_path, text, _correction_script(False))
    for row, value in ((4, "3000000000"), (5, "1e+300")):
        assert (f"sheet 'text_repository.xlsx: length', row {row}, column 'length' (B): {value} "
                "is over 2,147,483,647, the largest whole number the store holds") in message
    assert ("sheet 'text_repository.xlsx: length', row 6, column 'length' (B): expected a finite "
            "number, found 'inf'") in message
    assert ("sheet 'text_repository.xlsx: creativity', row 5, column 'degree' (B): expected a "
            "finite number, found 'nan'") in message


@pytest.mark.adversarial
def test_a_missing_workbook_and_a_missing_column_are_named(tmp_path):
    text = _text_repository(False)
    text["form"] = [["id", "form", "speaker_num"], [1, "설명문", 0]]
    message = _problems(tmp_path, text)
    assert ("sheet 'text_repository.xlsx: form', row 1, column 'description': missing column "
            "in the header row") in message
    (tmp_path / CORRECTION_SCRIPT).unlink()
    with pytest.raises(WorkbookError, match="file not found"):
        read_original_workbooks(tmp_path)


def test_the_command_line_prints_what_the_workbooks_hold(tmp_path, capsys):
    directory = _write(tmp_path, _text_repository(True), _correction_script(True))
    assert main([str(directory)]) == 0
    out = capsys.readouterr().out
    assert "forms: 2" in out and "tones: 3" in out and "themes: 0" in out
    (directory / TEXT_REPOSITORY).write_text("not a workbook")
    assert main([str(directory)]) == 1
    assert "not a readable .xlsx workbook" in capsys.readouterr().err


@pytest.mark.adversarial
def test_a_hidden_sheet_is_read_and_reported(tmp_path):
    import openpyxl

    directory = _write(tmp_path / "hidden", _text_repository(False), _correction_script(False))
    book = openpyxl.load_workbook(directory / CORRECTION_SCRIPT)
    book["style"].sheet_state = "hidden"
    book.save(directory / CORRECTION_SCRIPT)
    books = read_original_workbooks(directory)
    assert books.hidden_sheets == (f"{CORRECTION_SCRIPT}: style",)
    assert books.styles  # read as data all the same
