import re

import pytest

from correctly_assets.domain.answer_format import (
    AnswerRejected,
    format_answer,
    lenient_points,
    parse_answer,
)
from correctly_assets.domain.models import CorrectionPoint, Edit, GeneratedText, ParsedAnswer
from correctly_assets.domain.quality import problems

pytestmark = pytest.mark.unit


def point(number, before, after, explanation, label=""):
    return CorrectionPoint(number=number, label=label, edits=(Edit(before=before, after=after),),
                           explanation=explanation)


ANSWER = ParsedAnswer(
    before="Yesterday I go to 학교.",
    after="Yesterday I went to school.",
    translation="어제 나는 학교에 갔다.",
    points=(point(1, "go", "went", "tense."), point(2, "학교", "school", "Korean word.")),
)
CLEAN = format_answer(ANSWER, "en")

MULTILINE = ParsedAnswer(
    before="A: Did you went there?\nB: Yes, I go there on last Sunday.",
    after="A: Did you go there?\nB: Yes, I went there last Sunday.",
    translation="A: 거기 갔어?\nB: 응, 지난 일요일에 갔어.",
    points=(
        point(1, "went", "go", 'after "did" the verb stays in its base form.', label="tense"),
        point(2, "I go there on", "I went there", 'it is past; no "on" before "last".'),
        CorrectionPoint(number=3, label="흐름", explanation="문장을 자연스럽게 이었습니다."),
    ),
)

# The original Correctly's format, written for these tests in its shapes: a learner's text
# that mixes in Korean, the `#####` separator, labelled points with several edits.
KOREAN = """\
### 교정 전 ###
Yesterday I go to school and I very happy. 수업에서, the teacher tell us about history.
#####
### 교정 후 ###
Yesterday I went to school and I was very happy. In class, the teacher told us about history.
### 해석 ###
어제 나는 학교에 갔고 매우 행복했다. 수업에서 선생님이 역사에 대해 말씀해 주셨다.
### 교정 지점 ###
1. **시제 일치**: "go" → "went", "tell" → "told"로 바꾸어 지난 일을 과거형으로 표현했습니다.
2. "I very happy" → "I was very happy": 형용사 앞에 be동사가 필요합니다.
3. **"수업에서"** → **"In class"**: 한국어 표현을 영어로 옮겼습니다.
4. **문장 연결**: 두 문장의 흐름을 자연스럽게 다듬었습니다.
"""
KOREAN_POINTS = (
    CorrectionPoint(number=1, label="시제 일치",
                    edits=(Edit(before="go", after="went"), Edit(before="tell", after="told")),
                    explanation='"go" → "went", "tell" → "told"로 바꾸어 지난 일을 과거형으로 표현했습니다.'),
    point(2, "I very happy", "I was very happy", "형용사 앞에 be동사가 필요합니다."),
    point(3, "수업에서", "In class", "한국어 표현을 영어로 옮겼습니다."),
    CorrectionPoint(number=4, label="문장 연결", explanation="두 문장의 흐름을 자연스럽게 다듬었습니다."),
)


def _reason(reason: str) -> str:
    return re.escape(reason)


def _with_points(points: str, answer: str = KOREAN) -> str:
    return answer.split("### 교정 지점 ###")[0] + "### 교정 지점 ###\n" + points


def test_korean_answer_parses_into_its_sections_and_points():
    answer = parse_answer(KOREAN)
    assert answer.before == ("Yesterday I go to school and I very happy. 수업에서, the teacher "
                             "tell us about history.")  # no "#####" left in it
    assert answer.after.startswith("Yesterday I went") and answer.translation.startswith("어제")
    assert answer.points == KOREAN_POINTS
    assert problems(GeneratedText(prompt_id="p", date="d", theme="t", raw_answer=KOREAN,
                                  model="m", parsed=answer)) == []


@pytest.mark.parametrize("answer", [ANSWER, MULTILINE])
@pytest.mark.parametrize("language", ["ko", "en"])
def test_round_trip(answer, language):
    text = format_answer(answer, language)
    assert parse_answer(text) == answer
    assert format_answer(parse_answer(text), language) == text


def test_korean_is_the_default_format():
    assert format_answer(ANSWER) == (
        "### 교정 전 ###\nYesterday I go to 학교.\n#####\n"
        "### 교정 후 ###\nYesterday I went to school.\n\n"
        "### 해석 ###\n어제 나는 학교에 갔다.\n\n"
        '### 교정 지점 ###\n1. "go" → "went": tense.\n2. "학교" → "school": Korean word.'
    )


