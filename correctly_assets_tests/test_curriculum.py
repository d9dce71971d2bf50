"""The tiny model's copy curriculum is made from the train chats alone."""

import pytest

from correctly_assets.domain.answer_format import parse_answer
from correctly_assets.domain.chat_format import language_of, parse_reply, to_messages
from correctly_assets.inputs.single.spec import build_theme_specs
from correctly_assets.inputs.single.workbook import read_workbook
from correctly_assets.llm.offline_generator import generate_offline_answer
from correctly_assets.resources.files import SAMPLE_WORKBOOK
from correctly_assets.training.curriculum import curriculum_chats, sentence_pairs

pytestmark = pytest.mark.unit


def _chats(language="ko"):
    passages = [p for spec in build_theme_specs(read_workbook(SAMPLE_WORKBOOK)).values()
                for p in spec.examples]
    train, held_out = passages[:40], passages[40:]
    chats = [{"messages": list(to_messages(parse_answer(generate_offline_answer(
        p.text, p.korean, seed="t", language=language)), language))} for p in train]
    return chats, train, held_out


@pytest.mark.parametrize("language", ["ko", "en"])
def test_curriculum_passages_are_new_recombinations_of_train_sentences_in_the_chats_format(language):
    chats, train, held_out = _chats(language)
    made = curriculum_chats(chats, 300, seed=7)
    assert len(made) == 300
    assert made == curriculum_chats(chats, 300, seed=7)  # deterministic in its seed
    assert all(language_of(chat["messages"]) == language for chat in made)
    train_text = " ".join(p.text for p in train)
    afters = [parse_reply(chat["messages"][-1]["content"]).corrected for chat in made]
    assert len(set(afters)) == len(afters)  # every passage distinct
    assert not set(afters) & {p.text for p in train}  # none a train passage as it was
    # every reply parses into all its sections, and the learner's text differs from it
    for chat in made:
        reply = parse_reply(chat["messages"][-1]["content"])
        assert reply.complete or language == "en"
        assert chat["messages"][1]["content"] != reply.corrected
    # nothing of a held-out passage: no sentence of one appears
    held_sentences = {s for p in held_out for s in p.text.split(". ") if len(s) > 20}
    assert not any(s in after for s in held_sentences for after in afters
                   if s not in train_text)


def test_no_curriculum_from_chats_without_sentences():
    assert curriculum_chats([], 10) == []
    chats, _, _ = _chats()
    assert len(sentence_pairs(chats)) >= len(chats)
