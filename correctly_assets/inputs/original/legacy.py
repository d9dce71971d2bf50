"""An original Correctly database's rows, as this project's partitions.

Each original `generated_text` becomes a generated text of the partition (the date it was
created, the theme of the example it was written from): parsed as any answer is, or kept
with the reason it could not be. The example it was written from becomes its prompt
example (speaker, style, key expression; the example text; the generation
prompt, with the text's temperature and max tokens). A `train` row with no
generated text of its own is imported from its `output`. A `train` row whose `output` is not
its generated text is reported, as is a filled `rejected` (preference pairs are made by the
preference_pairs asset). Ids are kept in the prompt ids, namespaced by the source database
(`legacy-<source>-generated_text-7`): every published copy numbers its rows from 1, so two
databases' rows never collide, and an import run twice writes the same rows.

Every row is checked before anything is written: a row with no id or a repeated id, no text,
an impossible date (PostgreSQL's infinity, a year before 2000, a day after today) or a number
the store cannot hold is left out and named by its table and id.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field

from ...domain.answer_format import (
    MAX_ANSWER_CHARS, MAX_TOKEN_COUNT, AnswerRejected, over_long_answer, parse_answer,
)
from ...domain.models import GeneratedText, PromptExample
from .workbooks import NO_THEME
from ..excel import theme_name_problem

LEGACY_MODEL = "original-correctly"
LEGACY_PREFIX = "legacy-"
SOURCE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
# Dates a row of the original can have been created on: the original was written with
# today's LLMs; PostgreSQL's 'infinity' reads as year 9999 and '-infinity' as year 1.
EARLIEST_DATE = dt.date(2000, 1, 1)


def source_prefix(source: str) -> str:
    """The prompt ids' prefix for rows imported from `source`."""
    if not SOURCE_PATTERN.match(source):
        raise ValueError(f"a source is 1 to 32 lower-case letters, digits or '-', got {source!r}")
    return f"{LEGACY_PREFIX}{source}-"


@dataclass
class LegacyPartition:
    prompts: list[PromptExample] = field(default_factory=list)
    texts: list[GeneratedText] = field(default_factory=list)


@dataclass
class LegacyImport:
    partitions: dict[tuple[str, str], LegacyPartition]
    problems: list[str]  # rows that could not be placed, each named by table and id
    train_rows: int = 0
    train_mismatches: list[int] = field(default_factory=list)  # train ids: output != its text
    rejected_filled: int = 0


def _by_id(rows: list[dict], column: str) -> dict[int, str]:
    return {row["id"]: (row[column] or "").strip() for row in rows}


def _date(value, where: str, problems: list[str]) -> str | None:
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        problems.append(f"{where}: created_at is {str(value)[:40]!r}, not a timestamp")
        return None
    latest = dt.date.today() + dt.timedelta(days=1)
    if not EARLIEST_DATE <= value <= latest:
        problems.append(f"{where}: created_at {value.isoformat()} is not a date the row can have "
                        f"been made on ({EARLIEST_DATE.isoformat()} to {latest.isoformat()})")
        return None
    return value.isoformat()


def _checked_ids(table: str, rows: list[dict], problems: list[str]) -> list[dict]:
    """The rows with an id of their own; a NULL or repeated id is named and left out."""
    seen: dict[int, int] = {}
    for row in rows:
        seen[row["id"]] = seen.get(row["id"], 0) + 1
    kept = []
    for row in rows:
        if row["id"] is None:
            problems.append(f"{table}: a row with no id (NULL); left out")
        elif seen[row["id"]] > 1:
            problems.append(f"{table} id={row['id']}: the id appears {seen[row['id']]} times; "
                            "every row with it is left out")
            seen[row["id"]] = -1  # named once
        elif seen[row["id"]] == 1:
            kept.append(row)
    return kept


def _text(prompt_id: str, date: str, theme: str, raw: str) -> GeneratedText:
    base = {"prompt_id": prompt_id, "date": date, "theme": theme, "raw_answer": raw,
            "model": LEGACY_MODEL}
    if len(raw) > MAX_ANSWER_CHARS:  # the same cap as a model's answer
        return over_long_answer(GeneratedText(**base))
    try:
        return GeneratedText(**base, parsed=parse_answer(raw))
    except AnswerRejected as err:
        return GeneratedText(**base, rejection_reason=f"unparseable answer: {err}")


