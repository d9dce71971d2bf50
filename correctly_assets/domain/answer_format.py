"""The sectioned answer format: written by the offline generator, asked of every LLM.

    [Before]
    ...the passage with the learner's mistakes...
    [After]
    ...the passage as a native speaker would write it...
    [Translation]
    ...Korean...
    [Correction Points]
    1. "wrong words" -> "right words": why

The parser is lenient about how real models decorate headers (markdown, colons, case)
and strict about content: a missing or empty section is a rejection with a reason.
"""

from __future__ import annotations

import re

from .models import CorrectionPoint, ParsedAnswer

SECTIONS = ("Before", "After", "Translation", "Correction Points")

_HEADER_NAMES = {
    "before": "Before",
    "after": "After",
    "translation": "Translation",
    "korean translation": "Translation",
    "correction points": "Correction Points",
    "corrections": "Correction Points",
}
# A header line: "[After]", "**After:**", "### After", "After:" (the name alone on its line).
_HEADER = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]*)?(?:\*\*|__)?[ \t]*\[?[ \t]*"
    r"(before|after|korean translation|translation|correction points|corrections)"
    r"[ \t]*\]?[ \t]*:?[ \t]*(?:\*\*|__)?[ \t]*:?[ \t]*$",
    re.I | re.M,
)
_POINT = re.compile(
    r"^\s*(\d+)[.)]\s*[\"“'‘](.*?)[\"”'’]\s*(?:->|→|=>)\s*[\"“'‘](.*?)[\"”'’]\s*[:\-–—]?\s*(.*)$"
)
_FENCE = re.compile(r"^\s*```[a-z]*\s*$", re.M)


class AnswerRejected(ValueError):
    """An answer that cannot be used, with the reason in its message."""


def format_answer(answer: ParsedAnswer) -> str:
    points = "\n".join(
        f'{p.number}. "{p.before}" -> "{p.after}": {p.explanation}' for p in answer.points
    )
    return (
        f"[Before]\n{answer.before}\n[After]\n{answer.after}\n"
        f"[Translation]\n{answer.translation}\n[Correction Points]\n{points}"
    )


def _sections(text: str) -> dict[str, str]:
    headers = list(_HEADER.finditer(text))
    sections: dict[str, str] = {}
    for header, following in zip(headers, headers[1:] + [None]):
        name = _HEADER_NAMES[header.group(1).lower()]
        if name in sections:
            raise AnswerRejected(f"section [{name}] appears twice")
        end = following.start() if following else len(text)
        sections[name] = text[header.end() : end].strip()
    return sections


def _points(body: str) -> tuple[CorrectionPoint, ...]:
    points = []
    for line in filter(str.strip, body.splitlines()):
        match = _POINT.match(line)
        if match is None:
            raise AnswerRejected(f"correction point not in the form 1. \"x\" -> \"y\": why: {line.strip()!r}")
        number, before, after, explanation = match.groups()
        points.append(CorrectionPoint(number=int(number), before=before, after=after,
                                      explanation=explanation.strip()))
    if [p.number for p in points] != list(range(1, len(points) + 1)):
        raise AnswerRejected("correction points are not numbered 1..n")
    return tuple(points)


def parse_answer(text: str) -> ParsedAnswer:
    """The four sections of an answer; AnswerRejected says why an answer is unusable."""
    text = _FENCE.sub("", text or "").strip()
    if not text:
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
