"""Rendering instruction prompts for one (date, theme) partition.

The batch for a partition is a pure function of the theme's spec, the date and the batch
size: a backfill of a missed day renders exactly what that day would have rendered.
"""

from __future__ import annotations

import hashlib
import random
import re
import string
from collections import Counter

from ...domain.answer_format import KOREAN_HEADERS, Language
from ...domain.models import PromptExample, ThemeSpec

# Placeholders an instruction prompt template may use.
PLACEHOLDERS = frozenset(
    {"theme", "theme_description", "speaker", "style", "script_type", "key_expression", "meaning"}
)

# The answer format every prompt asks for, in each language; answer_format.parse_answer
# reads both back. Korean is the original Correctly's: a teacher's answer with Korean
# section headers, a Korean translation and Korean explanations.
KOREAN_SECTIONS = """\
정확히 아래 네 절로만 답하세요.
### 교정 전 ###
학습자가 쓴 글 (실수가 있고 한국어가 섞인 영어)
#####
### 교정 후 ###
원어민이 쓴 것처럼 자연스럽게 교정한 글
### 해석 ###
교정한 글의 한국어 번역
### 교정 지점 ###
1. "틀린 표현" → "고친 표현": 고친 이유를 한국어 한 문장으로 설명합니다.
(교정 하나에 번호 붙은 줄 하나; 모든 설명은 마침표로 끝냅니다)"""
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

_PASSAGE_RE = re.compile(r"<passage>\n(.*?)\n</passage>", re.S)
_KOREAN_RE = re.compile(r"<korean>\n(.*?)\n</korean>", re.S)


def template_fields(template: str) -> set[str]:
    """The placeholder names a template uses."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def template_problem(template: str, placeholders: frozenset[str] = PLACEHOLDERS) -> str | None:
    """What makes `template` unusable, if anything. Templates take named placeholders only
    ({speaker}); a format spec ({speaker:>20000000}), a conversion ({speaker!r}) or an
    attribute or index ({speaker.upper}, {speaker[0]}) is refused before anything is
    rendered, since str.format would execute it (a width of 10**9 allocates 1 GB)."""
    allowed = ", ".join(f"{{{name}}}" for name in sorted(placeholders))
    try:
        parts = list(string.Formatter().parse(template))  # parses only; executes nothing
    except ValueError as error:
        return f"unbalanced braces ({error}); write a literal brace as {{{{ or }}}}"
    unknown = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name == "":
            return f"empty placeholder {{}}; name it, one of {allowed}"
        if spec or conversion:
            shown = f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}"
            return (f"placeholder {shown[:60]} has a format spec or conversion; only plain "
                    f"named placeholders are allowed: {allowed}")
        if not name.isidentifier():
            return (f"placeholder {{{name[:60]}}} uses attribute or index access; only plain "
                    f"named placeholders are allowed: {allowed}")
        if name not in placeholders:
            unknown.append(name)
    if unknown:
        listed = ", ".join(f"{{{name}}}" for name in sorted(set(unknown)))
        return f"unknown placeholder{'s' if len(set(unknown)) > 1 else ''} {listed}; allowed: {allowed}"
    return None


# The longest prompt rendered: the original's are about 3,500 characters at most (a
# 344-character generation prompt, a 430-character style and a one-shot example of up to
# 2,707), so this is nine times that. A placeholder repeated thousands of times in a
# template would otherwise render prompts of many megabytes, and pay for them.
MAX_PROMPT_CHARS = 32_000


class PromptTooLong(ValueError):
    """A template whose rendered prompt would pass MAX_PROMPT_CHARS."""


def render_template(template: str, values: dict[str, str]) -> str:
    """`template` with its placeholders replaced by `values`: plain substitution, never
    str.format (see template_problem), so a rendered prompt is as long as its parts. Its
    length is counted before anything is joined: PromptTooLong past MAX_PROMPT_CHARS."""
    parts = list(string.Formatter().parse(template))
    size = sum(len(literal) + (len(values[name]) if name is not None else 0)
               for literal, name, _, _ in parts)
    if size > MAX_PROMPT_CHARS:
        used = Counter(name for _, name, _, _ in parts if name is not None)
        most = ", ".join(f"{{{name}}} {count}x ({len(values[name]):,} characters)"
                         for name, count in used.most_common(3))
        raise PromptTooLong(f"the rendered prompt would be {size:,} characters; the limit is "
                            f"{MAX_PROMPT_CHARS:,} (placeholders used most: {most or 'none'})")
    return "".join(literal + (values[name] if name is not None else "") for literal, name, _, _ in parts)


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


def extract_passage(prompt: str) -> tuple[str, str]:
    """The (passage, Korean translation) a rendered prompt carries.

    The offline generator and the local OpenAI-compatible server answer from these.
    """
    passage, korean = _PASSAGE_RE.search(prompt), _KOREAN_RE.search(prompt)
    if passage is None or korean is None:
        raise ValueError("prompt carries no <passage> and <korean> blocks")
    return passage.group(1), korean.group(1)


def answer_language(prompt: str) -> Language:
    """The answer format a rendered prompt asks for."""
    return "ko" if f"### {KOREAN_HEADERS['Before']} ###" in prompt else "en"
