"""The original's two LLM stages for one theme: its spec, the first stage's requests (one per
combination, with the combination's system prompt, temperature and max tokens), the second
stage's one-shot prompts, and what a partition costs."""

import pytest
import yaml

from correctly_assets.llm.generation import generate_texts, offline_complete
from correctly_assets.inputs.original.grid import (
    GRID_FILE,
    GridError,
    read_grid_config,
    read_grid_file,
)
from correctly_assets.inputs.original.spec import (
    ANSWER_SECTIONS,
    build_original_specs,
    example_requests,
    grid_cost,
    one_shot_prompts,
)
from correctly_assets.inputs.original.workbooks import NO_THEME, read_original_workbooks
from correctly_assets.inputs.spec_files import spec_from_yaml, write_specs
from correctly_assets_tests.test_original_workbooks import (
    LATE_PROMPT,
    _correction_script,
    _text_repository,
    _write,
)

pytestmark = pytest.mark.unit

DATE = "2026-03-14"
DIARY = "일상적인 이야기를 일기처럼"
# 2 creativities x 2 lengths x (form 1 with tones 1 and 2, form 2 with tone 3) = 12 combinations
GRID = {
    "creativity_id": {"type": "necessary_column", "value": [1, 3]},
    "length_id": {"type": "necessary_column", "value": "1~2"},
    "system_prompt_id": {"type": "necessary_column", "value": [1]},
    "generation_prompt_id": {"type": "necessary_column", "value": [1]},
    "form_id": {"type": "necessary_column", "value": [1, 2]},
    "mapping_emotion_form_id": {"type": "necessary_column", "value": "1~3"},
    "speaker_id": {"type": "necessary_column", "value": [1]},
    "style_id": {"type": "necessary_column", "value": [1]},
    "key_expression_id": {"type": "optional_column", "value": []},
    "model": {"type": "generation_param", "value": "gpt-4o-mini"},
}


def write_original_input(directory, early=False, grid=GRID):
    """The original's two workbooks and a grid.yaml, in `directory`."""
    _write(directory, _text_repository(early), _correction_script(early))
    (directory / GRID_FILE).write_text(yaml.safe_dump(grid, allow_unicode=True), encoding="utf-8")
    return directory


@pytest.fixture
def specs(tmp_path):
    directory = write_original_input(tmp_path / "original")
    return build_original_specs(read_original_workbooks(directory), read_grid_file(directory / GRID_FILE))


def test_one_spec_per_korean_theme_written_and_read_back(specs, tmp_path):
    assert list(specs) == [DIARY, "여행의 즐거움을 3인칭으로"]
    spec = specs[DIARY]
    assert spec.theme.title == DIARY and [t.text for t in spec.workbooks.themes] == [DIARY]
    [path, _] = write_specs(specs, tmp_path / "specs")
    assert path.name == f"{DIARY}.yaml"
    assert spec_from_yaml(path.read_text(encoding="utf-8")) == spec
    # the generation prompt reads as in the workbook, one line per line
    assert "text: |-\n      ##### 목적 #####\n      글을 쓰세요.\n" in path.read_text(encoding="utf-8")


def test_an_empty_theme_sheet_gives_the_no_theme_partition(tmp_path):
    directory = write_original_input(tmp_path / "early", early=True)
    specs = build_original_specs(read_original_workbooks(directory), read_grid_file(directory / GRID_FILE))
    assert list(specs) == [NO_THEME] and specs[NO_THEME].theme.title == ""


def test_each_combination_is_a_request_with_its_own_settings(specs):
    requests = example_requests(specs[DIARY], DATE)
    assert len(requests) == 12
    assert [r.prompt_id for r in requests] == [f"{DATE}|{DIARY}|{i:04d}" for i in range(12)]
    # creativity 1 and 3 are 0.1 and 1.3; lengths 1 and 2 are 100 and 600 tokens
    assert {(r.temperature, r.max_tokens) for r in requests} == {
        (0.1, 100), (0.1, 600), (1.3, 100), (1.3, 600)}
    assert {r.system_prompt for r in requests} == {"자연스럽게 쓰세요."}
    first = requests[0]
    assert f"주제: {DIARY}" in first.prompt and "형식: 설명문" in first.prompt
    assert "어조: 밝은 어조" in first.prompt and "예시: \n" in first.prompt
    assert first.combination["form_id"] == 1 and first.example is None
    assert example_requests(specs[DIARY], DATE) == requests  # the same batch every time


