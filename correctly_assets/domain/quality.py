"""Data-quality rules for generated texts, shared by the asset checks and the split.

A generated text is *trainable* when it parsed and has none of the problems below; the
checks report problems per partition so a bad partition is visible, and the split keeps
only trainable texts so a bad answer never reaches the model.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from .models import GeneratedText

_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
_SPACES = re.compile(r"\s+")
# What a garbled parse leaves behind: a separator or header in a section's text, markdown
# bold or an arrow inside an edit's span.
_SECTION_RESIDUE = re.compile(
    r"#{3,}|^\s*\[?(?:before|after|translation|correction points?)\]?\s*:?\s*$"
    r"|^\s*\**\s*(?:교정\s*전|교정\s*후|해석|교정\s*지점)\s*\**\s*:?\s*$",
    re.I | re.M,
)
_EDIT_RESIDUE = re.compile(r"\*\*|#{3,}|->|→|=>")


def has_hangul(text: str) -> bool:
    return bool(_HANGUL.search(text))


def normalise(text: str) -> str:
    """Case- and whitespace-insensitive form, for exact-duplicate and unchanged tests."""
    return _SPACES.sub(" ", text).strip().lower()


def problems(text: GeneratedText) -> list[str]:
    """What is wrong with an accepted text; empty when it is trainable."""
    if text.parsed is None:
        return ["rejected"]
    answer = text.parsed
    found = []
    if not answer.before.strip() or not answer.after.strip():
        found.append("empty correction")
    elif normalise(answer.before) == normalise(answer.after):
        found.append("unchanged correction")
    if has_hangul(answer.after):
        found.append("Hangul left in corrected English")
    if not answer.translation.strip():
        found.append("empty translation")
    if not answer.points:
        found.append("no correction points")
    if any(_SECTION_RESIDUE.search(section)
           for section in (answer.before, answer.after, answer.translation)):
        found.append("separator or header left in a section")
    if any(_EDIT_RESIDUE.search(part) for point in answer.points for edit in point.edits
           for part in (edit.before, edit.after)):
        found.append("markup left in an edit")
    return found


def is_trainable(text: GeneratedText) -> bool:
    return not problems(text)


def problem_counts(texts: list[GeneratedText]) -> Counter[str]:
    """How many accepted texts show each problem (rejected answers are counted apart)."""
    return Counter(p for t in texts if t.parsed is not None for p in problems(t))


def rejection_counts(texts: list[GeneratedText]) -> Counter[str]:
    """Rejected answers by the first clause of their reason ("unparseable answer", ...)."""
    return Counter(t.rejection_reason.split(":")[0] for t in texts if t.rejection_reason)


def near_duplicate_pairs(embeddings: np.ndarray, min_similarity: float) -> list[tuple[int, int]]:
    """Index pairs (i < j) whose L2-normalised embeddings have cosine >= min_similarity."""
    if len(embeddings) < 2:
        return []
    similarity = embeddings @ embeddings.T
    i, j = np.nonzero(np.triu(similarity >= min_similarity, k=1))
    return list(zip(i.tolist(), j.tolist()))


def duplicate_rate(embeddings: np.ndarray, min_similarity: float) -> float:
    """Share of texts that have a near-duplicate elsewhere in the same batch."""
    if len(embeddings) == 0:
        return 0.0
    members = {k for pair in near_duplicate_pairs(embeddings, min_similarity) for k in pair}
    return len(members) / len(embeddings)
