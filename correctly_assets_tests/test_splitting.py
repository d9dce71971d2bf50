import numpy as np

import pytest

from correctly_assets.domain.chat_format import (
    KOREAN_INSTRUCTION,
    language_of,
    learner_text,
    parse_reply,
    to_messages,
)
from correctly_assets.domain.models import CorrectionPoint, GeneratedText, ParsedAnswer
from correctly_assets.domain.quality import duplicate_rate, has_hangul, problems
from correctly_assets.domain.splitting import (
    TRAIN,
    VALIDATION,
    assign_splits,
    near_duplicate_groups,
    split_texts,
)

pytestmark = pytest.mark.unit


def _text(i: int, after: str = "I went to school.", before: str = "I go to school.") -> GeneratedText:
    answer = ParsedAnswer(
        before=before, after=after, translation="나는 학교에 갔다.",
        points=(CorrectionPoint(number=1, before="go", after="went", explanation="tense."),),
    )
    return GeneratedText(prompt_id=f"2026-01-01|travel|{i:04d}", date="2026-01-01",
                         theme="travel", raw_answer="...", model="m", parsed=answer)


def _unit(vectors):
    v = np.asarray(vectors, dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_near_duplicates_form_one_group_transitively():
    vectors = _unit([[1, 0, 0], [0.99, 0.14, 0], [0.96, 0.28, 0], [0, 1, 0], [0, 0, 1]])
    groups = near_duplicate_groups(["e", "d", "c", "b", "a"], vectors, min_similarity=0.95)
    assert groups[:3] == ["c", "c", "c"]  # e~d~c chained; named by the smallest id
    assert groups[3:] == ["b", "a"]


def test_groups_never_straddle_and_fraction_is_met():
    rng = np.random.default_rng(0)
    base = _unit(rng.normal(size=(10, 16)))
    # 30 texts: every base vector three times with small noise -> 10 groups of 3.
    vectors = _unit(np.repeat(base, 3, axis=0) + 0.01 * rng.normal(size=(30, 16)))
    texts = [_text(i) for i in range(30)]
    examples, left_out = split_texts(texts, vectors, prior_sides={}, validation_fraction=0.2,
                                     min_similarity=0.95)
    assert left_out == []
    side = {}
    for example in examples:
        assert side.setdefault(example.group, example.split) == example.split
    assert len(side) == 10
    assert sum(e.split == VALIDATION for e in examples) == 6  # ceil(0.2 * 30), whole groups


def test_split_is_deterministic_and_inherits_prior_sides():
    vectors = _unit(np.eye(6))
    texts = [_text(i) for i in range(6)]
    first, _ = split_texts(texts, vectors, prior_sides={}, validation_fraction=0.34,
                           min_similarity=0.9)
    again, _ = split_texts(texts, vectors, prior_sides={}, validation_fraction=0.34,
                           min_similarity=0.9)
    assert first == again
    flipped = {e.prompt_id: TRAIN if e.split == VALIDATION else VALIDATION for e in first[:2]}
    inherited, _ = split_texts(texts, vectors, validation_fraction=0.34, min_similarity=0.9,
                               prior_sides={k: {v} for k, v in flipped.items()})
    assert [e.split for e in inherited[:2]] == [flipped[e.prompt_id] for e in first[:2]]


def test_assign_keeps_one_group_for_training():
    assert assign_splits(["a", "b"], {}, validation_fraction=0.9) in (
        {"a": VALIDATION, "b": TRAIN}, {"a": TRAIN, "b": VALIDATION})
    assert assign_splits(["a", "a"], {}, validation_fraction=0.5) == {"a": TRAIN}


def test_quality_problems_and_duplicate_rate():
    assert problems(_text(0)) == []
    assert problems(_text(0, before="I went to school.")) == ["unchanged correction"]
    assert "Hangul left in corrected English" in problems(_text(0, after="I went to 학교."))
    assert has_hangul("커피") and not has_hangul("coffee")
    vectors = _unit([[1, 0], [1, 0.01], [0, 1], [-1, 0]])
    assert duplicate_rate(vectors, 0.99) == 0.5


@pytest.mark.parametrize("language", ["ko", "en"])
def test_chat_messages_round_trip_through_reply_parser(language):
    answer = _text(0).parsed
    messages = to_messages(answer, language)
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert learner_text(messages[1]["content"]) == "I go to school."
    assert language_of(messages) == language
    reply = parse_reply(messages[2]["content"])
    assert reply.corrected == "I went to school."
    assert reply.points == answer.points
    assert reply.translation == ("나는 학교에 갔다." if language == "ko" else "")


def test_the_original_training_target():
    """The original's train row: the learner's section in, the rest of the answer out,
    under its Korean instruction."""
    system, user, assistant = to_messages(_text(0).parsed)
    assert system["content"] == KOREAN_INSTRUCTION
    assert user["content"] == "### 교정 전 ###\nI go to school."
    assert assistant["content"] == (
        "### 교정 후 ###\nI went to school.\n\n### 해석 ###\n나는 학교에 갔다.\n\n"
        '### 교정 지점 ###\n1. "go" → "went": tense.'
    )


def test_a_reply_cut_off_keeps_what_it_has():
    reply = parse_reply("### 교정 후 ###\nI went to school.\n\n### 해석 ###\n나는 학")
    assert (reply.corrected, reply.translation, reply.points) == ("I went to school.", "나는 학", ())


def test_a_text_near_both_sides_is_left_out_with_its_group():
    """x1 (validation) and x2 (train), elsewhere, are not near-duplicates; x3 is one of
    both: no side keeps its group from straddling, so it is left out."""
    vectors = _unit([[1, 0, 0], [0, 0, 1], [0.6, 0.8, 0], [0.6, 0.75, 0.1]])
    texts = [_text(i) for i in range(4)]
    ids = [t.prompt_id for t in texts]
    prior = {ids[2]: {VALIDATION, TRAIN}}  # text 2 links to both; text 3 is text 2's twin
    examples, left_out = split_texts(texts, vectors, prior_sides=prior,
                                     validation_fraction=0.5, min_similarity=0.99)
    assert left_out == [ids[2], ids[3]]  # the whole group: the twin would leak through it
    assert [e.prompt_id for e in examples] == ids[:2]
