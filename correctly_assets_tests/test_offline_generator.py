import os
import subprocess
import sys

import pytest

from correctly_assets.domain.answer_format import format_answer, parse_answer
from correctly_assets.llm.offline_generator import ERROR_TYPES, LABELS, generate_offline_answer
from correctly_assets.domain.quality import has_hangul
from correctly_assets.inputs.single.workbook import read_workbook
from correctly_assets.resources.files import SAMPLE_WORKBOOK

pytestmark = pytest.mark.unit

KOREAN = "한국어 번역입니다."

PASSAGES = [
    "Yesterday I went to school early because I had a math exam in the morning.",
    "My friend always drinks coffee before class. She says it helps her focus.",
    "We spent the weekend at the beach and ate fresh fish for dinner.",
    "The weather was terrible, so we stayed at home and watched two movies.",
    "I bought a new phone last week, but the battery dies very quickly.",
    "Our teacher gave us a lot of homework over the vacation.",
    "He usually takes the bus to work, but today he walked to the office.",
    "My mother cooked kimchi stew for my birthday, and my brother brought a cake.",
    "There is a small park near my house where I often walk my dog.",
    "They visited their grandmother in the hospital on Sunday afternoon.",
    "I need some advice about which laptop to buy for my new job.",
    "The restaurant on the corner serves delicious noodles at a reasonable price.",
    "She has lived in this city for three years and still loves it.",
    "We met at the station at seven and took the train to Busan.",
    "I really enjoy listening to music on the subway on my way home.",
    "My father reads the newspaper every morning while he eats breakfast.",
    "The library is closed on Mondays, so we studied at a cafe instead.",
    "I forgot my umbrella at the office and got wet on the way home.",
    "Can you recommend a good hotel near the airport for one night?",
    "My sister works at a big company and often travels to Japan for meetings.",
    "We ordered three pizzas for the party, but nobody ate the last one.",
    "I usually go to bed at midnight, but last night I slept early.",
    "The information on the website was wrong, so we missed the last bus.",
    "My colleagues and I had lunch at a new restaurant near the office.",
    "He told me that the meeting was moved to Thursday.",
    "I was tired after the long trip, so I went straight to bed.",
    "Our family goes to the mountains every summer to escape the heat.",
    "She bought two shirts and a jacket at the market for her son.",
    "The doctor said I should take this medicine three times a day.",
    "We waited for an hour at the airport because the flight was late.",
    "My brother plays the guitar in a band with his friends from school.",
    "I have a meeting with my boss at ten, so I cannot join you for coffee.",
    "They always clean the classroom after school on Fridays.",
    "It rained all day, so the festival was canceled.",
    "I lost my passport at the airport, and the police helped me find it.",
    "The new apartment is bigger than the old one, but the rent is higher.",
    "We watched a famous movie at the theater and then had dinner downtown.",
    "My grandfather taught me how to fish when I was a child.",
    "Please send me the report by Friday so that I can check it.",
    "The children played in the snow until their hands were cold.",
    "I called my friend to ask about the homework, but she did not answer.",
    "He found a wallet on the street and took it to the police station.",
    "We have known each other since middle school.",
    "This bread is made with rice flour, so it is a little chewy.",
    "My roommate listens to loud music late at night, which drives me crazy.",
    "The store opens at nine on weekdays and at ten on weekends.",
    "I started learning English when I was eight years old.",
    "We walked along the river and talked about our plans for the future.",
    "Quiet evenings please everyone.",
    "Reading novels relaxes me after stressful days.",
]

SEED = "2024-05-01|daily_life|0007"


def _answers(seed: str = SEED):
    answers = []
    for passage in PASSAGES:
        text = generate_offline_answer(passage, KOREAN, seed=seed)
        answer = parse_answer(text)
        assert format_answer(answer) == text  # written in exactly the canonical format
        answers.append((passage, answer))
    return answers


def test_there_are_about_fifty_varied_passages():
    assert len(set(PASSAGES)) == len(PASSAGES) >= 50


@pytest.mark.parametrize("seed", [SEED, "another seed", ""])
def test_every_answer_parses_and_records_real_mistakes(seed):
    for passage, answer in _answers(seed):
        assert answer.after == passage
        assert answer.translation == KOREAN
        assert answer.before != answer.after
        assert 1 <= len(answer.points) <= 4
        assert [p.number for p in answer.points] == list(range(1, len(answer.points) + 1))
        for point in answer.points:
            [edit] = point.edits
            assert edit.before != edit.after
            assert edit.before in answer.before, (passage, point)
            assert edit.after in answer.after, (passage, point)
            assert point.label in LABELS.values()
            assert has_hangul(point.explanation)  # explained in Korean


