"""Rule-made rejected answers: each degradation does what it says, the result is still an
answer in the format, and the report of a set of pairs counts what the checks need."""

import random

import pytest

from correctly_assets.domain.answer_format import format_answer, parse_answer
from correctly_assets.domain.chat_format import to_messages
from correctly_assets.llm.judging import (
    judge_prompt,
    offline_verdict,
    parse_verdict,
    read_judge_prompt,
    reply_faults,
)
from correctly_assets.domain.models import CorrectionPoint, Edit, ParsedAnswer, TrainExample
from correctly_assets.llm.offline_generator import generate_offline_answer
from correctly_assets.evaluation.gleu import sentence_gleu
from correctly_assets.domain.preferences import (
    check_sources,
    mismatched_explanation,
    needless_rewrite,
    pair_for,
    pair_report,
    rule_rejected,
    uncorrected_error,
)

pytestmark = pytest.mark.unit

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


def _example(answer: ParsedAnswer, split="train") -> TrainExample:
    return TrainExample(prompt_id="p1", date="2026-04-02", theme="food", split=split, group="g",
                        messages=to_messages(answer))


def test_pair_for_takes_the_first_source_that_gives_a_rejected_answer():
    chosen = _answers(1)[0]
    example = _example(chosen, split="validation")
    answer_text = example.messages[2]["content"]
    copy_reply = answer_text.replace(chosen.after, chosen.before)  # corrects nothing
    on_policy = pair_for(example, ["on_policy", "rule"], answer=chosen, policy_reply=copy_reply,
                         score=sentence_gleu)
    assert on_policy.source == "on_policy" and on_policy.rejected == copy_reply
    assert on_policy.split == "validation" and on_policy.chosen == answer_text
    assert on_policy.prompt == example.messages[:2]
    # A reply within the margin, or the chosen answer itself, is no pair: the next source is.
    near = pair_for(example, ["on_policy", "rule"], answer=chosen, policy_reply=copy_reply, margin=101,
                    score=sentence_gleu)
    assert near.source == "rule" and near.detail in ("uncorrected_error", "needless_rewrite",
                                                     "mismatched_explanation")
    assert pair_for(example, ["on_policy"], answer=chosen, policy_reply=answer_text,
                    score=sentence_gleu) is None
    # The judge's verdict decides llm_judged, whatever the metric says.
    assert pair_for(example, ["llm_judged"], answer=chosen, policy_reply=copy_reply,
                    judged_worse=False) is None
    judged = pair_for(example, ["llm_judged"], answer=chosen, policy_reply=copy_reply, judged_worse=True)
    assert judged.source == "llm_judged" and judged.rejected == copy_reply
    assert judged.as_trl()["rejected"] == [{"role": "assistant", "content": copy_reply}]
    with pytest.raises(ValueError, match="sources must list one or more of on_policy"):
        check_sources(["on_policy", "best"])


def test_the_judge_prompt_reads_back_and_the_offline_judge_prefers_the_consistent_reply():
    chosen = _answers(1)[0]
    learner, answer_text = chosen.before, _example(chosen).messages[2]["content"]
    assert reply_faults(learner, answer_text) == 0
    garbled = "the the the"
    prompt = judge_prompt(learner, garbled, answer_text)
    assert read_judge_prompt(prompt) == (learner, garbled, answer_text)
    assert offline_verdict(prompt) == "B"
    assert offline_verdict(judge_prompt(learner, answer_text, garbled)) == "A"
    assert offline_verdict(judge_prompt(learner, answer_text, answer_text)) == "SAME"
    # An edit the learner never wrote is a fault the judge can see.
    point = chosen.points[0]
    invented = point.model_copy(update={"edits": (Edit(before="zzz", after=point.edits[0].after),)})
    worse = chosen.model_copy(update={"points": (invented, *chosen.points[1:])})
    assert offline_verdict(judge_prompt(learner, _example(worse).messages[2]["content"],
                                        answer_text)) == "B"
    assert parse_verdict(" a.") == "A" and parse_verdict("SAME") == "SAME"
    with pytest.raises(ValueError, match="neither A, B nor SAME"):
        parse_verdict("Both are fine")
    with pytest.raises(ValueError, match="reply A contains"):
        judge_prompt(learner, "x >>> y", answer_text)
