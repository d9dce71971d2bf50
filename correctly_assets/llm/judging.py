"""Asking a model which of two corrections of one learner's text is better.

The judge is shown the learner's text and two replies in the chat format the model answers
in, labelled A and B (the caller draws the order, so a judge that favours a position
favours neither side), and answers A, B or SAME.

`offline_verdict` is the offline generator's judge: no model, but the faults a reply can
be checked for without knowing the right correction (it does not parse, its corrected text
keeps Hangul, an edit it lists is not in the learner's text or not in its correction, a
point repeats a number). Fewer faults win; equal faults are SAME. It cannot see a missed
mistake or a needless rewrite that is consistently explained: a real judge model can.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ..domain.chat_format import parse_reply
from .generation import AsyncComplete, BudgetSpent, redact
from ..domain.quality import has_hangul

Verdict = Literal["A", "B", "SAME"]

JUDGE_SYSTEM_PROMPT = (
    "You review corrections of English texts written by Korean learners. Answer with one "
    "word: A, B or SAME."
)
JUDGE_HEADER = "### Which correction is better? ###"
# A verdict is one word; a few tokens leave room for a server's preamble.
JUDGE_MAX_TOKENS = 8
_FENCE_OPEN, _FENCE_CLOSE = "<<<", ">>>"
_QUESTION = (
    "Which correction is better: it fixes the learner's mistakes, changes nothing that was "
    "right, and explains each change it made? Answer A, B, or SAME if neither is better."
)
_VERDICT = re.compile(r"^\W*(A|B|SAME)\b", re.IGNORECASE)
# An unparseable reply counts as this many faults: worse than any reply that parses.
_UNPARSEABLE = 100


def judge_prompt(learner: str, first: str, second: str) -> str:
    """The question put to the judge: the learner's text, reply A, reply B."""
    for name, text in (("learner text", learner), ("reply A", first), ("reply B", second)):
        if _FENCE_CLOSE in text:
            raise ValueError(f"the {name} contains {_FENCE_CLOSE!r}, which fences the texts")
    return (f"{JUDGE_HEADER}\nThe learner wrote:\n{_FENCE_OPEN}\n{learner}\n{_FENCE_CLOSE}\n\n"
            f"Correction A:\n{_FENCE_OPEN}\n{first}\n{_FENCE_CLOSE}\n\n"
            f"Correction B:\n{_FENCE_OPEN}\n{second}\n{_FENCE_CLOSE}\n\n{_QUESTION}")


def read_judge_prompt(prompt: str) -> tuple[str, str, str]:
    """(learner text, reply A, reply B) of a `judge_prompt`; ValueError for anything else."""
    if not prompt.startswith(JUDGE_HEADER):
        raise ValueError("not a judge prompt")
    fenced = re.findall(rf"{_FENCE_OPEN}\n(.*?)\n{_FENCE_CLOSE}", prompt, flags=re.DOTALL)
    if len(fenced) != 3:
        raise ValueError(f"a judge prompt fences 3 texts, this one {len(fenced)}")
    return fenced[0], fenced[1], fenced[2]


def parse_verdict(answer: str) -> Verdict:
    """A, B or SAME from the judge's answer (its first word); ValueError for anything else."""
    match = _VERDICT.match(answer or "")
    if match is None:
        raise ValueError(f"the judge answered neither A, B nor SAME: {answer[:80]!r}")
    return match[1].upper()  # type: ignore[return-value]


def reply_faults(learner: str, reply: str) -> int:
    """How many checkable faults a reply has (see the module's docstring)."""
    parsed = parse_reply(reply)
    if not parsed.corrected or not parsed.points:
        return _UNPARSEABLE
    faults = 1 if has_hangul(parsed.corrected) else 0
    numbers = [p.number for p in parsed.points]
    faults += len(numbers) - len(set(numbers))
    for point in parsed.points:
        for edit in point.edits:
            faults += edit.before not in learner
            faults += edit.after not in parsed.corrected
    return faults


def offline_verdict(prompt: str) -> Verdict:
    learner, first, second = read_judge_prompt(prompt)
    a, b = reply_faults(learner, first), reply_faults(learner, second)
    return "SAME" if a == b else ("A" if a < b else "B")


@dataclass(frozen=True)
class JudgeRequest:
    """A judge prompt, asked as a generation prompt is (`openai_acomplete_fn` reads `prompt`)."""

    prompt: str


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict | None  # None: no verdict, see `error`
    error: str = ""  # why there is none (scrubbed of secrets)


@dataclass(frozen=True)
class PartitionJudgeRequest:
    """A judge prompt about one train row, for the Batch API (a request names its row)."""

    prompt_id: str
    date: str
    theme: str
    prompt: str


def judgement_of(request, completion, secrets: tuple[str, ...] = ()) -> Judgement:
    """A batch answer's verdict, or why it is none."""
    try:
        return Judgement(parse_verdict(completion.text))
    except ValueError as err:
        return Judgement(None, redact(str(err), secrets)[:500])


def no_judgement(request, reason: str, secrets: tuple[str, ...] = ()) -> Judgement:
    return Judgement(None, redact(f"batch: {reason}", secrets)[:500])


async def judge_async(prompts: list[str], complete: AsyncComplete, max_concurrency: int,
                      secrets: Iterable[str] = (), batch_deadline: float | None = None,
                      ) -> list[Judgement]:
    """One Judgement per prompt, in order, at most `max_concurrency` calls at once. A call
    that fails, or an answer that is not a verdict, is a Judgement without one: the batch
    goes on."""
    secrets = tuple(secrets)
    slots = asyncio.Semaphore(max_concurrency)

    async def ask(prompt: str) -> Judgement:
        async with slots:
            if batch_deadline is not None and time.monotonic() >= batch_deadline:
                return Judgement(None, "the batch's budget was spent before this call could start")
            try:
                return Judgement(parse_verdict((await complete(JudgeRequest(prompt))).text))
            except BudgetSpent as err:
                return Judgement(None, str(err))
            except Exception as err:  # noqa: BLE001 - recorded, the batch goes on
                return Judgement(None, redact(f"{type(err).__name__}: {err}", secrets)[:500])

    return list(await asyncio.gather(*(ask(p) for p in prompts)))
