"""Rendering instruction prompts for one (date, theme) partition.

The batch for a partition is a pure function of the theme's spec, the date and the batch
size: a backfill of a missed day renders exactly what that day would have rendered.
"""

from __future__ import annotations

import hashlib
import random

from ...domain.answer_format import Language
from ...domain.prompt_format import KOREAN_SECTIONS, PromptTooLong, render_template
from ...domain.models import PromptExample, ThemeSpec

ANSWER_INSTRUCTIONS: dict[str, str] = {
    "ko": """\
당신은 한국인 영어 학습자의 글을 고쳐 주는 영어 선생님입니다. 아래 <passage>의 글을 위의 화자와 \
문체에 맞게, 한국인 학습자가 실제로 쓸 법한 글로 다시 쓰세요: 학습자가 자주 하는 문법 실수와 어색한 \
표현을 넣고, 한두 구절이나 문장은 한국어로 섞어 쓰세요. 그다음 """ + KOREAN_SECTIONS,
    "en": """\
Rewrite the passage below as the speaker would write it, keeping its meaning, and make the \
mistakes a Korean learner of English typically makes. Then answer in exactly these sections:
[Before]
the passage with the learner's mistakes
[After]
the passage corrected as a native speaker would write it
[Translation]
a Korean translation of the corrected passage
[Correction Points]
1. "wrong words" -> "right words": why, in one sentence.
(one numbered line per correction)""",
}



def _rendered(instruction, values: dict[str, str]) -> str:
    try:
        return render_template(instruction.template, values)
    except PromptTooLong as error:
        raise PromptTooLong(f"instruction prompt {instruction.name!r} (sheet 'instruction_prompt'): "
                            f"{error}") from None


def partition_rng(date: str, theme: str) -> random.Random:
    """A random generator seeded by the partition alone (not by time or process)."""
    digest = hashlib.sha256(f"{date}|{theme}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def render_prompts(
    spec: ThemeSpec, date: str, count: int, language: Language = "ko"
) -> list[PromptExample]:
    """`count` prompts for the partition, deterministic in (spec, date, count, language)."""
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
        head = _rendered(instruction, dict(
            theme=spec.theme.title,
            theme_description=spec.theme.description,
            speaker=f"{speaker.name} ({speaker.description})",
            style=f"{style.name} ({style.description})",
            script_type=script_types[instruction.script_type].description,
            key_expression=key.expression,
            meaning=key.meaning,
        ))
        prompt = (
            f"{head}\n\n{ANSWER_INSTRUCTIONS[language]}\n\n"
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
