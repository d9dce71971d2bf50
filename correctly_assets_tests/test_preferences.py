"""Rule-made rejected answers: each degradation does what it says, the result is still an
answer in the format, and the report of a set of pairs counts what the checks need."""

import random

import pytest

from correctly_assets.domain.answer_format import format_answer, parse_answer
from correctly_assets.domain.models import CorrectionPoint, Edit, ParsedAnswer
from correctly_assets.domain.offline_generator import generate_offline_answer
from correctly_assets.domain.preferences import (
    mismatched_explanation,
    needless_rewrite,
    pair_report,
    rule_rejected,
    uncorrected_error,
)

PASSAGE = "Yesterday I went to the market with my friend. We bought very fresh fish there."
KOREAN = "어제 나는 친구와 시장에 갔다. 우리는 그곳에서 아주 신선한 생선을 샀다."


def _answers(count=20):
    return [parse_answer(generate_offline_answer(PASSAGE, KOREAN, seed=f"s{i}")) for i in range(count)]


def test_an_uncorrected_error_leaves_the_learners_words_and_drops_its_point():
    for chosen in _answers():
        rejected = uncorrected_error(chosen, random.Random(0))
        if rejected is None:
            continue
        assert len(rejected.points) == len(chosen.points) - 1
        [undone] = [e for p in chosen.points for e in p.edits
                    if e not in [f for q in rejected.points for f in q.edits]]
        assert undone.before in rejected.after and rejected.after != chosen.after
        assert [p.number for p in rejected.points] == list(range(1, len(rejected.points) + 1))


def test_a_needless_rewrite_rewords_an_untouched_word_and_claims_it():
    chosen = ParsedAnswer(before="We buyed very fresh fish.", after="We bought very fresh fish.",
                          translation="우리는 아주 신선한 생선을 샀다.", points=(CorrectionPoint(
                              number=1, label="시제", edits=(Edit(before="buyed", after="bought"),),
                              explanation="과거형은 bought입니다."),))
    rejected = needless_rewrite(chosen, random.Random(0))
    assert rejected.after == "We bought extremely fresh fish."  # "bought" was a real edit: kept
    assert rejected.points[-1].edits == (Edit(before="very", after="extremely"),)


def test_mismatched_explanations_keep_the_edits_and_move_every_explanation():
    chosen = next(a for a in _answers() if len({p.explanation for p in a.points}) >= 2)
    rejected = mismatched_explanation(chosen, random.Random(1))
    assert rejected.after == chosen.after
    assert [p.edits for p in rejected.points] == [p.edits for p in chosen.points]
    assert all(r.explanation != c.explanation for r, c in zip(rejected.points, chosen.points))


def test_rule_rejected_is_deterministic_different_and_still_in_the_answer_format():
    kinds = set()
    for i, chosen in enumerate(_answers()):
        rejected, kind = rule_rejected(chosen, seed=f"pair-{i}")
        assert rule_rejected(chosen, seed=f"pair-{i}") == (rejected, kind)
        assert rejected != chosen
        assert parse_answer(format_answer(rejected)) == rejected  # a well-formed answer
        kinds.add(kind)
    assert kinds == {"uncorrected_error", "needless_rewrite", "mismatched_explanation"}
    with pytest.raises(ValueError, match="unknown degradation 'shorter'"):
        rule_rejected(chosen, "x", kinds=["shorter"])


def test_the_pair_report_counts_identical_pairs_sources_and_length_bias():
    report = pair_report([("abcd", "abcd", "rule"), ("abcd", "ab", "rule"),
                          ("abcd", "abcdef", "model"), ("abcd", "abcd", "llm")])
    assert report["pairs"] == 4 and report["identical"] == 2
    assert report["source_share"] == {"llm": 0.25, "model": 0.25, "rule": 0.5}
    assert report["length_ratio"] == pytest.approx((4 + 2 + 6 + 4) / 16)
