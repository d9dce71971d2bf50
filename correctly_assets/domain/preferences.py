"""Preference pairs: for a train row, its answer (chosen) and a worse one (rejected).

Where the rejected answer comes from, each pair recording which (`SOURCES`, tried in the
order a user lists them, the first that gives one wins):

- `on_policy`: the fine-tuned model's own reply to the same learner's text, when its
  corrected text scores at least `margin` GLEU points below the chosen one's (both scored
  against the chosen corrected text);
- `llm_judged`: the model's reply, when the judge (the text generator, asked which of the
  two is better, see `judging`) marks it worse;
- `rule`: the chosen answer made worse by a rule, one of the ways a correction goes wrong:

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

from .chat_format import format_reply, language_of, learner_text, parse_reply
from .models import CorrectionPoint, Edit, ParsedAnswer, PreferencePair, TrainExample

SOURCES = ("on_policy", "llm_judged", "rule")
# Sources that need the fine-tuned model's replies.
POLICY_SOURCES = ("on_policy", "llm_judged")
DEFAULT_MARGIN = 10.0  # GLEU points

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


def _rng(seed: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big"))


def rule_rejected(answer: ParsedAnswer, seed: str,
                  kinds: Sequence[str] = tuple(DEGRADATIONS)) -> tuple[ParsedAnswer, str] | None:
    """(a worse answer, the degradation used): the kinds tried in an order drawn from
    `seed`, the first the answer allows; None when it allows none."""
    unknown = [k for k in kinds if k not in DEGRADATIONS]
    if unknown:
        raise ValueError(f"unknown degradation {unknown[0]!r}; one of {', '.join(DEGRADATIONS)}")
    rng = _rng(seed)
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


def check_sources(sources: Sequence[str]) -> None:
    unknown = [s for s in sources if s not in SOURCES]
    if unknown or not sources:
        raise ValueError(f"sources must list one or more of {', '.join(SOURCES)}; "
                         f"got {list(sources)}")


def chosen_first(seed: str, prompt_id: str) -> bool:
    """Whether the judge is shown the chosen reply as A (drawn per pair from the seed)."""
    return _rng(f"{seed}|judge|{prompt_id}").random() < 0.5


# A sentence-level score of a correction: (learner's text, corrected text, references) ->
# a score, higher is better (evaluation.gleu.sentence_gleu); passed in, so these rules
# stay free of any scorer's dependencies.
Scorer = Callable[[str, str, list[str]], float]


def policy_scores(example: TrainExample, reply: str, score: Scorer) -> tuple[float, float]:
    """(chosen, policy) score of each corrected text against the chosen one."""
    learner = learner_text(example.messages[1]["content"])
    chosen = parse_reply(example.messages[2]["content"]).corrected
    policy = parse_reply(reply).corrected
    return score(learner, chosen, [chosen]), score(learner, policy, [chosen])


def pair_for(example: TrainExample, sources: Sequence[str], *, answer: ParsedAnswer | None,
             policy_reply: str | None = None, judged_worse: bool | None = None,
             margin: float = DEFAULT_MARGIN, seed: str = "",
             score: Scorer | None = None) -> PreferencePair | None:
    """The example's pair from the first of `sources` that gives a rejected answer, or None.

    `answer` is the example's parsed answer (for `rule`); `policy_reply` the model's reply
    to its learner's text (for `on_policy` and `llm_judged`); `judged_worse` whether the
    judge marked that reply worse than the chosen one (None: not judged); `score` how close
    a correction is to the chosen one (for `on_policy`: sentence GLEU)."""
    chosen = example.messages[2]["content"]
    base = {"prompt_id": example.prompt_id, "date": example.date, "theme": example.theme,
            "split": example.split, "prompt": tuple(example.messages[:2]), "chosen": chosen}
    differs = policy_reply is not None and policy_reply.strip() != chosen.strip()
    for source in sources:
        if source == "on_policy" and differs:
            if score is None:
                raise ValueError("the on_policy source needs a score (evaluation.gleu.sentence_gleu)")
            chosen_gleu, policy_gleu = policy_scores(example, policy_reply, score)
            if chosen_gleu - policy_gleu >= margin:
                return PreferencePair(**base, rejected=policy_reply, source=source,
                                      detail=f"gleu {policy_gleu:.1f} vs {chosen_gleu:.1f}")
        elif source == "llm_judged" and differs and judged_worse:
            return PreferencePair(**base, rejected=policy_reply, source=source,
                                  detail="judged worse")
        elif source == "rule" and answer is not None:
            made = rule_rejected(answer, seed=f"{seed}|{example.prompt_id}")
            if made is not None:
                rejected, kind = made
                text = format_reply(rejected, language_of(example.messages))
                if text.strip() != chosen.strip():
                    return PreferencePair(**base, rejected=text, source=source, detail=kind)
    return None
