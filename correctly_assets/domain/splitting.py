"""Train/validation split that never lets near-duplicates straddle it.

Texts are grouped by near-duplicate links (cosine similarity of their corrected text's
embedding), transitively: a chain of links is one group, within a partition and across
partitions. A group linked to texts already split elsewhere takes their side; one linked
to both sides is left out; new groups are ordered by a hash of their id and the first
ones fill the validation share. The result depends only on the inputs, so
re-materialising gives the same split.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from .answer_format import Language
from .chat_format import to_messages
from .models import GeneratedText, TrainExample
from .quality import near_duplicate_pairs

TRAIN, VALIDATION = "train", "validation"


def near_duplicate_groups(ids: list[str], embeddings: np.ndarray, min_similarity: float) -> list[str]:
    """For each id, the id naming its group: the smallest id linked to it (union-find)."""
    parent = list(range(len(ids)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for i, j in near_duplicate_pairs(embeddings, min_similarity):
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    smallest: dict[int, str] = {}
    for k, item_id in enumerate(ids):
        r = root(k)
        smallest[r] = min(smallest.get(r, item_id), item_id)
    return [smallest[root(k)] for k in range(len(ids))]


def _hash_order(group: str) -> str:
    return hashlib.sha256(group.encode()).hexdigest()


def assign_splits(
    groups: list[str], prior_splits: dict[str, str], validation_fraction: float
) -> dict[str, str]:
    """Split per group: inherited where known, else validation for the first groups by hash
    until the validation share of items reaches `validation_fraction`."""
    sizes: dict[str, int] = {}
    for g in groups:
        sizes[g] = sizes.get(g, 0) + 1
    splits = {g: prior_splits[g] for g in sizes if g in prior_splits}
    target = math.ceil(validation_fraction * len(groups)) if len(sizes) > 1 else 0
    in_validation = sum(sizes[g] for g, s in splits.items() if s == VALIDATION)
    for g in sorted((g for g in sizes if g not in splits), key=_hash_order):
        # Keep at least one group for training whatever the fraction.
        room = in_validation + sizes[g] <= target and len(splits) < len(sizes) - 1
        splits[g] = VALIDATION if room else TRAIN
        in_validation += sizes[g] if room else 0
    return splits


def split_texts(
    texts: list[GeneratedText],
    embeddings: np.ndarray,
    *,
    prior_sides: dict[str, set[str]],
    validation_fraction: float,
    min_similarity: float,
    language: Language = "ko",
) -> tuple[list[TrainExample], list[str]]:
    """(chat examples, prompt ids left out) for trainable `texts` (aligned with `embeddings`).

    Groups are the connected components of near-duplicate links, inside the partition and,
    through `prior_sides` (a text's prompt_id -> the sides every stored near-duplicate of
    it has in other partitions), across them. A group linked only to one side takes it; a
    group linked to both sides bridges groups already on opposite sides, and no side
    keeps it from straddling the split: it is left out of training.
    """
    ids = [t.prompt_id for t in texts]
    groups = near_duplicate_groups(ids, embeddings, min_similarity)
    sides: dict[str, set[str]] = {}
    for item_id, group in zip(ids, groups):
        sides.setdefault(group, set()).update(prior_sides.get(item_id, ()))
    bridging = {g for g, s in sides.items() if len(s) > 1}
    inherited = {g: next(iter(s)) for g, s in sides.items() if len(s) == 1}
    kept = [(t, g) for t, g in zip(texts, groups) if g not in bridging]
    splits = assign_splits([g for _, g in kept], inherited, validation_fraction)
    examples = [
        TrainExample(
            prompt_id=t.prompt_id,
            date=t.date,
            theme=t.theme,
            split=splits[g],
            group=g,
            messages=to_messages(t.parsed, language),
        )
        for t, g in kept
    ]
    return examples, [t.prompt_id for t, g in zip(texts, groups) if g in bridging]
