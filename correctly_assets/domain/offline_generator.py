"""A deterministic stand-in for the LLM: injects typical Korean-learner mistakes.

It writes the same sectioned answer an LLM is asked for: [Before] is the clean passage
with 2-4 mistakes, [After] the clean passage, [Translation] the workbook's Korean, and
one numbered correction point per mistake. The same (passage, seed) always gives the same
answer, in any process, so offline partitions are reproducible.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

from .answer_format import format_answer
from .models import CorrectionPoint, ParsedAnswer

ERROR_TYPES = (
    "subject-verb agreement",
    "tense",
    "article",
    "preposition",
    "plural",
    "word order",
    "Korean word",
)

_AGREEMENT = {"is": "are", "was": "were", "has": "have", "does": "do", "are": "is", "were": "was"}
_IRREGULAR_PAST = {
    "went": "goed", "ate": "eated", "bought": "buyed", "took": "taked", "saw": "seed",
    "made": "maked", "came": "comed", "got": "getted", "felt": "feeled", "met": "meeted",
    "left": "leaved", "found": "finded", "told": "telled", "thought": "thinked",
    "brought": "bringed", "spent": "spended", "slept": "sleeped", "wrote": "writed",
    "gave": "gived", "began": "beginned", "ran": "runned", "taught": "teached",
}
# Regular past forms whose present form is the word without "-ed".
_REGULAR_PAST = {
    "visited", "walked", "played", "watched", "started", "finished", "cooked", "stayed",
    "enjoyed", "opened", "talked", "called", "wanted", "worked", "helped", "looked",
    "waited", "cleaned", "asked", "needed", "booked", "checked", "ordered", "rained",
    "missed", "learned", "listened", "showed", "passed", "reached", "returned", "joined",
}
_PREPOSITION_SWAPS = {"at": "in", "in": "at", "on": "in", "to": "for", "for": "to", "with": "to"}
_UNCOUNTABLE = {
    "information", "advice", "furniture", "homework", "luggage", "equipment", "money",
    "news", "weather", "traffic", "baggage", "music", "work", "bread", "rice",
}
_FREQUENCY_ADVERBS = {"always", "often", "usually", "never", "sometimes", "really", "also"}
_KOREAN = {
    "school": "학교", "friend": "친구", "friends": "친구들", "coffee": "커피",
    "weekend": "주말", "family": "가족", "mother": "엄마", "father": "아빠",
    "hospital": "병원", "restaurant": "식당", "food": "음식", "company": "회사",
    "office": "사무실", "teacher": "선생님", "bus": "버스", "train": "기차", "hotel": "호텔",
    "phone": "휴대폰", "store": "가게", "market": "시장", "book": "책", "movie": "영화",
    "dinner": "저녁", "lunch": "점심", "breakfast": "아침", "water": "물", "money": "돈",
    "house": "집", "home": "집", "doctor": "의사", "medicine": "약", "park": "공원",
    "class": "수업", "exam": "시험", "meeting": "회의", "trip": "여행", "beach": "해변",
    "sister": "언니", "brother": "오빠", "clothes": "옷", "shoes": "신발", "game": "게임",
    "song": "노래", "city": "도시", "airport": "공항", "ticket": "표", "kimchi": "김치",
}
_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")


@dataclass(frozen=True)
class _Edit:
    start: int  # span of the clean passage that the mistake replaces
    end: int
    wrong: str
    error_type: str
    explanation: str


def _match_case(word: str, like: str) -> str:
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


def _candidates(passage: str) -> list[_Edit]:
    words = list(_WORD.finditer(passage))
    edits = []
    for i, m in enumerate(words):
        word, lower = m.group(), m.group().lower()
        nxt = words[i + 1] if i + 1 < len(words) else None
        adjacent = nxt is not None and passage[m.end() : nxt.start()] == " "
        if lower in _AGREEMENT:
            edits.append(_Edit(m.start(), m.end(), _match_case(_AGREEMENT[lower], word),
                               "subject-verb agreement",
                               f"the verb must agree with its subject: \"{word}\""))
        if lower in _IRREGULAR_PAST:
            edits.append(_Edit(m.start(), m.end(), _match_case(_IRREGULAR_PAST[lower], word),
                               "tense", f"\"{word}\" is the irregular past tense"))
        elif lower in _REGULAR_PAST:
            edits.append(_Edit(m.start(), m.end(), word[:-2], "tense",
                               "a finished past event needs the past tense"))
        if lower in ("the", "a", "an") and adjacent:
            edits.append(_Edit(m.start(), nxt.end(), _match_case(nxt.group(), word), "article",
                               f"the noun needs the article \"{lower}\""))
        if lower in _PREPOSITION_SWAPS and adjacent:
            edits.append(_Edit(m.start(), nxt.end(),
                               f"{_match_case(_PREPOSITION_SWAPS[lower], word)} {nxt.group()}",
                               "preposition", f"the right preposition here is \"{lower}\""))
        if lower in _UNCOUNTABLE:
            edits.append(_Edit(m.start(), m.end(), word + "s", "plural",
                               f"\"{lower}\" is uncountable and takes no plural -s"))
        elif i > 0 and words[i - 1].group().lower() in {"two", "three", "many", "several", "few", "some"} \
                and lower.endswith("s") and not lower.endswith("ss") and len(lower) > 3:
            edits.append(_Edit(m.start(), m.end(), word[:-1], "plural",
                               f"after \"{words[i - 1].group()}\" the noun is plural"))
        if lower in _FREQUENCY_ADVERBS and adjacent and nxt.group().lower() not in _FREQUENCY_ADVERBS:
            edits.append(_Edit(m.start(), nxt.end(), f"{nxt.group()} {lower}", "word order",
                               f"\"{lower}\" goes before the main verb"))
        if lower in _KOREAN:
            edits.append(_Edit(m.start(), m.end(), _KOREAN[lower], "Korean word",
                               f"write the English word \"{lower}\" instead of the Korean one"))
    return edits


def _fallback(passage: str) -> list[_Edit]:
    """An unneeded article before a content word, for passages no rule applies to."""
    for m in _WORD.finditer(passage):
        if len(m.group()) > 3 and m.group().islower():
            return [_Edit(m.start(), m.end(), f"the {m.group()}", "article",
                          f"\"{m.group()}\" takes no article here")]
    raise ValueError(f"no word in the passage to build a mistake from: {passage!r}")


def _choose(edits: list[_Edit], rng: random.Random) -> list[_Edit]:
    """2-4 non-overlapping edits, spreading over error types before repeating one."""
    rng.shuffle(edits)
    wanted = rng.randint(2, 4)
    chosen: list[_Edit] = []
    for prefer_new_type in (True, False):
        for edit in edits:
            if len(chosen) == wanted:
                break
            if prefer_new_type and any(c.error_type == edit.error_type for c in chosen):
                continue
            if all(edit.end + 1 < c.start or c.end + 1 < edit.start for c in chosen):
                chosen.append(edit)
    return sorted(chosen, key=lambda e: e.start)


def generate_offline_answer(passage: str, korean: str, seed: str) -> str:
    """The sectioned answer for a clean passage, deterministic in (passage, korean, seed)."""
    rng = random.Random(int.from_bytes(hashlib.sha256(f"{seed}\n{passage}".encode()).digest()[:8], "big"))
    edits = _choose(_candidates(passage), rng) or _fallback(passage)
    before, last = [], 0
    for edit in edits:
        before.append(passage[last : edit.start] + edit.wrong)
        last = edit.end
    before.append(passage[last:])
    points = tuple(
        CorrectionPoint(number=n, before=e.wrong, after=passage[e.start : e.end],
                        explanation=f"{e.error_type}: {e.explanation}")
        for n, e in enumerate(edits, start=1)
    )
    answer = ParsedAnswer(before="".join(before), after=passage, translation=korean, points=points)
    return format_answer(answer)