def test_english_format_matches_the_instructions():
    assert CLEAN == (
        "[Before]\nYesterday I go to 학교.\n[After]\nYesterday I went to school.\n"
        "[Translation]\n어제 나는 학교에 갔다.\n[Correction Points]\n"
        '1. "go" -> "went": tense.\n2. "학교" -> "school": Korean word.'
    )


@pytest.mark.parametrize(
    "header",
    ["### 교정 전 ###", "### 교정 전", "교정 전", "교정 전:", "**교정 전**", "[교정 전]",
     "## 교정전 ##", "**[교정 전]**"],
)
def test_korean_header_variants(header):
    assert parse_answer(KOREAN.replace("### 교정 전 ###", header)).points == KOREAN_POINTS


def test_korean_headers_glued_to_their_text_and_sections_in_any_order():
    text = (
        "### 해석 ###어제 나는 학교에 갔다.\n"
        "### 교정 후 ###Yesterday I went to school.\n"
        "교정 전: Yesterday I go to 학교.\n#####\n"
        "### 교정 지점 ###\n1. \"go\" → \"went\": tense.\n2. \"학교\" → \"school\": Korean word."
    )
    assert parse_answer(text) == ANSWER


def test_prose_starting_with_a_section_name_is_not_a_header():
    answer = ANSWER.model_copy(update={
        "before": "After school I go to 학교.\nBefore dinner I study.",
        "after": "After school I went to school.\nBefore dinner I studied.",
        "translation": "해석하면 이렇다. 방과 후에 학교에 갔다.",
    })
    for language in ("ko", "en"):
        assert parse_answer(format_answer(answer, language)) == answer


def test_tolerates_how_models_decorate_answers():
    text = (
        "Sure! Here is the rewritten passage.\n\n"
        "```text\n**Before:**\nYesterday I go to 학교.\n\n### After\nYesterday I went to school.\n"
        "Korean Translation:\n어제 나는 학교에 갔다.\n__Corrections__\n"
        "Here is what changed:\n"
        "1) “go” → “went”: tense.\n2. \"학교\" -> \"school\" - Korean word.\n```\n"
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
def test_english_header_variants(before_header, points_header):
    text = CLEAN.replace("[Before]", before_header).replace("[Correction Points]", points_header)
    assert parse_answer(text) == ANSWER


@pytest.mark.parametrize(
    "line",
    [
        '1. "go" -> "went": tense.',
        "1) “go” → “went”: tense.",
        "1. ‘go’ → ‘went’ — tense.",
        '1. "go" => "went" - tense.',
        '- 1. **"go"** -> **"went"**: tense.',
        "**1.** `go` -> `went`: tense.",
        "1. go → went: tense.",
        '1. **"go" → "went"**: tense.',
        '1. **"go" → "went"**  \n   - tense.',
        '1. "go" → "went":\ntense.',
    ],
)
def test_point_variants(line):
    assert parse_answer(_with_points(line)).points == (point(1, "go", "went", "tense."),)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('1. **시제 일치**: "wake up"과 "eat"를 "woke up"과 "had"로 고쳐 과거 시제로 맞췄습니다.',
         CorrectionPoint(number=1, label="시제 일치",
                         edits=(Edit(before="wake up", after="woke up"), Edit(before="eat", after="had")),
                         explanation='"wake up"과 "eat"를 "woke up"과 "had"로 고쳐 과거 시제로 맞췄습니다.')),
        ('1. **어법**: "I eat breakfast"를 "I had breakfast"로 바꾸었습니다.',
         CorrectionPoint(number=1, label="어법",
                         edits=(Edit(before="I eat breakfast", after="I had breakfast"),),
                         explanation='"I eat breakfast"를 "I had breakfast"로 바꾸었습니다.')),
        ('1. "so much stress" → "so much stress": 이 부분은 자연스러워서 그대로 두었습니다.',
         point(1, "so much stress", "so much stress", "이 부분은 자연스러워서 그대로 두었습니다.")),
        ('1. "go" → "went", "is" → "was": 지난 일이므로 과거형으로 바꾸었습니다.',
         CorrectionPoint(number=1, edits=(Edit(before="go", after="went"), Edit(before="is", after="was")),
                         explanation="지난 일이므로 과거형으로 바꾸었습니다.")),
        ('1. **"They say \'hi\'" → "They said \'hi\'"**: \'say\'를 \'said\'로 바꾸었습니다.',
         point(1, "They say 'hi'", "They said 'hi'", "'say'를 'said'로 바꾸었습니다.")),
        ("1. 문장 구조: 전체 문장의 흐름을 매끄럽게 다듬었습니다.",
         CorrectionPoint(number=1, label="문장 구조", explanation="전체 문장의 흐름을 매끄럽게 다듬었습니다.")),
        ("1. 전체적으로 문장을 더 자연스럽게 이었습니다.",
         CorrectionPoint(number=1, explanation="전체적으로 문장을 더 자연스럽게 이었습니다.")),
        ("1. **문체의 일관성**  \n   - 전체 문체를 정중한 어조로 맞추었습니다.\n"
         "   - 반말 표현을 없앴습니다.",
         CorrectionPoint(number=1, label="문체의 일관성",
                         explanation="전체 문체를 정중한 어조로 맞추었습니다. 반말 표현을 없앴습니다.")),
    ],
)
def test_korean_point_styles(line, expected):
    lead = '1. "x" → "y": 예시입니다.\n'  # an edit somewhere: an answer must name one
    points = parse_answer(_with_points(lead + line.replace("1.", "2.", 1))).points
    assert points[1] == expected.model_copy(update={"number": 2})


