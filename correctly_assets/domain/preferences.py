"""Rule-made rejected answers, for preference pairs: the chosen answer made worse in one of
the ways a correction goes wrong, each recorded by name.

- `uncorrected_error`: one of its corrections undone (the learner's words left in the
  corrected text) and its point dropped;
- `needless_rewrite`: a word nobody got wrong reworded, with a point claiming it needed it;
- `mismatched_explanation`: the points' explanations moved onto each other's edits.

The same (answer, seed) always gives the same rejected answer. Each returns None when the
answer does not allow it (no edit to undo, no word to reword, a single point).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence

from .answer_format import Language
from .chat_format import format_reply, prompt_messages
from .models import CorrectionPoint, Edit, ParsedAnswer

# Plain words and a wordier, stiffer way to say them: a rewrite no learner needed.
_REWORDINGS = {
    "very": "extremely", "big": "sizeable", "buy": "purchase", "bought": "purchased",
    "help": "assist", "helped": "assisted", "use": "utilize", "used": "utilized",
    "get": "obtain", "got": "obtained", "start": "commence", "started": "commenced",
    "show": "demonstrate", "think": "believe", "need": "require", "needed": "required",
    "try": "attempt", "tried": "attempted", "end": "conclude", "ended": "concluded",
    "enough": "sufficient", "about": "regarding", "many": "numerous", "often": "frequently",
}
_NEEDLESS_EXPLANATION = "더 격식 있는 표현으로 바꾸는 것이 좋습니다."
_WORD = re.compile(r"[A-Za-z]+")


def _renumbered(points: Sequence[CorrectionPoint]) -> tuple[CorrectionPoint, ...]:
    return tuple(p.model_copy(update={"number": i}) for i, p in enumerate(points, start=1))


def uncorrected_error(answer: ParsedAnswer, rng: random.Random) -> ParsedAnswer | None:
    candidates = [(i, edit) for i, point in enumerate(answer.points) for edit in point.edits
                  if edit.before != edit.after and edit.after and edit.after in answer.after]
    if not candidates:
        return None
    index, edit = rng.choice(candidates)
    after = answer.after.replace(edit.after, edit.before, 1)
    points = [p for i, p in enumerate(answer.points) if i != index]
    return answer.model_copy(update={"after": after, "points": _renumbered(points)})


def needless_rewrite(answer: ParsedAnswer, rng: random.Random) -> ParsedAnswer | None:
    edited = {word.lower() for p in answer.points for e in p.edits for word in _WORD.findall(e.after)}
    words = [m for m in _WORD.finditer(answer.after)
             if m.group().lower() in _REWORDINGS and m.group().lower() not in edited]
    if not words:
        return None
    match = rng.choice(words)
    word = match.group()
    new = _REWORDINGS[word.lower()]
    new = new.capitalize() if word[0].isupper() else new
    after = answer.after[:match.start()] + new + answer.after[match.end():]
    point = CorrectionPoint(number=len(answer.points) + 1, label="어휘",
                            edits=(Edit(before=word, after=new),), explanation=_NEEDLESS_EXPLANATION)
    return answer.model_copy(update={"after": after, "points": (*answer.points, point)})


def mismatched_explanation(answer: ParsedAnswer, rng: random.Random) -> ParsedAnswer | None:
    explanations = [p.explanation for p in answer.points]
    if len(set(explanations)) < 2:
        return None
    shift = rng.randrange(1, len(explanations))  # every point gets another point's explanation
    moved = explanations[shift:] + explanations[:shift]
    if moved == explanations:
        return None
    points = [p.model_copy(update={"explanation": e}) for p, e in zip(answer.points, moved)]
    return answer.model_copy(update={"points": tuple(points)})


DEGRADATIONS: dict[str, Callable[[ParsedAnswer, random.Random], ParsedAnswer | None]] = {
    "uncorrected_error": uncorrected_error,
    "needless_rewrite": needless_rewrite,
    "mismatched_explanation": mismatched_explanation,
}


def rule_rejected(answer: ParsedAnswer, seed: str,
                  kinds: Sequence[str] = tuple(DEGRADATIONS)) -> tuple[ParsedAnswer, str] | None:
    """(a worse answer, the degradation used): the kinds tried in an order drawn from
    `seed`, the first the answer allows; None when it allows none."""
    unknown = [k for k in kinds if k not in DEGRADATIONS]
    if unknown:
        raise ValueError(f"unknown degradation {unknown[0]!r}; one of {', '.join(DEGRADATIONS)}")
    rng = random.Random(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big"))
    order = list(kinds)
    rng.shuffle(order)
    for kind in order:
        rejected = DEGRADATIONS[kind](answer, rng)
        if rejected is not None and rejected != answer:
            return rejected, kind
    return None


def pair_report(pairs: Sequence[tuple[str, str, str]]) -> dict[str, object]:
    """For (chosen, rejected, source) texts: pairs whose two sides are the same (there
    should be none), each source's share, and the length bias (mean rejected length over
    mean chosen length: far from 1, a model could learn length instead of quality)."""
    if not pairs:
        return {"pairs": 0, "identical": 0, "source_share": {}, "length_ratio": float("nan")}
    sources = Counter(source for _, _, source in pairs)
    chosen = sum(len(c) for c, _, _ in pairs) / len(pairs)
    rejected = sum(len(r) for _, r, _ in pairs) / len(pairs)
    return {
        "pairs": len(pairs),
        "identical": sum(1 for c, r, _ in pairs if c == r),
        "source_share": {s: n / len(pairs) for s, n in sorted(sources.items())},
        "length_ratio": rejected / chosen if chosen else float("nan"),
    }


def preference_pair(chosen: ParsedAnswer, rejected: ParsedAnswer,
                    language: Language = "ko") -> dict[str, list[dict[str, str]]]:
    """The pair in TRL's conversational preference format, asked as the model is asked (the
    chat format of train_split): {"prompt": [...], "chosen": [...], "rejected": [...]}."""
    if chosen.before != rejected.before:
        raise ValueError("a pair answers one learner's text: the two `before` texts differ")
    return {"prompt": prompt_messages(chosen.before, language),
            "chosen": [{"role": "assistant", "content": format_reply(chosen, language)}],
            "rejected": [{"role": "assistant", "content": format_reply(rejected, language)}]}
