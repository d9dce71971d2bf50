"""The original Correctly's two LLM stages, for one theme: its spec and its requests.

Stage one (`prompt_examples`): for each combination of the grid, the generation prompt is
filled (form, tone, speaker, style, key expression, the partition's theme; no example yet)
and sent with the combination's system prompt, temperature (creativity) and max tokens
(length). The answer, a correction script, is the example.

Stage two (`generated_texts`): the same generation prompt, with that example filled in as
its one-shot, asks for a new correction script with the same settings. Its answer is the
generated text the train split is made from. An example that does not parse as a
correction script is kept with its reason and asks for no second answer.

The grid and the order of its combinations are fixed by the spec, so a partition's requests
are the same on every materialisation.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ...domain.answer_format import KOREAN_HEADERS
from .grid import (
    Combination,
    Grid,
    GridConfig,
    answer_settings,
    expand_grid,
    generation_prompt,
)
from ...domain.models import GeneratedText, PromptExample, Theme
from .workbooks import NO_THEME, OriginalWorkbooks
from ...domain.prompt_format import KOREAN_SECTIONS

# Appended to a generation prompt that does not name the answer's sections itself (the
# original's describe them in words, in the style): without the headers no answer parses.
ANSWER_SECTIONS = "##### 답변 형식 #####\n" + KOREAN_SECTIONS
_BEFORE_HEADER = f"### {KOREAN_HEADERS['Before']} ###"


class OriginalThemeSpec(BaseModel):
    """The YAML spec for one theme of the original's workbooks: its tables and its grid."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    theme: Theme  # name: the partition key; title: the text the prompts carry
    workbooks: OriginalWorkbooks  # every table; `themes` holds this theme alone
    grid: GridConfig


def build_original_specs(books: OriginalWorkbooks, grid: GridConfig) -> dict[str, OriginalThemeSpec]:
    """One spec per theme; GridError when the grid names an id the workbooks lack."""
    expand_grid(grid, books)  # checks every id, and the grid's size, before anything is written
    themes = books.themes or ()
    specs = {}
    for name in books.theme_names:
        own = tuple(t for t in themes if t.text == name)
        specs[name] = OriginalThemeSpec(
            theme=Theme(name=name, title="" if name == NO_THEME else name, description=""),
            workbooks=books.model_copy(update={"themes": own}), grid=grid)
    return specs


def _prompt(spec: OriginalThemeSpec, combination: Combination, example: str) -> str:
    books, theme = spec.workbooks, spec.theme.title
    text = generation_prompt(books, combination, theme, example=example)
    if _BEFORE_HEADER not in generation_prompt(books, combination, theme, example=""):
        text = f"{text}\n\n{ANSWER_SECTIONS}"
    return text


def _record(records, record_id):
    return next(r for r in records if r.id == record_id)


def example_requests(spec: OriginalThemeSpec, date: str,
                     grid: Grid | None = None) -> list[PromptExample]:
    """The partition's first-stage requests, one per combination of the grid (the spec's,
    expanded here unless given), in its order."""
    books, theme = spec.workbooks, spec.theme.name
    grid = grid or expand_grid(spec.grid, books)
    requests = []
    for index, c in enumerate(grid.combinations):
        key = c.key_expression_id and _record(books.key_expressions, c.key_expression_id).text
        requests.append(PromptExample(
            prompt_id=f"{date}|{theme}|{index:04d}", date=date, theme=theme, index=index,
            instruction_prompt=f"generation_prompt {c.generation_prompt_id}", script_type="",
            speaker=_record(books.speakers, c.speaker_id).text,
            style=_record(books.styles, c.style_id).text,
            key_expression=key or "", passage="", passage_korean="",
            prompt=_prompt(spec, c, example=""),
            temperature=_record(books.creativities, c.creativity_id).degree,
            max_tokens=_record(books.lengths, c.length_id).length,
            system_prompt=_record(books.system_prompts, c.system_prompt_id).text,
            combination=dict(vars(c))))
    return requests


def one_shot_prompts(spec: OriginalThemeSpec, requests: list[PromptExample],
                     answers: list[GeneratedText]) -> list[PromptExample]:
    """The partition's rows for the `prompt_example` table, numbered in order: for a usable
    example, one second-stage prompt with the example filled in as its one-shot per answer
    setting (its own creativity and length, or each pair the grid's `generated_text` section
    lists); for an answer that is no usable example, the request as sent, with the answer and
    the reason."""
    books = spec.workbooks
    by_id = {a.prompt_id: a for a in answers}
    rows = []

    def add(row: PromptExample) -> None:
        index = len(rows)
        rows.append(row.model_copy(update={
            "index": index, "prompt_id": f"{row.date}|{row.theme}|{index:04d}"}))

    for request in requests:
        answer = by_id[request.prompt_id]
        if not answer.accepted:
            add(request.model_copy(update={
                "example": answer.raw_answer, "example_rejection": answer.rejection_reason}))
            continue
        combination = Combination(**request.combination)
        prompt = _prompt(spec, combination, example=answer.raw_answer.strip())
        for creativity_id, length_id in answer_settings(spec.grid, combination):
            add(request.model_copy(update={
                "example": answer.raw_answer, "prompt": prompt,
                "temperature": _record(books.creativities, creativity_id).degree,
                "max_tokens": _record(books.lengths, length_id).length,
                "combination": {**request.combination, "answer_creativity_id": creativity_id,
                                "answer_length_id": length_id}}))
    return rows


def grid_cost(spec: OriginalThemeSpec) -> dict[str, int]:
    """What one partition of the theme asks for: the combinations, those left out (a tone
    of another form), the second stage's answers when every example is usable, the first
    stage's prompts in characters, and bounds on the tokens both stages together can use.

    Completion tokens are bounded by each answer's length. Prompt tokens are bounded by
    UTF-8 bytes: a byte-level BPE token (OpenAI's, Gemma's) covers at least one byte. A
    second-stage prompt is its combination's first-stage prompt with the example filled in,
    and the example is a first-stage answer, so at most its length in tokens."""
    grid = expand_grid(spec.grid, spec.workbooks)
    lengths = {length.id: length.length for length in spec.workbooks.lengths}
    books = spec.workbooks
    characters = prompt_bytes = second_stage = answers = 0
    # One prompt at a time, counted and let go: never the whole partition's prompts at once.
    for c in grid.combinations:
        text = _prompt(spec, c, example="") + (
            _record(books.system_prompts, c.system_prompt_id).text or "")
        characters += len(text)
        size = len(text.encode())
        prompt_bytes += size
        settings = answer_settings(spec.grid, c)
        answers += len(settings)
        second_stage += len(settings) * (size + lengths[c.length_id])
    return {
        "combinations": len(grid.combinations),
        "left_out": grid.left_out,
        "answers": answers,
        "first_stage_prompt_characters": characters,
        "max_prompt_tokens": prompt_bytes + second_stage,
        "max_completion_tokens": grid.max_completion_tokens + sum(
            lengths[length_id] for c in grid.combinations
            for _, length_id in answer_settings(spec.grid, c)),
    }