def test_passages_that_rules_apply_to_get_two_to_four_mistakes():
    for passage, answer in _answers()[:-2]:
        assert 2 <= len(answer.points) <= 4, (passage, answer.points)


def test_hangul_only_ever_appears_in_before_and_only_as_a_korean_word():
    for _, answer in _answers():
        assert not has_hangul(answer.after)
        korean_points = [p for p in answer.points
                         if p.label in (LABELS["Korean word"], LABELS["Korean clause"])]
        assert has_hangul(answer.before) == bool(korean_points)
        assert all(has_hangul(p.edits[0].before) and not has_hangul(p.edits[0].after)
                   for p in korean_points)


def test_every_error_type_is_produced_across_the_passages():
    produced = {p.label for _, answer in _answers() for p in answer.points}
    # A whole sentence in Korean needs a translation that aligns sentence by sentence:
    # see test_whole_korean_sentences_are_code_switched_into_the_learner_text.
    assert produced == {LABELS[t] for t in ERROR_TYPES if t != "Korean clause"}


def test_same_inputs_give_the_same_answer():
    for passage in PASSAGES[:10]:
        first = generate_offline_answer(passage, KOREAN, SEED)
        assert generate_offline_answer(passage, KOREAN, SEED) == first


def test_same_inputs_give_the_same_answer_in_another_process():
    script = (
        "import sys\n"
        "from correctly_assets.llm.offline_generator import generate_offline_answer\n"
        "sys.stdout.write(generate_offline_answer(*sys.argv[1:]))"
    )
    passage = PASSAGES[1]
    for hash_seed in ("1", "2"):
        other = subprocess.run(
            [sys.executable, "-c", script, passage, KOREAN, SEED],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True, text=True, encoding="utf-8", check=True,
        ).stdout
        assert other == generate_offline_answer(passage, KOREAN, SEED)


def test_different_seeds_usually_give_different_answers():
    passage = PASSAGES[0]
    assert len({generate_offline_answer(passage, KOREAN, seed=str(s)) for s in range(10)}) >= 5
    changed = sum(a != b for (_, a), (_, b) in zip(_answers("seed a"), _answers("seed b")))
    assert changed >= len(PASSAGES) * 3 // 4


def test_a_passage_no_rule_applies_to_still_gets_a_mistake():
    text = generate_offline_answer("Quiet evenings please everyone.", KOREAN, seed="x")
    answer = parse_answer(text)
    assert answer.before != answer.after
    assert answer.points


def test_sentence_starts_stay_capitalised():
    for _, answer in _answers():
        for line in answer.before.splitlines():
            assert not line[:1].islower(), line


@pytest.mark.parametrize(
    ("passage", "korean", "message"),
    [
        ("", KOREAN, "must not be empty"),
        ("A passage.", "  ", "must not be empty"),
        ("Oh!", KOREAN, "no word in the passage"),
    ],
)
def test_unusable_input_is_refused(passage, korean, message):
    with pytest.raises(ValueError, match=message):
        generate_offline_answer(passage, korean, seed="x")


def test_over_the_sample_workbook_passages():
    for example in read_workbook(SAMPLE_WORKBOOK).examples:
        text = generate_offline_answer(example.text, example.korean, seed=example.theme)
        answer = parse_answer(text)
        assert answer.after == example.text and answer.translation == example.korean
        assert answer.before != answer.after and not has_hangul(answer.after)
        assert 2 <= len(answer.points) <= 4


def test_whole_korean_sentences_are_code_switched_into_the_learner_text():
    examples = read_workbook(SAMPLE_WORKBOOK).examples
    switched = 0
    for example in examples:
        answer = parse_answer(generate_offline_answer(example.text, example.korean, seed="s"))
        clauses = [p for p in answer.points if p.label == LABELS["Korean clause"]]
        for point in clauses:
            [edit] = point.edits
            # a whole sentence of the translation stands for its English sentence
            assert edit.before in example.korean and edit.after in example.text
            assert edit.before.endswith(".") and edit.after.endswith(".")
            assert edit.before in answer.before
        switched += bool(clauses)
    assert len(examples) // 4 <= switched < len(examples)


def test_the_english_format_is_a_choice():
    text = generate_offline_answer(PASSAGES[0], KOREAN, SEED, language="en")
    assert text.startswith("[Before]\n")
    assert parse_answer(text) == parse_answer(generate_offline_answer(PASSAGES[0], KOREAN, SEED))
