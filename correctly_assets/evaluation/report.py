"""One evaluation report for a correction model, with the copy-source baseline beside each figure.

Copying the source unchanged is the floor any correction model must clear: on JFLEG it already
scores 38.21 GLEU, because most of a learner's sentence is right.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .edits import edit_scores_by_system
from .gleu import ITERATIONS, corpus_gleu

MODEL = "model"
BASELINE = "copy_source"


def _normalise(text: str) -> str:
    return " ".join(text.split())


def exact_match_rate(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Share of hypotheses equal to any of their references, ignoring differences in whitespace."""
    if not hypotheses:
        raise ValueError("cannot score an empty corpus")
    hits = sum(
        _normalise(hypothesis) in {_normalise(ref) for ref in refs}
        for hypothesis, refs in zip(hypotheses, references, strict=True)
    )
    return hits / len(hypotheses)


def evaluate_corrections(
    sources: Sequence[str],
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str]],
    edit_reference: Literal["first", "best"] = "first",
    tokenise: bool = True,
    gleu_iterations: int = ITERATIONS,
) -> dict[str, Any]:
    """GLEU, exact-match rate and ERRANT edit scores of a model, each beside the copy-source baseline.

    references[i] lists sentence i's references. GLEU splits on whitespace and uses every
    reference. Edit scores use the first reference of each sentence, or with
    edit_reference="best" the reference that fits each sentence best (errant_compare's
    multi-reference rule; slower, since every reference is annotated). tokenise=False when
    the text is already tokenised, as JFLEG is.
    """
    if edit_reference not in ("first", "best"):
        raise ValueError(f"edit_reference must be 'first' or 'best', not {edit_reference!r}")
    if not (len(sources) == len(hypotheses) == len(references)):
        raise ValueError(
            f"sources, hypotheses and references must align: got {len(sources)}, "
            f"{len(hypotheses)} and {len(references)}"
        )
    systems = {MODEL: list(hypotheses), BASELINE: list(sources)}
    edit_refs = references if edit_reference == "best" else [refs[:1] for refs in references]
    edits = edit_scores_by_system(sources, systems, edit_refs, tokenise=tokenise)
    return {
        "sentences": len(sources),
        "gleu": {name: corpus_gleu(sources, hyps, references, gleu_iterations) for name, hyps in systems.items()},
        "exact_match": {name: exact_match_rate(hyps, references) for name, hyps in systems.items()},
        "edits": {"reference": edit_reference, **edits},
    }


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # An Agg canvas of its own: no pyplot, so no global backend or figure state is touched.
    FigureCanvasAgg(figure)
    figure.savefig(path, format="png", dpi=120)
    return path


def plot_per_error_type(scores: Mapping[str, Any], path: str | Path, max_types: int = 25) -> Path:
    """Bars of F0.5 per ERRANT error type, model beside baseline, from an evaluate_corrections report.

    Types are ordered by how many reference edits they have, the most frequent first.
    """
    model = scores["edits"][MODEL]["by_type"]
    baseline = scores["edits"][BASELINE]["by_type"]
    if not model and not baseline:
        raise ValueError("no edits of any error type to plot")
    frequency = {t: s["tp"] + s["fn"] for t, s in {**baseline, **model}.items()}
    types = sorted(frequency, key=lambda t: (-frequency[t], t))[:max_types]

    figure = Figure(figsize=(8, 0.3 * len(types) + 1.5))
    axes = figure.add_subplot()
    positions = range(len(types))
    height = 0.4
    for offset, by_type, label in ((-height / 2, model, "model"), (height / 2, baseline, "copy source")):
        f_scores = [by_type[t]["f0_5"] if t in by_type else 0.0 for t in types]
        axes.barh([p + offset for p in positions], f_scores, height, label=label)
    axes.set_yticks(list(positions), [f"{t} ({frequency[t]})" for t in types], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.set_xlabel("F0.5 (reference edits in brackets)")
    axes.set_title("Edit F0.5 per error type")
    axes.legend(loc="lower right")
    figure.tight_layout()
    return _save(figure, path)


def plot_loss_curve(
    steps: Sequence[float],
    losses: Sequence[float],
    path: str | Path,
    eval_steps: Sequence[float] | None = None,
    eval_losses: Sequence[float] | None = None,
) -> Path:
    """Training loss per step, with the evaluation loss on top when given."""
    if len(steps) == 0 or len(steps) != len(losses):
        raise ValueError(f"steps and losses must be non-empty and align: got {len(steps)} and {len(losses)}")
    if (eval_steps is None) != (eval_losses is None) or (
        eval_steps is not None and len(eval_steps) != len(eval_losses)
    ):
        raise ValueError("eval_steps and eval_losses must be given together and align")

    figure = Figure(figsize=(7, 4))
    axes = figure.add_subplot()
    axes.plot(steps, losses, label="train loss")
    if eval_steps is not None:
        axes.plot(eval_steps, eval_losses, marker="o", label="validation loss")
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title("Training loss")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    return _save(figure, path)
