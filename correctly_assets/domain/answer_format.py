"""The sectioned answer format: written by the offline generator, asked of every LLM.

One answer, four sections, in either of two languages. Korean is the original Correctly's
and the default:

    ### 교정 전 ###
    ...the learner's text: awkward English, often mixed with Korean...
    #####
    ### 교정 후 ###
    ...the text as a native speaker would write it...
    ### 해석 ###
    ...its Korean translation...
    ### 교정 지점 ###
    1. "wrong words" → "right words": 설명
    2. **시제 일치**: "go"를 "went"로 바꾸어 과거의 일을 표현했습니다.

English: [Before], [After], [Translation], [Correction Points], points as
`1. "wrong words" -> "right words": why`.

The parser is lenient about decoration (markdown headers and bold, colons, brackets, case,
code fences, `#####` separators, curly quotes, "1)", "→", sections in any order, a header
glued to its text) and strict about content: nothing is half-parsed. A missing or empty
section, a point that does not parse cleanly, and an answer cut off by the token limit
are rejections whose message says why.
"""

from __future__ import annotations

import re
from typing import Literal

from .models import CorrectionPoint, Edit, GeneratedText, ParsedAnswer

Language = Literal["ko", "en"]
SECTIONS = ("Before", "After", "Translation", "Correction Points")
KOREAN_HEADERS = {
    "Before": "교정 전", "After": "교정 후", "Translation": "해석", "Correction Points": "교정 지점",
}
SEPARATOR = "#####"  # the original ends the learner's section with it

_SECTION_NAMES = {
    "before": "Before", "after": "After", "translation": "Translation",
    "koreantranslation": "Translation", "correctionpoints": "Correction Points",
    "correctionpoint": "Correction Points", "corrections": "Correction Points",
    "교정전": "Before", "교정후": "After", "해석": "Translation", "한국어해석": "Translation",
    "번역": "Translation", "교정지점": "Correction Points",
}
_NAMES = (r"korean\s*translation|translation|correction\s*points?|corrections|before|after"
          r"|교정\s*전|교정\s*후|한국어\s*해석|해석|번역|교정\s*지점")
# "### 교정 전 ###", "[After]", "**After:**", "### After", "After:", "**[After]**", optionally
# followed on the same line by the section's first words when the header is delimited.
_HEADER = re.compile(
    r"^\s*(?P<lead>#{1,6})?\s*(?:\*\*|__)?\s*(?P<open>\[)?\s*"
    rf"(?P<name>{_NAMES})"
    r"\s*(?P<close>\])?\s*(?:\*\*|__)?\s*(?P<trail>#{1,6})?\s*(?P<colon>[:：])?"
    r"\s*(?:\*\*|__)?\s*(?P<rest>.*)$",
    re.I,
)
_FENCE = re.compile(r"^\s*```[\w-]*\s*$")
_RULE = re.compile(r"^\s*(#|=|-|\*|_)\1{2,}\s*$")  # "#####", "---": separators, not content
_NUMBERED = re.compile(
    r"^\s*(?:[-*•]\s*)?(?:\*\*)?(\d+)(?:\*\*)?\s*[.)](?:\*\*)?(?=\s|[*\"“'‘`]|$)\s*(?P<rest>.*)$"
)
_CONTINUATION = re.compile(r"^(?:\s+\S|\s*[-*•]\s+\S)")  # an indented or bulleted line
_OPEN = "\"“'‘"
_ARROW = r"(?:->|→|=>|⇒)"
_ARROW_CHAR = re.compile(_ARROW)
# A quoted span closes with the first quote of its own kind: "…", “…”, '…' or ‘…’; “…” may
# hold one balanced “…” inside, and in '…' and ‘…’ an apostrophe between two Latin letters
# (don't) is text. So each span, and a list of spans, can be read one way only: parsing
# stays linear in the text's length, where spans free to run over other quotes made a long
# list of edits exponential.
_IN_WORD = "(?<=[A-Za-z]){}(?=[A-Za-z])"  # an apostrophe: a quote mark inside a word
_Q = ("(?:\"[^\"\n]*\"|“(?:[^“”\n]|“[^“”\n]*”)*”"
      "|'(?:[^'\n]|" + _IN_WORD.format("'") + ")*'"
      "|‘(?:[^’\n]|" + _IN_WORD.format("’") + ")*’)")
