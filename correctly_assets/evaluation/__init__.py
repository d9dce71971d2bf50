"""Correction-quality metrics: GLEU, ERRANT edit scores, exact match, and their plots."""

from .edits import edit_scores, edit_scores_best_of, edit_scores_by_system, load_annotator
from .gleu import corpus_gleu, leave_one_out_reference_gleu, sentence_gleu
from .jfleg import default_jfleg_dir, load_jfleg
from .report import evaluate_corrections, exact_match_rate, plot_loss_curve, plot_per_error_type

__all__ = [
    "corpus_gleu",
    "default_jfleg_dir",
    "edit_scores",
    "edit_scores_best_of",
    "edit_scores_by_system",
    "evaluate_corrections",
    "exact_match_rate",
    "leave_one_out_reference_gleu",
    "load_annotator",
    "load_jfleg",
    "plot_loss_curve",
    "plot_per_error_type",
    "sentence_gleu",
]
