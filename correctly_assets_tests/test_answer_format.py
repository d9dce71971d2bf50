import pytest

from correctly_assets.domain.answer_format import AnswerRejected, format_answer, parse_answer
from correctly_assets.domain.models import CorrectionPoint, ParsedAnswer

ANSWER = ParsedAnswer(
    before="Yesterday I go to 학교.",
    after="Yesterday I went to school.",
    translation="어제 나는 학교에 갔다.",
    points=(
        CorrectionPoint(number=1, before="go", after="went", explanation="tense"),
        CorrectionPoint(number=2, before="학교", after="school", explanation="Korean word"),
    ),
)
CLEAN = format_answer(ANSWER)

MULTILINE = ParsedAnswer(
    before="A: Did you went there?\nB: Yes, I go there on last Sunday.",
    after="A: Did you go there?\nB: Yes, I went there last Sunday.",
    translation="A: 거기 갔어?\nB: 응, 지난 일요일에 갔어.",
    points=(
        CorrectionPoint(number=1, before="went", after="go",
                        explanation='tense: after "did" the verb stays in its base form'),
        CorrectionPoint(number=2, before="I go there on", after="I went there",
                        explanation='tense: it is past; no "on" before "last"'),
        CorrectionPoint(number=3, before="don't", after="do not",
                        explanation="style: spell it out"),
    ),
)


def _reason(reason: str) -> str:
    return reason.replace("[", r"\[").replace("]", r"\]")


@pytest.mark.parametrize("answer", [ANSWER, MULTILINE])
def test_round_trip(answer):
    text = format_answer(answer)
    assert parse_answer(text) == answer
    assert format_answer(parse_answer(text)) == text


def test_format_matches_the_instructions():
    assert format_answer(ANSWER) == (
        "[Before]\nYesterday I go to 학교.\n[After]\nYesterday I went to school.\n"
        "[Translation]\n어제 나는 학교에 갔다.\n[Correction Points]\n"
        '1. "go" -> "went": tense\n2. "학교" -> "school": Korean word'
    )


def test_tolerates_how_models_decorate_answers():
    text = (
        "Sure! Here is the rewritten passage.\n\n"
        "```text\n**Before:**\nYesterday I go to 학교.\n\n### After\nYesterday I went to school.\n"
        "Korean Translation:\n어제 나는 학교에 갔다.\n__Corrections__\n"
        "Here is what changed:\n"
        "1) “go” → “went”: tense\n2. \"학교\" -> \"school\" - Korean word\n```\n"
        "Let me know if you need anything else!"
    )
    assert parse_answer(text) == ANSWER


@pytest.mark.parametrize(
    "before_header",
    ["[Before]", "**Before:**", "### Before", "Before:", "BEFORE", "**[Before]**",
     "## **Before**", "  [before]  "],
)
@pytest.mark.parametrize(
    "points_header",
    ["[Correction Points]", "Correction points:", "**Corrections**", "### Correction Points",
     "[correction point]"],
)
def test_header_variants(before_header, points_header):
    text = format_answer(ANSWER).replace("[Before]", before_header)
    text = text.replace("[Correction Points]", points_header)
    assert parse_answer(text) == ANSWER


def test_header_with_the_section_on_the_same_line():
    text = (
        "**Before:** Yesterday I go to 학교.\n[After] Yesterday I went to school.\n"
        "Translation: 어제 나는 학교에 갔다.\nCorrection Points:\n"
        '1. "go" -> "went": tense\n2. "학교" -> "school": Korean word'
    )
    assert parse_answer(text) == ANSWER


def test_prose_starting_with_a_section_name_is_not_a_header():
    answer = ANSWER.model_copy(update={
        "before": "After school I go to 학교.\nBefore dinner I study.",
        "after": "After school I went to school.\nBefore dinner I studied.",
    })
    assert parse_answer(format_answer(answer)) == answer


@pytest.mark.parametrize(
    "line",
    [
        '1. "go" -> "went": tense',
        "1) “go” → “went”: tense",
        "1. ‘go’ → ‘went’ — tense",
        '1. "go" => "went" - tense',
        '- 1. **"go"** -> **"went"**: tense',
        "**1.** `go` -> `went`: tense",
        "1. go → went: tense",
    ],
)
def test_point_variants(line):
    text = format_answer(ANSWER).split("[Correction Points]")[0] + "[Correction Points]\n" + line
    assert parse_answer(text).points == (
        CorrectionPoint(number=1, before="go", after="went", explanation="tense"),
    )


def test_point_spans_keep_apostrophes_and_inner_quotes():
    text = format_answer(ANSWER).split("[Correction Points]")[0] + (
        "[Correction Points]\n1. \"dont\" -> \"don't\": spelling\n"
        "2. “he say “hi”” → “he said “hi””: tense"
    )
    points = parse_answer(text).points
    assert (points[0].before, points[0].after) == ("dont", "don't")
    assert (points[1].before, points[1].after) == ("he say “hi”", "he said “hi”")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "answer is empty"),
        ("  \n\t ", "answer is empty"),
        ("Sorry, I can't help with that.", "missing section [Before]"),
        (CLEAN.replace("[After]", "[Afterwards]"), "missing section [After]"),
        (CLEAN.replace("[Translation]", "Translated"), "missing section [Translation]"),
        (CLEAN.split("[Correction Points]")[0], "missing section [Correction Points]"),
        (CLEAN.replace("Yesterday I go to 학교.", ""), "section [Before] is empty"),
        (CLEAN.replace("Yesterday I went to school.", "  "), "section [After] is empty"),
        (CLEAN.replace("어제 나는 학교에 갔다.", ""), "section [Translation] is empty"),
        (CLEAN.split("1. ")[0], "section [Correction Points] is empty"),
        (CLEAN.split("1. ")[0] + "No mistakes found.",
         "section [Correction Points] has no point"),
        (CLEAN.replace('2. "학교"', '3. "학교"'), "correction points are not numbered 1..n"),
        (CLEAN.replace('1. "go"', '2. "go"'), "correction points are not numbered 1..n"),
        (CLEAN + "\n3. the rest is fine", "correction point 3 is not in the form"),
        (CLEAN + "\n[Before]\nagain", "section [Before] appears twice"),
    ],
)
def test_rejections_say_why(text, reason):
    with pytest.raises(AnswerRejected, match=_reason(reason)):
        parse_answer(text)


def test_a_rejection_is_a_value_error():
    with pytest.raises(ValueError):
        parse_answer("")