_EDIT = re.compile(rf"(?P<before>{_Q})\s*{_ARROW}\s*(?P<after>{_Q})")
_EDITS = rf"{_Q}\s*{_ARROW}\s*{_Q}(?:\s*[,;]\s*{_Q}\s*{_ARROW}\s*{_Q})*"
# A point that starts with its edits: "x" → "y", "a" → "b": explanation. The separators
# are tried in this order, so a quote inside the explanation never ends a span early.
_EDIT_HEADS = tuple(
    re.compile(rf"^(?P<edits>{_EDITS})(?!\s*{_ARROW}){separator}(?P<explanation>.*)$", re.S)
    for separator in (r"\s*[:：]\s*", r"\s+[-–—]\s+", r"\s*$", r"\s+")
)
_EDIT_IN_HEAD = re.compile(
    rf"(?P<before>{_Q})\s*{_ARROW}\s*(?P<after>{_Q})(?=\s*(?:[,;]\s*[{_OPEN}]|$))"
)
# Spans without quotes: the explanation must then follow ": " or " - " to be told apart.
_BARE_HEAD = re.compile(
    rf"^(?P<before>[^:]+?)\s*{_ARROW}\s*(?P<after>[^:]+?)"
    r"(?:\s*:\s+|\s+[-–—]\s+|\s*$)(?P<explanation>.*)$",
    re.S,
)
# Edits written into Korean prose: "wake up"과 "eat"를 "woke up"과 "had"로 ...
# Read in one pass over the quoted spans (a pattern of lists of spans, tried from every
# quote, was quadratic in the spans of a list that never closed with 로).
_QUOTED = re.compile(_Q)
_LIST_JOIN = re.compile(r"\s*(?:과|와|,|및)\s*")
_OBJECT_MARK = re.compile(r"\s*[을를]\s+")
_TO_MARK = re.compile(r"\s*(?:으로|로)")
_BOLD_LABEL = re.compile(r"^\*\*(?P<label>[^*\"“”'‘’]+?)\*\*\s*[:：]?\s*")
_PLAIN_LABEL = re.compile(r"^(?P<label>[^\"“”'‘’:：→*]{1,40}?)\s*[:：]\s+(?=\S)")
_SPAN_DECORATION = "*_` \"“”'‘’"
# Where a complete answer's last line may end: punctuation, or a Korean sentence ending.
_TERMINAL = ".!?。…" + "다요음함됨임죠"
_TRAILING_MARKS = "*_`\"'”’)]}>」』 \t"


class AnswerRejected(ValueError):
    """An answer that cannot be used, with the reason in its message."""


def format_point(point: CorrectionPoint, arrow: str = "→") -> str:
    parts = [f"{point.number}."]
    if point.label:
        parts.append(f"**{point.label}**:")
    if point.edits:
        parts.append(", ".join(f'"{e.before}" {arrow} "{e.after}"' for e in point.edits) + ":")
    parts.append(point.explanation)
    return " ".join(parts)


def format_points(points: tuple[CorrectionPoint, ...], arrow: str = "→") -> str:
    return "\n".join(format_point(p, arrow) for p in points)


def format_answer(answer: ParsedAnswer, language: Language = "ko") -> str:
    """The canonical text of an answer, as prompts.ANSWER_INSTRUCTIONS asks for it."""
    if language == "en":
        return (
            f"[Before]\n{answer.before}\n[After]\n{answer.after}\n"
            f"[Translation]\n{answer.translation}\n[Correction Points]\n"
            f"{format_points(answer.points, '->')}"
        )
    return f"### {KOREAN_HEADERS['Before']} ###\n{answer.before}\n{SEPARATOR}\n" + format_korean_reply(answer)


def format_korean_reply(answer: ParsedAnswer) -> str:
    """The Korean answer after its `#####` separator: 교정 후, 해석 and 교정 지점."""
    h = KOREAN_HEADERS
    return (
        f"### {h['After']} ###\n{answer.after}\n\n"
        f"### {h['Translation']} ###\n{answer.translation}\n\n"
        f"### {h['Correction Points']} ###\n{format_points(answer.points)}"
    )


def _header(line: str) -> tuple[str, str] | None:
    """(section name, text after the header on the same line) when the line is a header."""
    match = _HEADER.match(line)
    if match is None or bool(match["open"]) != bool(match["close"]):
        return None
    rest = match["rest"].strip()
    # Bare words followed by more text are prose ("After dinner we ...", "해석하면 ..."),
    # not a header; a delimited header may have its section's first words glued on.
    if rest and not (match["open"] or match["colon"] or match["trail"]):
        return None
    return _SECTION_NAMES[re.sub(r"\s+", "", match["name"].lower())], rest


def _content_lines(text: str) -> list[str]:
    """The lines, with code fences and separators blanked: they end a paragraph."""
    return ["" if _FENCE.match(line) or _RULE.match(line) else line for line in text.splitlines()]


