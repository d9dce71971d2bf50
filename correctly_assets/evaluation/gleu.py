"""GLEU, the fluency metric of the JFLEG benchmark, computed as its official scorer does.

GLEU is BLEU-like precision over 1- to 4-grams in which n-grams the hypothesis kept from the
source although the reference changed them count against it, times a brevity penalty.
With several references per sentence the official scorer draws one reference per sentence,
scores the corpus, and averages over 500 such draws with fixed seeds; this module reproduces
those draws exactly, so scores match the published figures (copy-source on JFLEG dev: 38.21).

Napoles, Sakaguchi, Post and Tetreault, "Ground Truth for Grammatical Error Correction
Metrics", ACL 2015, and "GLEU Without Tuning", arXiv:1605.02592, 2016.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence

import numpy as np

MAX_ORDER = 4
ITERATIONS = 500

# A sentence's statistics: hypothesis length, reference length, then for each order n the
# clipped, source-penalised n-gram matches and the number of hypothesis n-grams.
STATS_WIDTH = 2 + 2 * MAX_ORDER


def ngram_counts(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) + 1 - n))


def sentence_stats(source: Sequence[str], hypothesis: Sequence[str], reference: Sequence[str]) -> list[int]:
    """GLEU statistics of one tokenised hypothesis against one tokenised reference."""
    stats = [len(hypothesis), len(reference)]
    for n in range(1, MAX_ORDER + 1):
        hyp_ngrams = ngram_counts(hypothesis, n)
        ref_ngrams = ngram_counts(reference, n)
        # Source n-grams absent from the reference: the ones the reference corrected.
        changed_by_reference = Counter(
            {ngram: count for ngram, count in ngram_counts(source, n).items() if ngram not in ref_ngrams}
        )
        matches = sum((hyp_ngrams & ref_ngrams).values())
        penalty = sum((hyp_ngrams & changed_by_reference).values())
        stats.append(max(matches - penalty, 0))
        stats.append(max(len(hypothesis) + 1 - n, 0))
    return stats


def gleu_from_stats(stats: Sequence[int], smooth: bool = False) -> float:
    """GLEU in [0, 1] from summed statistics; smoothing (zeros read as ones) is for single sentences."""
    if smooth:
        stats = [s if s != 0 else 1 for s in stats]
    if any(s == 0 for s in stats):
        return 0.0
    hyp_len, ref_len = stats[0], stats[1]
    log_precision = sum(math.log(m / d) for m, d in zip(stats[2::2], stats[3::2])) / MAX_ORDER
    return math.exp(min(0.0, 1.0 - ref_len / hyp_len) + log_precision)


def reference_draws(reference_counts: Sequence[int], iterations: int = ITERATIONS) -> np.ndarray:
    """Which reference each iteration uses for each sentence, as the official scorer draws them.

    The scorer (written for Python 2) seeds with 101 * iteration and calls randint, which in
    Python 2 is int(random() * width); Python 3's randint draws differently, so that formula is
    used on the same Mersenne Twister stream.
    """
    draws = np.empty((iterations, len(reference_counts)), dtype=np.int64)
    for iteration in range(iterations):
        rng = random.Random(iteration * 101)
        draws[iteration] = [int(rng.random() * count) for count in reference_counts]
    return draws


def _validate(sources: Sequence[str], hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> None:
    if isinstance(references, str) or any(isinstance(refs, str) for refs in references):
        raise TypeError("references must be a list of reference lists, one list per sentence")
    if not (len(sources) == len(hypotheses) == len(references)):
        raise ValueError(
            f"sources, hypotheses and references must align: got {len(sources)}, "
            f"{len(hypotheses)} and {len(references)}"
        )
    if not sources:
        raise ValueError("cannot score an empty corpus")
    empty = [i for i, refs in enumerate(references) if not refs]
    if empty:
        raise ValueError(f"sentence {empty[0]} has no reference")


def iteration_scores(
    sources: Sequence[str],
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str]],
    iterations: int = ITERATIONS,
) -> list[float]:
    """Corpus GLEU (0-100) of each iteration's draw of one reference per sentence."""
    _validate(sources, hypotheses, references)
    width = max(len(refs) for refs in references)
    stats = np.zeros((len(sources), width, STATS_WIDTH), dtype=np.int64)
    for i, (source, hypothesis, refs) in enumerate(zip(sources, hypotheses, references)):
        source_tokens, hypothesis_tokens = source.split(), hypothesis.split()
        for r, reference in enumerate(refs):
            stats[i, r] = sentence_stats(source_tokens, hypothesis_tokens, reference.split())
    draws = reference_draws([len(refs) for refs in references], iterations)
    totals = stats[np.arange(len(sources)), draws].sum(axis=1)
    return [100.0 * gleu_from_stats(row.tolist()) for row in totals]


def corpus_gleu(
    sources: Sequence[str],
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str]],
    iterations: int = ITERATIONS,
) -> float:
    """Corpus GLEU (0-100) of whitespace-tokenised hypotheses; references[i] lists sentence i's references."""
    return float(np.mean(iteration_scores(sources, hypotheses, references, iterations)))


def sentence_gleu(source: str, hypothesis: str, references: Sequence[str]) -> float:
    """Smoothed GLEU (0-100) of one sentence: the mean over its references, as the scorer's --sent mode."""
    if isinstance(references, str) or not references:
        raise ValueError("references must be a non-empty list of strings")
    source_tokens, hypothesis_tokens = source.split(), hypothesis.split()
    scores = [
        gleu_from_stats(sentence_stats(source_tokens, hypothesis_tokens, ref.split()), smooth=True)
        for ref in references
    ]
    return 100.0 * sum(scores) / len(scores)


def leave_one_out_reference_gleu(
    sources: Sequence[str], references: Sequence[Sequence[str]], iterations: int = ITERATIONS
) -> list[float]:
    """GLEU of each reference set scored against the others: a human ceiling for the benchmark."""
    width = len(references[0]) if references else 0
    if width < 2 or any(len(refs) != width for refs in references):
        raise ValueError("leave-one-out needs the same number (at least two) of references per sentence")
    return [
        corpus_gleu(
            sources,
            [refs[held_out] for refs in references],
            [[ref for r, ref in enumerate(refs) if r != held_out] for refs in references],
            iterations,
        )
        for held_out in range(width)
    ]
