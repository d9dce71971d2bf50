"""The tiny model's copy curriculum: what it learns before it is fine-tuned on the train chats.

A model built from nothing and shown a few dozen passages memorises them: on a passage it
has never seen it writes one of those instead of correcting the one in front of it. A
correction mostly repeats its input, and that is a skill a small transformer learns from
data that shows it, given enough distinct texts. So before the tiny model's fine-tune it is
trained on passages it will not meet again: the train chats' own sentences, recombined
across passages, some words swapped for others of the same chats, each passage written with
mistakes by the offline generator in the train chats' format. Only the train chats are
read, so nothing of a validation passage reaches the model.

Used for the tiny model alone (sft._load_base); a real base model has learned to copy in
pretraining.
"""

from __future__ import annotations

import random
import re
from typing import Any

from ..domain.answer_format import parse_answer
from ..domain.chat_format import language_of, parse_reply, to_messages
from ..llm.offline_generator import generate_offline_answer

_SENTENCE = re.compile(r"[^.!?]+[.!?]+[\"')\]]*\s*|[^.!?]+$")
_WORD = re.compile(r"\b[a-z]{4,}\b")


def _sentences(text: str) -> list[str]:
    return [m.group().strip() for m in _SENTENCE.finditer(text) if m.group().strip()]


def sentence_pairs(chats: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(English sentence, its Korean) of every sentence of the train chats' corrected
    passages: the translation's sentence where it has as many sentences as the passage,
    else the whole translation (the curriculum teaches copying; its translations need not
    be exact)."""
    pairs = []
    for chat in chats:
        reply = parse_reply(chat["messages"][-1]["content"])
        # The English chat format has no translation; the generator still wants one, and its
        # reply never shows it.
        translation = reply.translation.strip() or "-"
        english, korean = _sentences(reply.corrected), _sentences(translation)
        if not english:
            continue
        if len(english) == len(korean):
            pairs += zip(english, korean)
        else:
            pairs += [(sentence, translation) for sentence in english]
    return pairs


_CONSONANTS, _VOWELS = "bcdfghklmnprstvw", "aeiou"


def _made_up_word(rng: random.Random) -> str:
    return "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(rng.randint(2, 4)))


def _swap_words(sentence: str, words: list[str], rng: random.Random, share: float) -> str:
    """`sentence` with about `share` of its longer lower-case words replaced, half by others
    of the chats' words, half by made-up ones: text the model has not seen, whose words it
    can only copy, not recall."""
    def swap(match: re.Match) -> str:
        if rng.random() >= share:
            return match.group()
        return rng.choice(words) if rng.random() < 0.5 else _made_up_word(rng)

    return _WORD.sub(swap, sentence)


def curriculum_chats(chats: list[dict[str, Any]], count: int, seed: int = 0,
                     swap_share: float = 0.3) -> list[dict[str, Any]]:
    """`count` chats in the format of `chats`, each a passage of 2-4 of their sentences
    recombined (words swapped in), with the offline generator's mistakes; [] when the
    chats hold fewer than two aligned sentences."""
    pairs = sentence_pairs(chats)
    if len(pairs) < 2:
        return []
    language = language_of(chats[0]["messages"])
    words = sorted({w for english, _ in pairs for w in _WORD.findall(english)})
    rng = random.Random(seed)
    made: list[dict[str, Any]] = []
    attempts = 0
    while len(made) < count and attempts < 4 * count:  # a passage with no mistake to make is skipped
        attempts += 1
        chosen = rng.sample(pairs, min(len(pairs), rng.randint(2, 4)))
        passage = " ".join(_swap_words(english, words, rng, swap_share) for english, _ in chosen)
        korean = " ".join(dict.fromkeys(k for _, k in chosen))  # a shared translation once
        try:
            answer = generate_offline_answer(passage, korean, seed=f"curriculum-{seed}-{attempts}",
                                             language=language)
        except ValueError:
            continue
        made.append({"messages": list(to_messages(parse_answer(answer), language))})
    return made