def split_sections(text: str, strict: bool = False) -> dict[str, str]:
    """Section name -> its text. Lines before the first header are a preamble, dropped; a
    section that appears twice is a rejection when `strict`, else its first copy counts."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in _content_lines(text):
        header = _header(line)
        if header is None:
            if current is not None:
                current.append(line)
            continue
        name, rest = header
        if name in sections:
            if strict:
                raise AnswerRejected(f"section [{name}] appears twice")
            current = []  # a repeat's lines go nowhere
            continue
        current = sections[name] = [rest] if rest else []
    return {name: "\n".join(lines).strip() for name, lines in sections.items()}


def _cut_off_line(text: str) -> str | None:
    """The last line when the answer stops mid-sentence (a token limit hit), else None."""
    lines = [line for line in _content_lines(text) if line.strip()]
    if not lines:
        return None
    last = lines[-1]
    header = _header(last)
    if header is not None and not header[1]:
        return None  # an empty last section is reported as such
    end = last.strip().rstrip(_TRAILING_MARKS)
    return None if end and end[-1] in _TERMINAL else last.strip()


def _unquote(span: str) -> str:
    return span.strip()[1:-1].strip()


def _quoted_lists(text: str) -> list[tuple[int, int, list[str]]]:
    """(start, end, spans unquoted) of each run of quoted spans joined by 과, 와, "," or 및."""
    runs: list[tuple[int, int, list[str]]] = []
    for match in _QUOTED.finditer(text):
        if runs and _LIST_JOIN.fullmatch(text, runs[-1][1], match.start()):
            start, _, spans = runs[-1]
            runs[-1] = (start, match.end(), [*spans, _unquote(match.group())])
        else:
            runs.append((match.start(), match.end(), [_unquote(match.group())]))
    return runs


def _korean_edits(text: str):
    """(start, end, befores, afters) of each 'LIST을/를 LIST(으)로' in Korean prose."""
    runs = _quoted_lists(text)
    for (start, end, befores), (next_start, next_end, afters) in zip(runs, runs[1:]):
        to = _TO_MARK.match(text, next_end)
        if _OBJECT_MARK.fullmatch(text, end, next_start) and to:
            yield start, to.end(), befores, afters


def _prose_edits(explanation: str) -> tuple[Edit, ...]:
    """Edits a label point writes into its explanation, in order of appearance."""
    found: list[tuple[int, Edit]] = []
    taken: list[tuple[int, int]] = []
    for match in _EDIT.finditer(explanation):
        found.append((match.start(), _edit(match)))
        taken.append(match.span())
    for start, end, befores, afters in _korean_edits(explanation):
        if any(start < taken_end and taken_start < end for taken_start, taken_end in taken):
            continue
        if len(befores) == len(afters):
            edits = [Edit(before=b.strip(), after=a.strip()) for b, a in zip(befores, afters)]
        else:
            edits = [Edit(before=", ".join(befores), after=", ".join(afters))]
        found.extend((start, e) for e in edits)
    return tuple(edit for _, edit in sorted(found, key=lambda item: item[0]))


def _edit(match: re.Match) -> Edit:
    return Edit(before=_unquote(match["before"]), after=_unquote(match["after"]))


def _not_clean(number: int, why: str, text: str) -> AnswerRejected:
    return AnswerRejected(f"correction point {number} {why}: {text.strip()[:200]!r}")


def _point(number: int, text: str) -> CorrectionPoint:
    """One point from its text (the number stripped, continuation lines joined)."""
    original = text
    if text.count("**") % 2:
        raise _not_clean(number, "has unbalanced ** markers", original)
    if text.count('"') % 2 or text.count("“") != text.count("”"):
        raise _not_clean(number, "has an unclosed quote", original)
    label = ""
    bold = _BOLD_LABEL.match(text)
    if bold and not _ARROW_CHAR.search(bold["label"]):
        label, text = bold["label"].strip(), text[bold.end():]
    text = text.replace("**", "").replace("__", "").strip()
    if not label and not _ARROW_CHAR.search(text.split(":")[0]):
        plain = _PLAIN_LABEL.match(text)
        if plain:
            label, text = plain["label"].strip(), text[plain.end():]
    edits: tuple[Edit, ...] = ()
    head = next((m for m in (h.match(text) for h in _EDIT_HEADS) if m), None)
    bare = None if head or any(q in text for q in _OPEN) else _BARE_HEAD.match(text)
    if head:
        edits = tuple(_edit(m) for m in _EDIT_IN_HEAD.finditer(head["edits"].strip()))
        explanation = head["explanation"]
    elif bare:
        edits = (Edit(before=bare["before"].strip(_SPAN_DECORATION),
                      after=bare["after"].strip(_SPAN_DECORATION)),)
        explanation = bare["explanation"]
    else:
        explanation = text
        edits = _prose_edits(explanation)
    explanation = explanation.strip()
    if _ARROW_CHAR.search(_EDIT.sub("", explanation)):
        raise _not_clean(number, 'has an arrow outside a quoted "wrong" → "right" edit', original)
    if any(not e.before and not e.after for e in edits):
        raise _not_clean(number, "has an empty edit", original)
    if not explanation:
        raise _not_clean(number, "has no explanation", original)
    return CorrectionPoint(number=number, label=label, edits=edits, explanation=explanation)


def _point_texts(body: str) -> list[tuple[int, str]]:
    """(number, text) of each point. Numbered lines start points; indented or bulleted
    lines and lines right below a point continue it; a lead-in before the first point and
    a remark set apart by a blank line after the points are skipped."""
    chunks: list[tuple[int, list[str]]] = []
    open_point = False
    for line in body.splitlines():
        numbered = _NUMBERED.match(line)
        if numbered:
            chunks.append((int(numbered[1]), [numbered["rest"]]))
            open_point = True
        elif not line.strip():
            open_point = False
            if chunks:
                chunks[-1][1].append("")
        elif chunks and (open_point or _CONTINUATION.match(line)):
            chunks[-1][1].append(line)
            open_point = True
        # else: a lead-in or a closing remark
    return [(number, " ".join(re.sub(r"^\s*[-*•]\s+", "", line).strip()
                              for line in lines if line.strip()))
            for number, lines in chunks]


def lenient_points(body: str) -> tuple[CorrectionPoint, ...]:
    """The points of a model's reply that parse; the others are left out."""
    points = []
    for number, text in _point_texts(body):
        try:
            points.append(_point(number, text))
        except AnswerRejected:
            continue
    return tuple(points)


