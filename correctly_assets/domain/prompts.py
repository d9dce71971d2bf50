"""Rendering instruction prompts for one (date, theme) partition.

The batch for a partition is a pure function of the theme's spec, the date and the batch
size: a backfill of a missed day renders exactly what that day would have rendered.
"""

from __future__ import annotations

import hashlib
import random
import re
import string

from .models import PromptExample, ThemeSpec

# Placeholders an instruction prompt template may use.
PLACEHOLDERS = frozenset(
    {"theme", "theme_description", "speaker", "style", "script_type", "key_expression", "meaning"}
)

# The answer format every prompt asks for; answer_format.parse_answer reads it back.
ANSWER_INSTRUCTIONS = """\
Rewrite the passage below as the speaker would write it, keeping its meaning, and make the \
mistakes a Korean learner of English typically makes. Then answer in exactly these sections:
[Before]
the passage with the learner's mistakes
[After]
the passage corrected as a native speaker would write it
[Translation]
a Korean translation of the corrected passage
[Correction Points]
1. "wrong words" -> "right words": why, in one sentence
(one numbered line per correction)"""

_PASSAGE_RE = re.compile(r"<passage>\n(.*?)\n</passage>", re.S)
_KOREAN_RE = re.compile(r"<korean>\n(.*?)\n</korean>", re.S)


def template_fields(template: str) -> set[str]:
    """The placeholder names a str.format template uses."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def partition_rng(date: str, theme: str) -> random.Random:
    """A random generator seeded by the partition alone (not by time or process)."""
    digest = hashlib.sha256(f"{date}|{theme}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def render_prompts(spec: ThemeSpec, date: str, count: int) -> list[PromptExample]:
    """`count` prompts for the partition, deterministic in (spec, date, count)."""
    rng = partition_rng(date, spec.theme.name)
    script_types = {s.name: s for s in spec.script_types}
    # Each passage is used once before any repeats, so a batch no larger than the theme's
    # passages holds no duplicate passages.
    passage_order = rng.sample(range(len(spec.examples)), len(spec.examples))
    prompts = []
    for index in range(count):
        instruction = rng.choice(spec.instruction_prompts)
        speaker = rng.choice(spec.speakers)
        style = rng.choice(spec.styles)
        key = rng.choice(spec.key_expressions)
        example = spec.examples[passage_order[index % len(passage_order)]]
        head = instruction.template.format(
            theme=spec.theme.title,
            theme_description=spec.theme.description,
            speaker=f"{speaker.name} ({speaker.description})",
            style=f"{style.name} ({style.description})",
            script_type=script_types[instruction.script_type].description,
            key_expression=key.expression,
            meaning=key.meaning,
        )
        prompt = (
            f"{head}\n\n{ANSWER_INSTRUCTIONS}\n\n"
            f"<passage>\n{example.text}\n</passage>\n"
            f"<korean>\n{example.korean}\n</korean>"
        )
        prompts.append(
            PromptExample(
                prompt_id=f"{date}|{spec.theme.name}|{index:04d}",
                date=date,
                theme=spec.theme.name,
                index=index,
                instruction_prompt=instruction.name,
                script_type=instruction.script_type,
                speaker=speaker.name,
                style=style.name,
                key_expression=key.expression,
                passage=example.text,
                passage_korean=example.korean,
                prompt=prompt,
            )
        )
    return prompts


def extract_passage(prompt: str) -> tuple[str, str]:
    """The (passage, Korean translation) a rendered prompt carries.

    The offline generator and the local OpenAI-compatible server answer from these.
    """
    passage, korean = _PASSAGE_RE.search(prompt), _KOREAN_RE.search(prompt)
    if passage is None or korean is None:
        raise ValueError("prompt carries no <passage> and <korean> blocks")
    return passage.group(1), korean.group(1)
