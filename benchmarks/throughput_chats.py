"""Synthetic chats for the training throughput benchmark (train_throughput.py): the project's
English chat format, tokenized lengths drawn uniformly from a range, fixed seed."""

from __future__ import annotations

import random
from typing import Any

from correctly_assets.domain.chat_format import to_messages
from correctly_assets.domain.models import CorrectionPoint, Edit, ParsedAnswer

_SUBJECTS = ("I", "We", "They", "My friend", "She", "He", "My sister", "Our teacher", "My boss")
_PLACES = ("school", "the market", "the library", "the office", "the park", "Busan", "a concert")
# (learner's sentence, corrected sentence, wrong words, right words, explanation)
_MISTAKES = (
    ("Yesterday {s} go to {p}.", "Yesterday {s} went to {p}.", "go", "went",
     "past tense for a finished action"),
    ("{s} have been to {p} last week.", "{s} went to {p} last week.", "have been", "went",
     "a finished time takes the simple past"),
    ("{s} am interesting in music since long time.",
     "{s} have been interested in music for a long time.", "am interesting",
     "have been interested", "interested describes the person; a duration takes for"),
    ("When {s} arrived to {p}, it was very crowd.", "When {s} arrived at {p}, it was very crowded.",
     "arrived to", "arrived at", "arrive at a place"),
    ("{s} could not sleep because of the noise of the construction.",
     "{s} could not sleep because of the construction noise.", "the noise of the construction",
     "the construction noise", "a noun compound sounds more natural"),
    ("There was many people in {p}.", "There were many people in {p}.", "was", "were",
     "the verb agrees with the plural people"),
    ("{s} discussed about the plan before going to {p}.", "{s} discussed the plan before going to {p}.",
     "discussed about", "discussed", "discuss takes a direct object"),
    ("{s} want to become more better at English.", "{s} want to become better at English.",
     "more better", "better", "better is already comparative"),
)
_FILLER = ("and", "then", "we", "talked", "about", "the", "weekend", "for", "a", "while",
           "because", "it", "was", "really", "fun", "to", "see", "everyone", "again", "there")


def _chat(items: list[tuple[str, str, str, str, str]], extra: list[str]) -> dict[str, Any]:
    before = " ".join(item[0] for item in items)
    after = " ".join(item[1] for item in items)
    if extra:
        tail = " ".join(extra).capitalize() + "."
        before, after = f"{before} {tail}", f"{after} {tail}"
    points = tuple(CorrectionPoint(number=i, edits=(Edit(before=item[2], after=item[3]),),
                                   explanation=item[4])
                   for i, item in enumerate(items, start=1))
    answer = ParsedAnswer(before=before, after=after, translation="", points=points)
    return {"messages": list(to_messages(answer, "en"))}


def synthetic_chats(tokenizer, count: int, min_tokens: int, max_tokens: int,
                    seed: int) -> tuple[list[dict[str, Any]], list[int]]:
    """`count` chats whose tokenized lengths are drawn uniformly from [min_tokens, max_tokens]
    (each lands on its target or at most a word above it, clipped to the range), with those lengths."""
    rng = random.Random(seed)

    def length(chat):
        return len(tokenizer.apply_chat_template(chat["messages"], tokenize=True,
                                                 return_dict=True)["input_ids"])

    def smallest(low, high, fits):  # the smallest n in [low, high] with fits(n), else high
        while low < high:
            middle = (low + high) // 2
            low, high = (low, middle) if fits(middle) else (middle + 1, high)
        return low

    chats, lengths = [], []
    while len(chats) < count:
        target = rng.randint(min_tokens, max_tokens)
        items = []
        for _ in range(max_tokens // 8):  # more than enough sentences
            template = rng.choice(_MISTAKES)
            subject, place = rng.choice(_SUBJECTS), rng.choice(_PLACES)
            items.append(tuple(part.format(s=subject, p=place) for part in template))
        extra = [rng.choice(_FILLER) for _ in range(60)]
        # Whole corrected sentences up to the target, then filler words to reach it.
        k = smallest(1, len(items), lambda n: length(_chat(items[:n], [])) > target)
        k = max(1, k - 1)
        w = smallest(0, len(extra), lambda n: length(_chat(items[:k], extra[:n])) >= target)
        chat = _chat(items[:k], extra[:w])
        n = length(chat)
        if min_tokens <= n <= max_tokens:  # a target below one sentence's length is drawn again
            chats.append(chat)
            lengths.append(n)
    return chats, lengths
