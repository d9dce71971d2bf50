"""The promotion gate: when a candidate model may become the production model."""

from __future__ import annotations


def promotion_decision(candidate_gleu: float, copy_gleu: float,
                       production_gleu: float | None) -> tuple[bool, str]:
    """(promote?, why). A candidate must beat copying the source unchanged and the current
    production model on validation GLEU, all three scored on the same validation set in the
    same run; with no production model, the baseline alone."""
    if candidate_gleu <= copy_gleu:
        return False, f"validation GLEU {candidate_gleu:.2f} does not beat copying the source ({copy_gleu:.2f})"
    if production_gleu is not None and candidate_gleu <= production_gleu:
        return False, (f"validation GLEU {candidate_gleu:.2f} does not beat production "
                       f"({production_gleu:.2f} on the same validation set)")
    against = ("no production model yet" if production_gleu is None
               else f"production {production_gleu:.2f} on the same validation set")
    return True, f"validation GLEU {candidate_gleu:.2f} beats copy {copy_gleu:.2f} and {against}"


def versions_to_archive(versions: list[int], aliased: set[int], keep: int) -> list[int]:
    """Versions past the newest `keep`, except those an alias points at."""
    return [v for v in sorted(versions, reverse=True)[keep:] if v not in aliased]
