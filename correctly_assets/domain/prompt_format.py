"""Prompts as every input renders them: templates and their placeholders, the size limit,
the answer sections asked for, and reading a rendered prompt back."""

from __future__ import annotations

import re
import string
from collections import Counter

from .answer_format import KOREAN_HEADERS, Language

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
