"""The original Correctly's generation grid: which combinations of its tables the first LLM
stage writes an example for.

Configured as the original configures it (its `example.yaml`): per table, a list of ids
(`[3, 4, 5]`) or a range (`10~12`), an empty list for an optional table left out, and
`iteration_num` for repeats. The combinations are the Cartesian product, in a fixed order,
so a partition's batch is the same on every materialisation. The theme is the partition's,
not a grid dimension. A tone (`mapping_emotion_form`) belongs to one form, so a combination
whose tone is another form's is left out, and counted.
"""

from __future__ import annotations

import itertools
import re
import reprlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from .workbooks import OriginalWorkbooks
from ...domain.prompt_format import PromptTooLong, render_template

# grid key -> (the OriginalWorkbooks field it picks from, may it be left empty?)
DIMENSIONS: dict[str, tuple[str, bool]] = {
    "creativity_id": ("creativities", False),
    "length_id": ("lengths", False),
    "system_prompt_id": ("system_prompts", False),
    "generation_prompt_id": ("generation_prompts", False),
    "form_id": ("forms", False),
    "mapping_emotion_form_id": ("tones", False),
    "speaker_id": ("speakers", False),
    "style_id": ("styles", False),
    "key_expression_id": ("key_expressions", True),
}
ANSWER_SECTION = "generated_text"  # the second stage's own ids, as the original's second file
_RANGE = re.compile(r"^\s*(\d+)\s*~\s*(\d+)\s*$")
MAX_COMBINATIONS = 100_000  # a typo such as 1~100000 is refused before anything is rendered


def _singular(field: str) -> str:
    return field[:-3] + "y" if field.endswith("ies") else field.removesuffix("s")


# What an error quotes of a value: a few items and characters, whatever the file holds.
_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxlist, _SHOWN.maxdict = 3, 8, 8
_SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlong = 80, 80, 40


def _shown(value) -> str:
    return _SHOWN.repr(value)


class GridError(ValueError):
    """The grid configuration cannot be used; the message names the key."""


def parse_ids(key: str, value: object) -> tuple[int, ...]:
    """`[1, 3]`, `"10~12"`, `5` or `[]`/`None` as a tuple of ids."""
    if value is None or value == [] or value == "":
        return ()
    if isinstance(value, bool):
        raise GridError(f"{key}: expected ids, a range like 1~5 or [], found {_shown(value)}")
    if isinstance(value, int):
        value = [value]
    if isinstance(value, str):
        match = _RANGE.match(value)
        if not match:
            raise GridError(f"{key}: expected a range like 1~5, found {_shown(value)}")
        first, last = int(match[1]), int(match[2])
        if first < 1 or last < first:
            raise GridError(f"{key}: range {_shown(value)} must run from 1 or more upwards")
        if last - first >= MAX_COMBINATIONS:
            raise GridError(f"{key}: range {_shown(value)} is longer than {MAX_COMBINATIONS:,}")
        return tuple(range(first, last + 1))
    if isinstance(value, list):
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
            raise GridError(f"{key}: ids are positive whole numbers, found {_shown(value)}")
        return tuple(dict.fromkeys(value))
    raise GridError(f"{key}: expected ids, a range like 1~5 or [], found {_shown(value)}")


@dataclass(frozen=True)
class GridConfig:
    ids: dict[str, tuple[int, ...]]
    iterations: int = 1
    # The second stage's own creativity and length ids (the original's generated_text
    # configuration): every usable example is answered once per pair. Empty: the example's own.
    answer_creativity_ids: tuple[int, ...] = ()
    answer_length_ids: tuple[int, ...] = ()


def read_grid_config(config: dict) -> GridConfig:
    """The original's configuration shape, `{key: {"type": ..., "value": ...}}` (or plain
    `{key: value}`); keys it holds that are not grid dimensions (model, example, etc) are
    left to the caller."""
    def value(key):
        entry = config.get(key)
        return entry.get("value") if isinstance(entry, dict) else entry

    ids = {key: parse_ids(key, value(key)) for key in DIMENSIONS}
    for key, (_, optional) in DIMENSIONS.items():
        if not ids[key] and not optional:
            raise GridError(f"{key}: a necessary column; give at least one id")
    iterations = value("iteration_num")
    iterations = 1 if iterations in (None, "", []) else iterations
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise GridError(f"iteration_num: a whole number of 1 or more, found {_shown(iterations)}")
    answers = config.get(ANSWER_SECTION) or {}
    if not isinstance(answers, dict):
        raise GridError(f"{ANSWER_SECTION}: expected a mapping with creativity_id and length_id, "
                        f"found {_shown(answers)}")
    unknown = sorted(set(answers) - {"creativity_id", "length_id"})
    if unknown:
        raise GridError(f"{ANSWER_SECTION}: only creativity_id and length_id are read here (each "
                        f"example is the partition's); found {', '.join(map(str, unknown))}")

    def answer_ids(key):
        entry = answers.get(key)
        return parse_ids(f"{ANSWER_SECTION}.{key}",
                         entry.get("value") if isinstance(entry, dict) else entry)

    return GridConfig(ids=ids, iterations=iterations,
                      answer_creativity_ids=answer_ids("creativity_id"),
                      answer_length_ids=answer_ids("length_id"))