def test_the_answer_sections_are_asked_for_when_the_prompt_does_not_name_them(specs):
    # this style names the 교정 전 section itself, so nothing is appended
    assert ANSWER_SECTIONS not in example_requests(specs[DIARY], DATE)[0].prompt
    plain = specs[DIARY].workbooks.model_copy(update={"styles": (
        specs[DIARY].workbooks.styles[0].model_copy(update={"text": "친근하게"}),)})
    spec = specs[DIARY].model_copy(update={"workbooks": plain})
    assert example_requests(spec, DATE)[0].prompt.endswith(ANSWER_SECTIONS)


def test_an_example_becomes_the_one_shot_and_an_unusable_one_is_kept_with_its_reason(specs):
    requests = example_requests(specs[DIARY], DATE)
    answers = generate_texts(requests, offline_complete, max_concurrency=1)
    rows = one_shot_prompts(specs[DIARY], requests, answers)
    assert [r.prompt_id for r in rows] == [r.prompt_id for r in requests]
    used = [r for r in rows if r.example_rejection is None]
    kept = [r for r in rows if r.example_rejection is not None]
    # a 100-token length cuts most offline answers off; a 600-token one never does
    assert used and kept and all(r.max_tokens == 100 for r in kept)
    for row, request, answer in zip(rows, requests, answers):
        assert row.example == answer.raw_answer
        if row.example_rejection is None:
            assert answer.raw_answer.strip() in row.prompt and row.prompt != request.prompt
            assert (row.temperature, row.max_tokens, row.system_prompt) == (
                request.temperature, request.max_tokens, request.system_prompt)
        else:
            assert row.prompt == request.prompt and row.example_rejection == answer.rejection_reason


def test_what_a_partition_costs(specs):
    cost = grid_cost(specs[DIARY])
    assert cost["combinations"] == 12 and cost["left_out"] == 12
    # each combination's length, for each of the two stages
    assert cost["max_completion_tokens"] == 2 * 6 * (100 + 600)
    requests = example_requests(specs[DIARY], DATE)
    assert cost["first_stage_prompt_characters"] == sum(
        len(r.prompt) + len(r.system_prompt) for r in requests)
    # Prompt tokens at most the prompts' bytes: each prompt once per stage, and in the
    # second stage its example too, at most that example's length in tokens.
    first_stage_bytes = sum(len((r.prompt + r.system_prompt).encode()) for r in requests)
    assert cost["max_prompt_tokens"] == 2 * first_stage_bytes + sum(r.max_tokens for r in requests)


def test_a_bad_grid_file_is_named(tmp_path, specs):
    with pytest.raises(GridError, match="grid.yaml: no grid file"):
        read_grid_file(tmp_path / GRID_FILE)
    (tmp_path / GRID_FILE).write_text("form_id: [1\n")
    with pytest.raises(GridError, match="grid.yaml: cannot be read as YAML"):
        read_grid_file(tmp_path / GRID_FILE)
    (tmp_path / GRID_FILE).write_text(yaml.safe_dump({**GRID, "style_id": "3~1"}))
    with pytest.raises(GridError, match="grid.yaml: style_id: range '3~1'"):
        read_grid_file(tmp_path / GRID_FILE)
    directory = write_original_input(tmp_path / "unknown", grid={**GRID, "speaker_id": [1, 9]})
    with pytest.raises(GridError, match="speaker_id: no speaker with id 9"):
        build_original_specs(read_original_workbooks(directory), read_grid_file(directory / GRID_FILE))


def test_the_shipped_original_sample_is_what_its_generator_writes(tmp_path):
    from correctly_assets.inputs.original.sample import ORIGINAL_SAMPLE_PATH, build_original_sample

    fresh = build_original_sample(tmp_path / "original")
    for name in ("text_repository.xlsx", "correction_script.xlsx", GRID_FILE):
        assert (fresh / name).read_bytes() == (ORIGINAL_SAMPLE_PATH / name).read_bytes(), name
    books = read_original_workbooks(ORIGINAL_SAMPLE_PATH)
    specs = build_original_specs(books, read_grid_file(ORIGINAL_SAMPLE_PATH / GRID_FILE))
    assert len(specs) == 3 and all(grid_cost(s)["combinations"] == 24 for s in specs.values())