def test_sub_bullets_continue_their_point_and_a_closing_remark_is_not_part_of_it():
    text = _with_points(
        '교정한 내용은 다음과 같습니다.\n'
        '1. **"go" → "went"**  \n   - 과거형으로 바꾸었습니다.\n\n'
        '2. **문장 연결**  \n   - 연결어를 더했습니다.\n\n'
        '이상으로 모든 교정을 마쳤습니다.'
    )
    assert parse_answer(text).points == (
        point(1, "go", "went", "과거형으로 바꾸었습니다."),
        CorrectionPoint(number=2, label="문장 연결", explanation="연결어를 더했습니다."),
    )


def test_point_spans_keep_apostrophes_and_inner_quotes():
    text = CLEAN.split("[Correction Points]")[0] + (
        "[Correction Points]\n1. \"dont\" -> \"don't\": spelling.\n"
        "2. “he say “hi”” → “he said “hi””: tense."
    )
    points = parse_answer(text).points
    assert points[0].edits == (Edit(before="dont", after="don't"),)
    assert points[1].edits == (Edit(before="he say “hi”", after="he said “hi”"),)


@pytest.mark.parametrize(
    ("text", "finish_reason", "reason"),
    [
        (KOREAN, "length", "answer is truncated: the token limit cut it off"),
        (_with_points('1. "go" → "went": 과거형입니다.\n2. **어휘의 다양성**: \'beautiful places\''),
         None, "answer is truncated: its last line stops mid-sentence"),
        (_with_points('1. "go" → "went": 과거형입니다.\n2. **문장 구성의 흐름 개선**: 전체'),
         None, "answer is truncated"),
        (_with_points('1. "go" → "went": 과거형입니다.\n2. **"좋은 친구" → "good friends"'),
         None, "answer is truncated"),
    ],
)
def test_an_answer_cut_off_by_the_token_limit_is_rejected(text, finish_reason, reason):
    with pytest.raises(AnswerRejected, match=_reason(reason)):
        parse_answer(text, finish_reason)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('2. "I very happy → "I was very happy": be동사가 필요합니다.',
         "correction point 2 has an unclosed quote"),
        ('2. **"I very happy" → "I was very happy": be동사가 필요합니다.',
         "correction point 2 has unbalanced ** markers"),
        ("2. **시제**: 'go' → went로 바꾸었습니다.",
         'correction point 2 has an arrow outside a quoted "wrong" → "right" edit'),
        ('2. "I very happy" → "I was very happy":', "correction point 2 has no explanation"),
        ('2. "" → "": 빈 교정입니다.', "correction point 2 has an empty edit"),
    ],
)
def test_a_point_that_does_not_parse_cleanly_rejects_the_answer_naming_it(line, reason):
    text = _with_points('1. "go" → "went": 과거형입니다.\n' + line + "\n3. **흐름**: 다듬었습니다.")
    with pytest.raises(AnswerRejected, match=_reason(reason)):
        parse_answer(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "answer is empty"),
        ("  \n\t ", "answer is empty"),
        ("Sorry, I can't help with that.", "missing section [Before] (교정 전)"),
        (KOREAN.replace("### 교정 후 ###", "### 교정 ###"), "missing section [After] (교정 후)"),
        (CLEAN.replace("[After]", "[Afterwards]"), "missing section [After]"),
        (CLEAN.replace("[Translation]", "Translated"), "missing section [Translation]"),
        (CLEAN.split("[Correction Points]")[0], "missing section [Correction Points]"),
        (CLEAN.replace("Yesterday I go to 학교.", ""), "section [Before] (교정 전) is empty"),
        (CLEAN.replace("Yesterday I went to school.", "  "), "section [After] (교정 후) is empty"),
        (CLEAN.replace("어제 나는 학교에 갔다.", ""), "section [Translation] (해석) is empty"),
        (CLEAN.split("1. ")[0], "section [Correction Points] (교정 지점) is empty"),
        (CLEAN.split("1. ")[0] + "No mistakes found.",
         "section [Correction Points] has no point"),
        (_with_points("1. **흐름**: 다듬었습니다.\n2. 전체를 고쳤습니다."),
         "no correction point names an edit"),
        (CLEAN.replace('2. "학교"', '3. "학교"'), "correction points are not numbered 1..n"),
        (CLEAN.replace('1. "go"', '2. "go"'), "correction points are not numbered 1..n"),
        (CLEAN + "\n[Before]\nagain.", "section [Before] appears twice"),
        (KOREAN + "### 교정 전 ###\n다시.", "section [Before] appears twice"),
    ],
)
def test_rejections_say_why(text, reason):
    with pytest.raises(AnswerRejected, match=_reason(reason)):
        parse_answer(text)