GRID_FILE = "grid.yaml"  # beside the original's two workbooks


def answer_settings(config: GridConfig, combination: "Combination") -> list[tuple[int, int]]:
    """The (creativity id, length id) of each second-stage answer to the combination's example."""
    return list(itertools.product(config.answer_creativity_ids or (combination.creativity_id,),
                                  config.answer_length_ids or (combination.length_id,)))


def read_grid_file(path: str | Path) -> GridConfig:
    """The grid a YAML file configures, in the original's shape; GridError names the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        # An alias (*name) repeats what its anchor holds: a 1 KB file of nested aliases
        # stands for gigabytes once anything walks it (an error message quoting it, say).
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader)):
            raise GridError(f"{path}: uses a YAML alias (*name); write the ids out in full")
        config = yaml.safe_load(text)
    except FileNotFoundError:
        raise GridError(f"{path}: no grid file; it lists the ids the first stage combines, per "
                        "table (creativity_id: 1~3, form_id: [1, 2], ...), as the original's "
                        "example.yaml does") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise GridError(f"{path}: cannot be read as YAML: {error}") from error
    if not isinstance(config, dict):
        raise GridError(f"{path}: expected a mapping of table ids, found {type(config).__name__}")
    try:
        return read_grid_config(config)
    except GridError as error:
        raise GridError(f"{path}: {error}") from None


@dataclass(frozen=True)
class Combination:
    """One example to write: an id per dimension (key_expression_id may be None) and the
    repeat it is."""

    creativity_id: int
    length_id: int
    system_prompt_id: int
    generation_prompt_id: int
    form_id: int
    mapping_emotion_form_id: int
    speaker_id: int
    style_id: int
    key_expression_id: int | None
    iteration: int


@dataclass(frozen=True)
class Grid:
    combinations: tuple[Combination, ...]
    left_out: int  # combinations whose tone belongs to another form
    max_completion_tokens: int  # the sum of each combination's length: the answers' bound


def expand_grid(config: GridConfig, books: OriginalWorkbooks) -> Grid:
    """Every combination, in a fixed order; GridError names an id the workbooks lack."""
    checked = [(key, field, config.ids[key]) for key, (field, _) in DIMENSIONS.items()] + [
        (f"{ANSWER_SECTION}.creativity_id", "creativities", config.answer_creativity_ids),
        (f"{ANSWER_SECTION}.length_id", "lengths", config.answer_length_ids)]
    for key, field, ids in checked:
        known = {record.id for record in getattr(books, field)}
        missing = [i for i in ids if i not in known]
        if missing:
            raise GridError(f"{key}: no {_singular(field)} with id "
                            f"{', '.join(map(str, missing))} in the workbooks")
    axes = [config.ids[key] or (None,) for key in DIMENSIONS]
    # the second stage's answers, the larger count when it has settings of its own
    size = config.iterations * max(1, len(config.answer_creativity_ids)) * max(
        1, len(config.answer_length_ids))
    for axis in axes:
        size *= len(axis)
    if size > MAX_COMBINATIONS:
        raise GridError(f"the grid asks for {size:,} answers a stage; at most {MAX_COMBINATIONS:,}")
    tone_form = {tone.id: tone.form_id for tone in books.tones}
    lengths = {length.id: length.length for length in books.lengths}
    kept, left_out = [], 0
    for iteration in range(config.iterations):
        for ids in itertools.product(*axes):
            values = dict(zip(DIMENSIONS, ids))
            if tone_form[values["mapping_emotion_form_id"]] != values["form_id"]:
                left_out += 1
                continue
            kept.append(Combination(**values, iteration=iteration))
    return Grid(combinations=tuple(kept), left_out=left_out,
                max_completion_tokens=sum(lengths[c.length_id] for c in kept))


def generation_prompt(books: OriginalWorkbooks, combination: Combination, theme: str,
                      example: str = "", etc: str = "") -> str:
    """The combination's generation prompt, its placeholders filled under either naming of
    the original's copies; plain substitution, never str.format (see template_problem)."""
    def pick(field: str, record_id: int | None):
        return next((r for r in getattr(books, field) if r.id == record_id), None)

    form = pick("forms", combination.form_id)
    tone = pick("tones", combination.mapping_emotion_form_id)
    emotion = pick("emotions", tone.emotion_id)
    speaker = pick("speakers", combination.speaker_id).text
    style = pick("styles", combination.style_id).text
    key = pick("key_expressions", combination.key_expression_id)
    key_expression = key.text if key else ""
    values = {
        "form_form": form.form, "form_name": form.form, "form_description": form.description,
        "speaker_speaker": speaker, "speaker": speaker,
        "mapping_emotion_form_tone": tone.tone, "tone": tone.tone, "emotion": emotion.text,
        "example_example": example, "example": example,
        "key_expression_key_expression": key_expression, "key_expression": key_expression,
        "theme_theme": theme, "theme": theme, "style_style": style, "style": style, "etc": etc,
    }
    template = pick("generation_prompts", combination.generation_prompt_id).text
    try:
        return render_template(template, values)
    except PromptTooLong as error:
        raise PromptTooLong(f"generation_prompt id {combination.generation_prompt_id} (sheet "
                            f"'text_repository.xlsx: generation_prompt'): {error}") from None
