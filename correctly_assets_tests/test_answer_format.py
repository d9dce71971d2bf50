import pytest

from correctly_assets.domain.answer_format import AnswerRejected, format_answer, parse_answer
from correctly_assets.domain.models import CorrectionPoint, ParsedAnswer
from correctly_assets.domain.offline_generator import ERROR_TYPES, generate_offline_answer
from correctly_assets.domain.quality import has_hangul
from correctly_assets.domain.workbook import read_workbook
from correctly_assets.resources.files import SAMPLE_WORKBOOK

ANSWER = ParsedAnswer(
    before="Yesterday I go to 학교.", after="Yesterday I went to school.",
    translation="어제 나는 학교에 갔다.",
    points=(CorrectionPoint(number=1, before="go", after="went", explanation="tense"),
            CorrectionPoint(number=2, before="학교", after="school", explanation="Korean word")),
)


def test_round_trip():
    assert parse_answer(format_answer(ANSWER)) == ANSWER


def test_tolerates_how_models_decorate_answers():
    text = (
        "```\n**Before:**\nYesterday I go to 학교.\n\n### After\nYesterday I went to school.\n"
        "Korean Translation:\n어제 나는 학교에 갔다.\n__Corrections__\n"
        "1) “go” → “went”: tense\n2. \"학교\" -> \"school\" - Korean word\n```"
    )
    assert parse_answer(text) == ANSWER


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "answer is empty"),
        (format_answer(ANSWER).replace("[After]", "[Afterwards]"), "missing section [After]"),
        (format_answer(ANSWER).replace("어제 나는 학교에 갔다.", ""), "section [Translation] is empty"),
        (format_answer(ANSWER).replace('2. "학교"', '3. "학교"'), "not numbered 1..n"),
        (format_answer(ANSWER) + "\nsee above", "correction point not in the form"),
        (format_answer(ANSWER) + "\n[Before]\nagain", "appears twice"),
    ],
)
def test_rejections_say_why(text, reason):
    with pytest.raises(AnswerRejected, match=reason.replace("[", r"\[").replace("]", r"\]")):
        parse_answer(text)


def test_offline_generator_over_the_sample_passages():
    examples = read_workbook(SAMPLE_WORKBOOK).examples
    seen_types = set()
    for example in examples:
        text = generate_offline_answer(example.text, example.korean, seed=example.text[:10])
        assert text == generate_offline_answer(example.text, example.korean, seed=example.text[:10])
        answer = parse_answer(text)
        assert answer.after == example.text and answer.translation == example.korean
        assert answer.before != answer.after and not has_hangul(answer.after)
        assert 1 <= len(answer.points) <= 4
        for point in answer.points:
            assert point.before in answer.before and point.after in answer.after
            seen_types.add(point.explanation.split(":")[0])
    assert seen_types == set(ERROR_TYPES)


def test_offline_generator_differs_by_seed_and_always_makes_a_mistake():
    passage = "We visited the old palace in the morning and had lunch with my family."
    answers = {generate_offline_answer(passage, "-", seed=str(s)) for s in range(10)}
    assert len(answers) > 3
    bare = parse_answer(generate_offline_answer("Quiet evenings please everyone.", "-", seed="x"))
    assert bare.before != bare.after
