"""The original's generation grid: ids and ranges, the Cartesian product, tones kept to their
forms, the answers' token bound, and the first stage's prompt filled under both namings."""

import pytest
import yaml

from correctly_assets.inputs.original.grid import (
    GridError,
    expand_grid,
    generation_prompt,
    parse_ids,
    read_grid_config,
)
from correctly_assets.inputs.original.workbooks import read_original_workbooks
from correctly_assets_tests.test_original_workbooks import (
    _correction_script,
    _text_repository,
    _write,
)

pytestmark = pytest.mark.unit

# The original's configuration shape (its airflow/config/.../example.yaml), values of our own.
CONFIG = yaml.safe_load("""
iteration_num: {type: generation_param, value: 2}
model: {type: generation_param, value: gpt-4o-mini}
creativity_id: {type: necessary_column, value: 1~3}
length_id: {type: necessary_column, value: [1, 2]}
system_prompt_id: {type: necessary_column, value: [1]}
generation_prompt_id: {type: necessary_column, value: [1]}
form_id: {type: necessary_column, value: [1, 2]}
mapping_emotion_form_id: {type: necessary_column, value: 1~3}
speaker_id: {type: necessary_column, value: [1]}
style_id: {type: necessary_column, value: [1]}
key_expression_id: {type: optional_column, value: []}
theme_id: {type: optional_column, value: 1~7}
example: {type: target_column, value: []}
""")


@pytest.fixture
def books(tmp_path):
    return read_original_workbooks(_write(tmp_path, _text_repository(False), _correction_script(False)))


def test_ids_ranges_and_empty_lists_parse_as_the_original_writes_them():
    assert parse_ids("x", [3, 4, 5]) == (3, 4, 5)
    assert parse_ids("x", "10~12") == (10, 11, 12)
    assert parse_ids("x", 4) == (4,)
    assert parse_ids("x", []) == () and parse_ids("x", None) == ()
    for bad in ("5~1", "a~b", [0], [1.5], True, "0~3"):
        with pytest.raises(GridError, match="^x: "):
            parse_ids("x", bad)


def test_the_grid_is_the_product_with_tones_kept_to_their_forms(books):
    grid = expand_grid(read_grid_config(CONFIG), books)
    # 3 creativities x 2 lengths x 2 forms x 3 tones x 2 iterations = 72; tones 1 and 2 are
    # form 1's and tone 3 is form 2's, so a third of the form x tone pairs are kept.
    assert len(grid.combinations) + grid.left_out == 72
    assert len(grid.combinations) == 3 * 2 * 3 * 2
    assert all(c.key_expression_id is None for c in grid.combinations)
    assert {(c.form_id, c.mapping_emotion_form_id) for c in grid.combinations} == {(1, 1), (1, 2), (2, 3)}
    assert grid.max_completion_tokens == sum({1: 100, 2: 600}[c.length_id] for c in grid.combinations)
    # the same configuration gives the same batch, in the same order
    assert expand_grid(read_grid_config(CONFIG), books) == grid


def test_a_necessary_column_left_empty_or_an_unknown_id_is_named(books):
    empty = {**CONFIG, "style_id": {"type": "necessary_column", "value": []}}
    with pytest.raises(GridError, match="style_id: a necessary column"):
        read_grid_config(empty)
    unknown = {**CONFIG, "length_id": {"type": "necessary_column", "value": "1~4"}}
    with pytest.raises(GridError, match="length_id: no length with id 3, 4 in the workbooks"):
        expand_grid(read_grid_config(unknown), books)
    huge = {**CONFIG, "creativity_id": {"type": "necessary_column", "value": "1~99999"}}
    with pytest.raises(GridError):
        expand_grid(read_grid_config(huge), books)


def test_the_first_stage_prompt_is_filled_under_either_naming(books, tmp_path):
    [first, *_] = expand_grid(read_grid_config(CONFIG), books).combinations
    prompt = generation_prompt(books, first, theme="일상적인 이야기를 일기처럼", example="예시 글")
    assert "형식: 설명문" in prompt and "어조: 밝은 어조" in prompt
    assert "주제: 일상적인 이야기를 일기처럼" in prompt and "예시: 예시 글" in prompt
    assert "{" not in prompt.replace("{어색한 영어 문장}", "")  # every placeholder filled
    early = read_original_workbooks(_write(tmp_path / "early", _text_repository(True),
                                           _correction_script(True)))
    [first, *_] = expand_grid(read_grid_config(CONFIG), early).combinations
    prompt = generation_prompt(early, first, theme="여행")
    assert "형식: 설명문" in prompt and "어조: 밝은 어조" in prompt and "주제: 여행" in prompt