def legacy_partitions(rows: dict[str, list[dict]], source: str) -> LegacyImport:
    """The partitions an original database's rows make, their prompt ids namespaced by
    `source` (see the module's docstring)."""
    cs, tr = "correction_script.", "text_repository."
    prefix = source_prefix(source)
    # NFC: a theme typed twice in two normalisations is one partition, as in the workbooks.
    themes = {i: unicodedata.normalize("NFC", t) if isinstance(t, str) else t
              for i, t in _by_id(rows[cs + "theme"], "theme").items()}
    speakers = _by_id(rows[cs + "speaker"], "speaker")
    styles = _by_id(rows[cs + "style"], "style")
    expressions = _by_id(rows[cs + "key_expression"], "key_expression")
    prompts = _by_id(rows[tr + "generation_prompt"], "prompt")
    temperatures = {r["id"]: r["degree"] for r in rows[tr + "creativity"]}
    lengths = {r["id"]: r["length"] for r in rows[tr + "length"]}
    examples = {r["id"]: r for r in rows[cs + "example"]}
    problems: list[str] = []
    rows = {**rows, **{cs + table: _checked_ids(cs + table, rows[cs + table], problems)
                       for table in ("generated_text", "train")}}
    bad_themes = sorted({t for t in themes.values() if theme_name_problem(t)})
    if bad_themes:
        problems.append(f"correction_script.theme: {bad_themes[:3]} cannot be partition keys: "
                        f"{theme_name_problem(bad_themes[0])}")
    partitions: dict[tuple[str, str], LegacyPartition] = defaultdict(LegacyPartition)
    text_of: dict[int, str] = {}
    for row in rows[cs + "generated_text"]:
        where = f"correction_script.generated_text id={row['id']}"
        example = examples.get(row["example_id"])
        if example is None:
            problems.append(f"{where}: example_id {row['example_id']} is not in correction_script.example")
            continue
        theme = themes.get(example["theme_id"]) or NO_THEME
        date = _date(row["created_at"], where, problems)
        if date is None or theme in bad_themes:
            continue
        if not isinstance(row["generated_text"], str) or not row["generated_text"].strip():
            problems.append(f"{where}: generated_text is empty (NULL or blank); left out")
            continue
        partition = partitions[(date, theme)]
        prompt_id = f"{prefix}generated_text-{row['id']}"
        text_of[row["id"]] = row["generated_text"]
        partition.texts.append(_text(prompt_id, date, theme, row["generated_text"]))
        temperature = temperatures.get(row["creativity_id"])
        if temperature is not None and not 0 <= temperature <= 2:
            problems.append(f"{where}: creativity degree {temperature} is not a temperature "
                            "(0 to 2); the text is imported without it")
            temperature = None
        length = lengths.get(row["length_id"])
        if isinstance(length, int) and length > MAX_TOKEN_COUNT:
            problems.append(f"{where}: length {length} is more than the store holds; the text is "
                            "imported without it")
            length = None
        partition.prompts.append(PromptExample(
            prompt_id=prompt_id, date=date, theme=theme, index=len(partition.prompts),
            instruction_prompt=f"generation_prompt {example['generation_prompt_id']}",
            temperature=temperature, max_tokens=length if length and length > 0 else None,
            script_type="", speaker=speakers.get(example["speaker_id"], ""),
            style=styles.get(example["style_id"], ""),
            key_expression=expressions.get(example["key_expression_id"], ""),
            passage="", passage_korean="", example=example["example"],
            prompt=prompts.get(example["generation_prompt_id"], "")))
    result = LegacyImport(partitions=dict(partitions), problems=problems)
    for row in rows[cs + "train"]:
        result.train_rows += 1
        result.rejected_filled += bool((row["rejected"] or "").strip())
        if row["generated_text_id"] is not None:
            if row["generated_text_id"] in text_of and row["output"] != text_of[row["generated_text_id"]]:
                result.train_mismatches.append(row["id"])
            continue
        where = f"correction_script.train id={row['id']}"
        date = _date(row["created_at"], where, problems)
        if date is None:
            continue
        if not isinstance(row["output"], str) or not row["output"].strip():
            problems.append(f"{where}: output is empty (NULL or blank); left out")
            continue
        # A train row of its own: no example, so no theme.
        prompt_id = f"{prefix}train-{row['id']}"
        partition = result.partitions.setdefault((date, NO_THEME), LegacyPartition())
        partition.texts.append(_text(prompt_id, date, NO_THEME, row["output"]))
    return result