def _points(body: str) -> tuple[CorrectionPoint, ...]:
    chunks = _point_texts(body)
    if not chunks:
        raise AnswerRejected(
            'section [Correction Points] has no point in the form 1. "wrong" -> "right": why'
        )
    points = [_point(number, text) for number, text in chunks]
    if [p.number for p in points] != list(range(1, len(points) + 1)):
        raise AnswerRejected("correction points are not numbered 1..n")
    if not any(p.edits for p in points):
        raise AnswerRejected('no correction point names an edit ("wrong" → "right")')
    return tuple(points)


def parse_answer(text: str, finish_reason: str | None = None) -> ParsedAnswer:
    """The four sections of an answer; AnswerRejected says why an answer is unusable.

    `finish_reason` is the API's ("length" means the token limit cut the answer off);
    without it, an answer whose last line stops mid-sentence is taken as cut off.
    """
    if not text or not text.strip():
        raise AnswerRejected("answer is empty")
    if finish_reason == "length":
        raise AnswerRejected("answer is truncated: the token limit cut it off (finish_reason=length)")
    sections = split_sections(text, strict=True)
    for name in SECTIONS:
        if name not in sections:
            raise AnswerRejected(f"missing section [{name}] ({KOREAN_HEADERS[name]})")
        if not sections[name]:
            raise AnswerRejected(f"section [{name}] ({KOREAN_HEADERS[name]}) is empty")
    cut = _cut_off_line(text)
    if cut is not None:
        raise AnswerRejected(f"answer is truncated: its last line stops mid-sentence: {cut[-80:]!r}")
    return ParsedAnswer(
        before=sections["Before"],
        after=sections["After"],
        translation=sections["Translation"],
        points=_points(sections["Correction Points"]),
    )


# Far above a paragraph's answer (a few thousand characters): a longer one is a runaway
# generation or a hostile server, refused and stored only up to this length.
MAX_ANSWER_CHARS = 20_000
# The most a token count column holds (PostgreSQL's integer).
MAX_TOKEN_COUNT = 2**31 - 1


def over_long_answer(text: GeneratedText) -> GeneratedText:
    """An answer past MAX_ANSWER_CHARS (a model's or an imported one): stored cut to it,
    rejected with its length as the reason."""
    size = len(text.raw_answer)
    return text.model_copy(update={
        "raw_answer": text.raw_answer[:MAX_ANSWER_CHARS], "parsed": None,
        "rejection_reason": (f"unparseable answer: answer is {size:,} characters; the limit is "
                             f"{MAX_ANSWER_CHARS:,} (stored cut to it)")})