def test_the_second_stage_may_have_its_own_creativity_and_length_ids(tmp_path):
    # the original's second configuration: every example answered once per listed pair
    grid = {**GRID, "generated_text": {"creativity_id": {"type": "necessary_column", "value": "1~2"},
                                       "length_id": [2]}}
    directory = write_original_input(tmp_path / "original", grid=grid)
    spec = build_original_specs(read_original_workbooks(directory),
                                read_grid_file(directory / GRID_FILE))[DIARY]
    requests = example_requests(spec, DATE)
    answers = generate_texts(requests, offline_complete, max_concurrency=1)
    rows = one_shot_prompts(spec, requests, answers)
    usable = sum(a.accepted for a in answers)
    assert len(rows) == 2 * usable + (12 - usable)
    assert [r.index for r in rows] == list(range(len(rows)))
    assert [r.prompt_id for r in rows] == [f"{DATE}|{DIARY}|{i:04d}" for i in range(len(rows))]
    answered = [r for r in rows if r.example_rejection is None]
    # creativity 1 and 2 are 0.1 and 0.7; length 2 is 600 tokens, whatever the example's
    assert {(r.temperature, r.max_tokens) for r in answered} == {(0.1, 600), (0.7, 600)}
    assert all(r.combination["answer_length_id"] == 2 for r in answered)
    cost = grid_cost(spec)
    assert cost["answers"] == 24
    assert cost["max_completion_tokens"] == 6 * (100 + 600) + 24 * 600

    for section, message in (({"example_id": "1~10"}, "only creativity_id and length_id"),
                             ({"creativity_id": [9]}, "generated_text.creativity_id: no creativity with id 9")):
        directory = write_original_input(tmp_path / f"bad{len(message)}",
                                         grid={**GRID, "generated_text": section})
        with pytest.raises(GridError, match=message):
            build_original_specs(read_original_workbooks(directory),
                                 read_grid_file(directory / GRID_FILE))


def test_the_second_stage_counts_towards_the_grid_limit(tmp_path):
    # 24 products x 3,000 repeats = 72,000 first-stage requests, within the limit; two answer
    # creativities make 144,000 second-stage answers, beyond it
    books = read_original_workbooks(write_original_input(tmp_path / "original"))
    grid = {**GRID, "iteration_num": 3000}
    build_original_specs(books, read_grid_config(grid))
    with pytest.raises(GridError, match="asks for 144,000 answers a stage; at most 100,000"):
        build_original_specs(books, read_grid_config(
            {**grid, "generated_text": {"creativity_id": [1, 2]}}))


@pytest.mark.adversarial
def test_a_yaml_alias_bomb_and_a_huge_value_are_refused_without_expanding(tmp_path):
    import time

    bomb = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
    (tmp_path / GRID_FILE).write_text(bomb + "form_id: *i\n")
    started = time.monotonic()
    with pytest.raises(GridError, match="uses a YAML alias"):
        read_grid_file(tmp_path / GRID_FILE)
    # A long list where ids belong: the error quotes a few items, not the whole list.
    (tmp_path / GRID_FILE).write_text(yaml.safe_dump({**GRID, "style_id": [[1]] * 100_000}))
    with pytest.raises(GridError) as error:
        read_grid_file(tmp_path / GRID_FILE)
    assert len(str(error.value)) < 500
    assert time.monotonic() - started < 30


@pytest.mark.adversarial
def test_a_template_that_would_render_megabytes_is_refused_naming_it(tmp_path):
    """{form_description} 1,700 times: refused by its rendered size, before any prompt is
    kept (the cost estimate once rendered every such prompt, to 6 GB)."""
    from correctly_assets.domain.prompt_format import MAX_PROMPT_CHARS, PromptTooLong

    text = _text_repository(False)
    text["generation_prompt"][1][1] = LATE_PROMPT + "{form_description}" * 1700
    text["form"][1][2] = "사실을 설명하는 글. " * 10  # 110 characters
    directory = tmp_path / "original"
    _write(directory, text, _correction_script(False))
    (directory / GRID_FILE).write_text(yaml.safe_dump(GRID, allow_unicode=True), encoding="utf-8")
    spec = build_original_specs(read_original_workbooks(directory),
                                read_grid_file(directory / GRID_FILE))[DIARY]
    with pytest.raises(PromptTooLong, match=(
            r"generation_prompt id 1 \(sheet 'text_repository.xlsx: generation_prompt'\): the "
            rf"rendered prompt would be [\d,]+ characters; the limit is {MAX_PROMPT_CHARS:,} "
            r"\(placeholders used most: \{form_description\} 1701x")):
        grid_cost(spec)
