"""The promotion gate: when a candidate model may become the production model."""

from __future__ import annotations


# A candidate whose replies miss a section of the answer format (교정 후, 해석, 교정 지점) more
# often than this is not shipped, whatever its GLEU: its corrected text may be a fallback to
# the learner's own, which scores like copying.
MIN_PARSE_RATE = 0.9


def promotion_decision(candidate_gleu: float, copy_gleu: float, production_gleu: float | None,
                       parse_rate: float | None = None,
                       min_parse_rate: float = MIN_PARSE_RATE) -> tuple[bool, str]:
    """(promote?, why). A candidate's replies must parse at least `min_parse_rate` of the
    time (a rate not measured fails), and it must beat copying the source unchanged and the
    current production model on validation GLEU, all three scored on the same validation
    set in the same run; with no production model, the baseline alone."""
    if parse_rate is None:
        return False, "the share of replies that parse was not measured; evaluate the model again"
    if parse_rate < min_parse_rate:
        return False, (f"{parse_rate:.1%} of its validation replies parse, below the "
                       f"{min_parse_rate:.1%} required (min_parse_rate)")
    if candidate_gleu <= copy_gleu:
        return False, f"validation GLEU {candidate_gleu:.2f} does not beat copying the source ({copy_gleu:.2f})"
    if production_gleu is not None and candidate_gleu <= production_gleu:
        return False, (f"validation GLEU {candidate_gleu:.2f} does not beat production "
                       f"({production_gleu:.2f} on the same validation set)")
    against = ("no production model yet" if production_gleu is None
               else f"production {production_gleu:.2f} on the same validation set")
    return True, (f"validation GLEU {candidate_gleu:.2f} beats copy {copy_gleu:.2f} and {against}; "
                  f"{parse_rate:.1%} of its replies parse")


def versions_to_archive(versions: list[int], aliased: set[int], keep: int) -> list[int]:
    """Versions past the newest `keep`, except those an alias points at."""
    return [v for v in sorted(versions, reverse=True)[keep:] if v not in aliased]