def test_a_rejection_is_a_value_error():
    with pytest.raises(ValueError):
        parse_answer("")


@pytest.mark.parametrize(
    ("update", "problem"),
    [
        ({"before": "Yesterday I go to 학교.\n#####"}, "separator or header left in a section"),
        ({"after": "### 교정 후 ###\nYesterday I went to school."},
         "separator or header left in a section"),
        ({"translation": "[Translation]\n어제 나는 학교에 갔다."},
         "separator or header left in a section"),
        ({"points": (point(1, '**"go"', "went**", "시제."),)}, "markup left in an edit"),
        ({"points": (point(1, 'go" → "went', "went", "시제."),)}, "markup left in an edit"),
    ],
)
def test_quality_catches_what_a_garbled_parse_leaves(update, problem):
    garbled = ANSWER.model_copy(update=update)
    text = GeneratedText(prompt_id="p", date="d", theme="t", raw_answer="", model="m",
                         parsed=garbled)
    assert problem in problems(text)


def test_points_stored_before_several_edits_per_point_still_load():
    stored = {"number": 1, "before": "go", "after": "went", "explanation": "tense."}
    assert CorrectionPoint(**stored) == point(1, "go", "went", "tense.")


_EDIT_LISTS = {
    "straight quotes, a particle glued on": lambda n: ", ".join(
        f'"go{i}" → "went{i}"' for i in range(n)) + "로 고쳤습니다.",
    "single quotes with apostrophes": lambda n: ", ".join(
        f"'don't{i}' -> 'do not{i}'" for i in range(n)) + "를 고쳤습니다.",
    "curly quotes, nested": lambda n: "; ".join(
        f"“say “hi{i}”” → “said “hi{i}””" for i in range(n)) + "로",
    "Korean prose, never closed": lambda n: "과 ".join(f'"a{i}"' for i in range(n)) + "를 "
        + "와 ".join(f'"b{i}"' for i in range(n)),
}


@pytest.mark.adversarial
@pytest.mark.parametrize("shape", sorted(_EDIT_LISTS))
def test_parsing_a_point_is_linear_in_its_edits(shape):
    """A point of 10 to 1,000 edits: ten times the edits costs about ten times the time
    (a backtracking pattern cost 2.6x more per extra edit and never ended at 30)."""
    import time

    def seconds(n: int) -> float:
        body = f"1. {_EDIT_LISTS[shape](n)}\n"
        best = float("inf")
        for _ in range(3):  # the best of three, against a noisy machine
            started = time.perf_counter()
            lenient_points(body)
            best = min(best, time.perf_counter() - started)
        return best

    small, large = seconds(100), seconds(1000)
    assert large < 1.0, f"1,000 edits took {large:.2f} s"
    assert large < 40 * max(small, 1e-4), f"100 edits {small:.4f} s, 1,000 edits {large:.4f} s"
    assert seconds(10) < 0.05
