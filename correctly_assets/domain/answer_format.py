"""The sectioned answer format: written by the offline generator, asked of every LLM.

    [Before]
    ...the passage with the learner's mistakes...
    [After]
    ...the passage as a native speaker would write it...
    [Translation]
    ...Korean...
    [Correction Points]
    1. "wrong words" -> "right words": why

The parser is lenient about how real models decorate an answer (markdown headers, bold,
colons, case, code fences, curly quotes, "1)" and "→") and strict about its content: a
missing or empty section, or a section with no usable correction point, is a rejection
whose message says why.
"""

from __future__ import annotations

import re

from .models import CorrectionPoint, ParsedAnswer

SECTIONS = ("Before", "After", "Translation", "Correction Points")

_SECTION_NAMES = {
    "before": "Before",
    "after": "After",
    "translation": "Translation",
    "korean translation": "Translation",
    "correction points": "Correction Points",
    "correction point": "Correction Points",
    "corrections": "Correction Points",
}
# "[After]", "**After:**", "### After", "After:", "**[After]**", optionally followed on the
# same line by the section's first words when the header is bracketed or has a colon.
_HEADER = re.compile(
    r"^\s*(?:#{1,6}\s*)?(?:\*\*|__)?\s*(?P<open>\[)?\s*"
    r"(?P<name>korean translation|translation|correction points?|corrections|before|after)"
    r"\s*(?P<close>\])?\s*(?:\*\*|__)?\s*(?P<colon>:)?\s*(?:\*\*|__)?\s*(?P<rest>.*)$",
    re.I,
)
_FENCE = re.compile(r"^\s*```[\w-]*\s*$")
_NUMBERED = re.compile(r"^\s*(?:[-*•]\s*)?(?:\*\*)?(\d+)(?:\*\*)?\s*[.)]")
_OPEN, _CLOSE = "\"“'‘", "\"”'’"
_ARROW = r"(?:->|→|=>|⇒)"
_QUOTED_POINT = re.compile(
    rf"^\s*(?:[-*•]\s*)?(?:\*\*)?(\d+)(?:\*\*)?\s*[.)]\s*\**[{_OPEN}](.*?)[{_CLOSE}]\**"
    rf"\s*{_ARROW}\s*\**[{_OPEN}](.*?)[{_CLOSE}]\**(?:\s*[:\-–—]\s*|\s+|$)(.*)$"
)
# Spans without quotes: the explanation must then follow ": " or " - " to be told apart.
_BARE_POINT = re.compile(
    rf"^\s*(?:[-*•]\s*)?(?:\*\*)?(\d+)(?:\*\*)?\s*[.)]\s*(.+?)\s*{_ARROW}\s*(.+?)"
    r"(?:\s*:\s+|\s+[-–—]\s+|\s*$)(.*)$"
)
_SPAN_DECORATION = "*_` \"“”'‘’"


class AnswerRejected(ValueError):
    """An answer that cannot be used, with the reason in its message."""


def format_answer(answer: ParsedAnswer) -> str:
    """The canonical text of an answer, as prompts.ANSWER_INSTRUCTIONS asks for it."""
    points = "\n".join(
        f'{p.number}. "{p.before}" -> "{p.after}": {p.explanation}' for p in answer.points
    )
    return (
        f"[Before]\n{answer.before}\n[After]\n{answer.after}\n"
        f"[Translation]\n{answer.translation}\n[Correction Points]\n{points}"
    )


def _header(line: str) -> tuple[str, str] | None:
    """(section name, text after the header on the same line) when the line is a header."""
    match = _HEADER.match(line)
    if match is None or bool(match["open"]) != bool(match["close"]):
        return None
    rest = match["rest"].strip()
    # Bare words followed by more text are prose ("After dinner we ..."), not a header.
    if rest and not (match["open"] or match["colon"]):
        return None
    return _SECTION_NAMES[match["name"].lower()], rest


def _sections(text: str) -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None  # lines before the first header are preamble, dropped
    for line in text.splitlines():
        if _FENCE.match(line):
            continue
        header = _header(line)
        if header is None:
            if current is not None:
                current.append(line)
            continue
        name, rest = header
        if name in sections:
            raise AnswerRejected(f"section [{name}] appears twice")
        current = sections[name] = [rest] if rest else []
    return {name: "\n".join(lines).strip() for name, lines in sections.items()}


def _point(line: str) -> CorrectionPoint | None:
    match = _QUOTED_POINT.match(line)
    decoration = " "
    if match is None:
        match, decoration = _BARE_POINT.match(line), _SPAN_DECORATION
    if match is None:
        return None
    number, before, after, explanation = match.groups()
    before, after = before.strip(decoration), after.strip(decoration)
    if not before and not after:
        return None
    return CorrectionPoint(
        number=int(number), before=before, after=after, explanation=explanation.strip()
    )


def _points(body: str) -> tuple[CorrectionPoint, ...]:
    """Numbered lines are points; other lines (a lead-in, a closing remark) are skipped."""
    points = []
    for line in body.splitlines():
        numbered = _NUMBERED.match(line)
        if numbered is None:
            continue
        point = _point(line)
        if point is None:
            raise AnswerRejected(
                f'correction point {numbered.group(1)} is not in the form '
                f'1. "wrong" -> "right": why: {line.strip()!r}'
            )
        points.append(point)
    if not points:
        raise AnswerRejected(
            'section [Correction Points] has no point in the form 1. "wrong" -> "right": why'
        )
    if [p.number for p in points] != list(range(1, len(points) + 1)):
        raise AnswerRejected("correction points are not numbered 1..n")
    return tuple(points)


def parse_answer(text: str) -> ParsedAnswer:
    """The four sections of an answer; AnswerRejected says why an answer is unusable."""
    if not text or not text.strip():
        raise AnswerRejected("answer is empty")
    sections = _sections(text)
    for name in SECTIONS:
        if name not in sections:
            raise AnswerRejected(f"missing section [{name}]")
        if not sections[name]:
            raise AnswerRejected(f"section [{name}] is empty")
    return ParsedAnswer(
        before=sections["Before"],
        after=sections["After"],
        translation=sections["Translation"],
        points=_points(sections["Correction Points"]),
    )
