"""A deterministic stand-in for the LLM: injects typical Korean-learner mistakes.

It writes the same sectioned answer an LLM is asked for, in the original's Korean format:
교정 전 is the clean passage with 2-4 mistakes, often with a whole sentence left in Korean
(the learner's code-switching), 교정 후 the clean passage, 해석 the given Korean, and one
numbered correction point per mistake, labelled with its error type in Korean and
explained in Korean.
The same (passage, korean, seed) always gives the same answer, in any process, so offline
partitions are reproducible.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..domain.answer_format import Language, format_answer
from ..domain.models import CorrectionPoint, Edit, ParsedAnswer

ERROR_TYPES = (
    "subject-verb agreement",
    "tense",
    "article",
    "preposition",
    "plural",
    "word order",
    "Korean word",
    "Korean clause",
)
# The label each error type's correction point carries.
LABELS = {
    "subject-verb agreement": "주어-동사 일치", "tense": "시제", "article": "관사",
    "preposition": "전치사", "plural": "단수/복수", "word order": "어순",
    "Korean word": "한국어 단어", "Korean clause": "한국어 문장",
}
# Sentence-initial connectors a learner writes in Korean: "그래서, we stayed home."
_KOREAN_CONNECTORS = {"so": "그래서", "but": "하지만", "and": "그리고", "then": "그 다음에",
                      "also": "또", "however": "그런데", "because": "왜냐하면"}
_SENTENCE = re.compile(r"[^.!?]+[.!?]+(?:\s+|$)")

_MIN_ERRORS, _MAX_ERRORS = 2, 4

_AGREEMENT = {"is": "are", "are": "is", "was": "were", "were": "was", "has": "have", "does": "do"}
_THIRD_PERSON = {"he", "she", "it", "everyone", "everybody", "nobody", "someone", "somebody"}
# past -> (invented regular form, present form)
_IRREGULAR_PAST = {
    "went": ("goed", "go"), "ate": ("eated", "eat"), "bought": ("buyed", "buy"),
    "took": ("taked", "take"), "saw": ("seed", "see"), "made": ("maked", "make"),
    "came": ("comed", "come"), "got": ("getted", "get"), "felt": ("feeled", "feel"),
    "met": ("meeted", "meet"), "found": ("finded", "find"), "told": ("telled", "tell"),
    "thought": ("thinked", "think"), "brought": ("bringed", "bring"),
    "spent": ("spended", "spend"), "slept": ("sleeped", "sleep"), "wrote": ("writed", "write"),
    "gave": ("gived", "give"), "began": ("beginned", "begin"), "ran": ("runned", "run"),
    "taught": ("teached", "teach"), "drove": ("drived", "drive"), "sent": ("sended", "send"),
    "lent": ("lended", "lend"), "fell": ("falled", "fall"), "said": ("sayed", "say"),
    "knew": ("knowed", "know"), "kept": ("keeped", "keep"), "sat": ("sitted", "sit"),
}
_REGULAR_PAST = {
    "visited": "visit", "walked": "walk", "played": "play", "watched": "watch",
    "started": "start", "finished": "finish", "cooked": "cook", "stayed": "stay",
    "enjoyed": "enjoy", "opened": "open", "talked": "talk", "called": "call",
    "wanted": "want", "worked": "work", "helped": "help", "looked": "look",
    "waited": "wait", "cleaned": "clean", "asked": "ask", "needed": "need",
    "checked": "check", "ordered": "order", "missed": "miss", "learned": "learn",
    "listened": "listen", "showed": "show", "returned": "return", "joined": "join",
    "decided": "decide", "tried": "try", "rented": "rent", "grabbed": "grab",
    "remembered": "remember", "volunteered": "volunteer", "arrived": "arrive",
    "moved": "move", "liked": "like", "loved": "love", "used": "use", "expected": "expect",
    "laughed": "laugh", "planned": "plan", "stopped": "stop", "hoped": "hope",
    "traveled": "travel", "travelled": "travel", "washed": "wash", "changed": "change",
    "closed": "close", "lived": "live", "studied": "study", "carried": "carry",
    "practiced": "practice", "invited": "invite", "received": "receive", "baked": "bake",
    "rained": "rain", "snowed": "snow", "happened": "happen", "smiled": "smile",
}
_PLURAL_SUBJECTS = {"i", "we", "they"}  # always subjects, unlike "you" and "it"
_NOT_PRESENT_VERBS = {
    "am", "can", "cannot", "could", "will", "would", "should", "must", "may", "might",
    "shall", "had", "did", "put", "cut", "let", "set", "hit", "read", "hurt", "quit", "both",
    "all", "only", "even", "too", "each", "guys", "myself", "ourselves", "themselves",
}
_BE_FORMS = {"is", "are", "was", "were", "be", "been", "being", "am", "get", "got"}
_HAVE_FORMS = {"have", "has", "had"}
_DETERMINERS = {
    "the", "a", "an", "my", "your", "his", "her", "our", "their", "its", "this", "that",
    "these", "those", "some", "every", "each", "no", "any",
}
_PLACE_PREPOSITIONS = {"to", "at", "from", "after", "before"}
_MEAL_WORDS = {"have", "had", "has", "for", "after", "before", "at", "eat", "ate", "skipped"}
_SUBJECT_WORDS = {"in", "speak", "speaks", "study", "studying", "learn", "learning", "for"}
_ZERO_ARTICLE = {  # nouns used without an article after these words
    "school": _PLACE_PREPOSITIONS, "work": _PLACE_PREPOSITIONS, "church": _PLACE_PREPOSITIONS,
    "bed": {"to", "in"}, "breakfast": _MEAL_WORDS, "lunch": _MEAL_WORDS, "dinner": _MEAL_WORDS,
    "english": _SUBJECT_WORDS, "math": _SUBJECT_WORDS, "history": _SUBJECT_WORDS,
}
_PREPOSITION_SWAPS = {"at": "in", "in": "at", "on": "in", "to": "at", "for": "to", "by": "until"}
_NUMBERS = {
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "twenty", "thirty", "hundred", "many", "several", "few", "both",
}
_TIME_WORDS = {
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "mondays",
    "fridays", "sundays", "saturdays", "weekends", "january", "february", "march", "april",
    "may", "june", "july", "august", "september", "october", "november", "december",
    "night", "noon", "midnight", "weekend", "sunrise", "sunset", "first", "least", "tomorrow",
    "tonight", "next",
}
_UNCOUNTABLE = {
    "information", "advice", "furniture", "homework", "luggage", "equipment", "baggage",
    "bread", "rice", "traffic", "weather", "music", "money", "knowledge", "feedback",
    "research", "evidence", "stuff", "salt", "scenery", "jewelry",
}
_QUANTITIES = {"lot", "few", "little"}  # "a lot", "a few": no article to drop
_ADVERBS = {"always", "usually", "often", "never", "really", "also", "sometimes"}
_PREPOSITIONS = {"in", "on", "at", "to", "for", "with", "from", "into", "about", "by", "of"}
_FUNCTION_WORDS = _PREPOSITIONS | {
    "and", "but", "or", "so", "because", "than", "when", "if", "not", "as", "like", "just",
    "still",
}
_OBJECT_STARTS = _DETERMINERS | {"it", "them", "me", "him", "us", "to", "up", "out"}
_ADJECTIVES = {
    "big", "small", "new", "old", "good", "nice", "beautiful", "delicious", "cheap",
    "expensive", "long", "short", "busy", "quiet", "famous", "favorite", "heavy", "hot",
    "cold", "spicy", "early", "late", "great", "little", "young", "clean", "warm", "strict",
}
# Verb senses ("book a table", "park the car") are left out: the swap would make nonsense.
_KOREAN = {
    "school": "학교", "friend": "친구", "coffee": "커피", "weekend": "주말", "family": "가족",
    "mother": "엄마", "father": "아빠", "grandmother": "할머니", "grandfather": "할아버지",
    "sister": "언니", "brother": "오빠", "hospital": "병원", "restaurant": "식당",
    "food": "음식", "company": "회사", "office": "사무실", "teacher": "선생님", "bus": "버스",
    "subway": "지하철", "hotel": "호텔", "phone": "휴대폰", "market": "시장", "movie": "영화",
    "dinner": "저녁", "lunch": "점심", "breakfast": "아침", "money": "돈", "house": "집",
    "home": "집", "doctor": "의사", "medicine": "약", "exam": "시험", "meeting": "회의",
    "trip": "여행", "beach": "해변", "clothes": "옷", "shoes": "신발", "song": "노래",
    "city": "도시", "airport": "공항", "ticket": "표", "kimchi": "김치", "library": "도서관",
    "mountain": "산", "sea": "바다", "vegetable": "채소", "fruit": "과일", "bread": "빵",
    "rice": "밥", "homework": "숙제", "weather": "날씨", "umbrella": "우산", "bag": "가방",
    "passport": "여권", "birthday": "생일", "gift": "선물", "vacation": "방학",
    "festival": "축제", "station": "역", "colleague": "동료", "classmate": "반 친구",
    "apartment": "아파트", "snack": "과자", "milk": "우유", "salt": "소금", "recipe": "레시피",
    "laptop": "노트북", "jacket": "재킷", "shirt": "셔츠", "noodle": "국수", "dog": "강아지",
}
_NOUNS = set(_KOREAN) | _UNCOUNTABLE | {
    "day", "time", "week", "month", "year", "place", "idea", "job", "view", "way", "price",
    "size", "menu", "seat", "shop", "table", "street", "road", "book", "park", "store",
    "train", "game", "class", "car", "cat", "team", "project", "report", "plan", "room",
    "town", "country", "sight", "boss", "manager", "box", "cafe", "dish", "cake", "soup",
    "tea", "sandwich", "mug", "quiz", "schedule", "deadline", "recipe", "coat", "guitar",
}
_PLACES = {"school", "bed", "church", "class", "market", "hospital", "library", "airport"}
# Words that are never the main verb a subject or an adverb goes with.
_NOT_VERBS = _OBJECT_STARTS | _ADVERBS | _BE_FORMS | _FUNCTION_WORDS
# Words after "I", "we", "they" that must not get an -s: past forms, modals, "both", ...
_NO_ADDED_S = _AGREEMENT.keys() | _IRREGULAR_PAST.keys() | _NOT_VERBS | _NOT_PRESENT_VERBS
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


@dataclass(frozen=True)
class _Edit:
    start: int  # the span of the clean passage that the mistake replaces
    end: int
    wrong: str
    error_type: str
    detail: str


class _Passage:
    def __init__(self, text: str):
        self.text = text
        self.words = list(_WORD.finditer(text))

    def word(self, i: int) -> str:
        return self.words[i].group() if 0 <= i < len(self.words) else ""

    def lower(self, i: int) -> str:
        return self.word(i).lower()

    def joined(self, i: int) -> bool:
        """Whether word i and word i + 1 are separated by exactly one space."""
        if i + 1 >= len(self.words):
            return False
        return self.text[self.words[i].end() : self.words[i + 1].start()] == " "

    def starts_sentence(self, i: int) -> bool:
        return not self.text[: self.words[i].start()].strip() or \
            self.text[: self.words[i].start()].rstrip()[-1] in ".!?"

    def before(self, i: int) -> str:
        """The previous word in the same clause (no punctuation between), lower-case."""
        return self.lower(i - 1) if i > 0 and self.joined(i - 1) else ""

    def edit(
        self, i: int, wrong: str, error_type: str, detail: str, last: int | None = None
    ) -> _Edit:
        """An edit of words i..last (i alone by default)."""
        end = self.words[i if last is None else last].end()
        return _Edit(self.words[i].start(), end, wrong, error_type, detail)


def _like(word: str, model: str) -> str:
    """`word` with `model`'s initial capital, so a sentence still starts with one."""
    return word[:1].upper() + word[1:] if model[:1].isupper() else word


def _without_s(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "zes", "oes")):
        return word[:-2]
    return word[:-1]


def _with_s(verb: str) -> str:
    if verb == "have":
        return "has"
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _agreement(p: _Passage, i: int) -> Iterator[_Edit]:
    word, lower = p.word(i), p.lower(i)
    if lower in _AGREEMENT:
        yield p.edit(i, _like(_AGREEMENT[lower], word), "subject-verb agreement",
                     f'주어에 맞는 동사 형태는 "{word}"입니다.')
    # The subject is the previous word, or the one before an adverb: "she always goes".
    subject_at = i - 2 if p.before(i) in _ADVERBS and p.before(i - 1) else i - 1
    subject = p.before(subject_at + 1)
    if (subject in _THIRD_PERSON and lower.endswith("s") and len(lower) > 3
            and lower not in _AGREEMENT and lower not in _NOT_VERBS
            and not lower.endswith(("ss", "us"))):
        yield p.edit(i, _without_s(word), "subject-verb agreement",
                     f'3인칭 단수 주어 뒤에는 -s가 붙은 "{word}"를 씁니다.')
    if (subject in _PLURAL_SUBJECTS and word.isalpha() and word.islower() and len(word) > 1
            and lower not in _NO_ADDED_S and not lower.endswith("ed")):
        yield p.edit(i, _with_s(word), "subject-verb agreement",
                     f'주어 "{p.word(subject_at)}" 뒤에는 -s 없는 "{word}"를 씁니다.')


def _tense(p: _Passage, i: int) -> Iterator[_Edit]:
    word, lower, previous = p.word(i), p.lower(i), p.before(i)
    if previous in _BE_FORMS:  # passives and adjectives: "was delayed", "got used to"
        return
    detail = f'지난 일이므로 과거형 "{word}"를 씁니다.'
    if lower in _IRREGULAR_PAST:
        invented, present = _IRREGULAR_PAST[lower]
        yield p.edit(i, _like(invented, word), "tense", detail + " 불규칙 동사입니다.")
        if previous not in _HAVE_FORMS:
            yield p.edit(i, _like(present, word), "tense", detail)
    elif lower in _REGULAR_PAST and previous not in _HAVE_FORMS and previous != "to":
        yield p.edit(i, _like(_REGULAR_PAST[lower], word), "tense", detail)


def _article(p: _Passage, i: int) -> Iterator[_Edit]:
    word, lower, following = p.word(i), p.lower(i), p.word(i + 1)
    if lower in ("the", "a", "an") and p.joined(i) and following.lower() not in _QUANTITIES:
        yield p.edit(i, _like(following, word), "article",
                     f'여기서 "{following}" 앞에는 관사 "{lower}"가 필요합니다.', last=i + 1)
    if p.before(i) in _ZERO_ARTICLE.get(lower, ()):
        yield p.edit(i, f"the {word}", "article",
                     f'"{p.word(i - 1)}" 뒤의 "{word}"에는 관사를 쓰지 않습니다.')


def _preposition(p: _Passage, i: int) -> Iterator[_Edit]:
    word, lower, following = p.word(i), p.lower(i), p.lower(i + 1)
    if lower not in _PREPOSITION_SWAPS or not p.joined(i):
        return
    # Only before a noun phrase: "to" before a verb ("to book", "to work") is an infinitive;
    # "by" is confused with "until" only before a deadline.
    if lower == "by":
        objects = _TIME_WORDS | _NUMBERS
    else:
        objects = _DETERMINERS | _TIME_WORDS | _NUMBERS | (_PLACES if lower == "to" else _NOUNS)
    if following in objects:
        wrong = _PREPOSITION_SWAPS[lower]
        yield p.edit(i, _like(wrong, word), "preposition",
                     f'이 자리에는 "{wrong}"이 아니라 전치사 "{lower}"를 씁니다.')


def _plural(p: _Passage, i: int) -> Iterator[_Edit]:
    word, lower, previous = p.word(i), p.lower(i), p.before(i)
    if lower in _UNCOUNTABLE and previous not in ("to", "a", "an"):
        yield p.edit(i, word + "s", "plural", f'"{word}"는 셀 수 없는 명사라서 복수형이 없습니다.')
    elif ((previous in _NUMBERS or previous in ("these", "those")) and lower.endswith("s")
            and len(lower) > 3 and not lower.endswith(("ss", "us", "is", "ies", "ves", "oes"))):
        yield p.edit(i, _without_s(word), "plural",
                     f'"{p.word(i - 1)}" 뒤에는 복수형 "{word}"를 씁니다.')


def _word_order(p: _Passage, i: int) -> Iterator[_Edit]:
    word, lower, following = p.word(i), p.lower(i), p.word(i + 1)
    # "I always drink coffee" -> "I drink always coffee": the adverb lands between verb
    # and object, which is where a Korean sentence would not put it either.
    if (lower in _ADVERBS and word.islower() and p.joined(i) and p.joined(i + 1)
            and following.islower() and following not in _NOT_VERBS
            and p.lower(i + 2) in _OBJECT_STARTS | _NOUNS):
        yield p.edit(i, f"{following} {word}", "word order",
                     f'부사 "{word}"는 동사 "{following}" 뒤가 아니라 앞에 옵니다.', last=i + 1)
    noun = following.lower()
    if lower in _ADJECTIVES and p.joined(i) and (noun in _NOUNS or noun[:-1] in _NOUNS):
        yield p.edit(i, f"{_like(noun, word)} {lower}", "word order",
                     f'형용사 "{lower}"는 명사 "{noun}" 앞에 옵니다.', last=i + 1)


def _korean_word(p: _Passage, i: int) -> Iterator[_Edit]:
    lower = p.lower(i)
    singular = lower[:-1] if lower.endswith("s") and lower not in _KOREAN else lower
    if singular in _KOREAN:
        korean = _KOREAN[singular]
        yield p.edit(i, korean, "Korean word",
                     f'한국어 "{korean}" 대신 영어 단어 "{p.word(i)}"를 씁니다.')
    connector = _KOREAN_CONNECTORS.get(lower)
    if connector and p.word(i)[:1].isupper() and p.starts_sentence(i):
        yield p.edit(i, connector, "Korean word",
                     f'문장을 잇는 말도 영어 "{p.word(i)}"로 씁니다.')


_RULES: tuple[Callable[[_Passage, int], Iterator[_Edit]], ...] = (
    _agreement, _tense, _article, _preposition, _plural, _word_order, _korean_word,
)


def _fallback(p: _Passage) -> tuple[list[_Edit], list[_Edit]]:
    """An unneeded "the" before a content word, for passages the rules barely touch.

    Returns the edits after a preposition, where a noun phrase most likely starts, and the
    rest, which are used only when nothing else gives the passage a mistake.
    """
    not_nouns = _NOT_VERBS | _NUMBERS | _THIRD_PERSON
    not_before_nouns = (_PLURAL_SUBJECTS | _THIRD_PERSON | _HAVE_FORMS | _BE_FORMS | _DETERMINERS
                        | {"you", "to", "very", "not"})
    likely, last_resort = [], []
    for i, match in enumerate(p.words):
        word = match.group()
        if (len(word) > 3 and word.islower() and not word.endswith("ly")
                and word not in not_nouns and p.before(i) not in not_before_nouns):
            edit = p.edit(i, f"the {word}", "article", f'"{word}" 앞에는 관사가 필요 없습니다.')
            (likely if p.before(i) in _PREPOSITIONS else last_resort).append(edit)
    return likely, last_resort


def _korean_clauses(passage: str, korean: str) -> list[_Edit]:
    """A sentence of the passage left in Korean, when the translation aligns sentence by
    sentence with it; never the whole passage."""
    english = [m for m in _SENTENCE.finditer(passage)]
    sentences = [m.group().strip() for m in _SENTENCE.finditer(korean)]
    if len(english) < 2 or len(english) != len(sentences) or "".join(
            m.group() for m in english) != passage:
        return []
    edits = []
    for match, sentence in zip(english, sentences):
        text = match.group().rstrip()
        edits.append(_Edit(match.start(), match.start() + len(text), sentence, "Korean clause",
                           "한국어로 쓴 문장을 같은 뜻의 자연스러운 영어 문장으로 바꾸었습니다."))
    return edits


def _choose(edits: list[_Edit], fallback: tuple[list[_Edit], list[_Edit]],
            rng: random.Random, clauses: list[_Edit]) -> list[_Edit]:
    """2-4 edits that neither overlap nor touch, spreading over error types first; half
    the passages that allow it get a sentence in Korean."""
    rng.shuffle(edits)
    wanted = rng.randint(_MIN_ERRORS, _MAX_ERRORS)
    likely, last_resort = fallback
    passes = ((edits, True, wanted), (edits, False, wanted), (likely, False, _MIN_ERRORS),
              (last_resort, False, _MIN_ERRORS))
    chosen: list[_Edit] = [rng.choice(clauses)] if clauses and rng.random() < 0.5 else []
    for pool, new_types_only, target in passes:
        for edit in pool:
            if len(chosen) >= target:
                break
            if new_types_only and any(c.error_type == edit.error_type for c in chosen):
                continue
            if all(edit.end < c.start or c.end < edit.start for c in chosen):
                chosen.append(edit)
    return sorted(chosen, key=lambda e: e.start)


def generate_offline_answer(passage: str, korean: str, seed: str, language: Language = "ko") -> str:
    """The sectioned answer for a clean passage, deterministic in (passage, korean, seed),
    in the format of `language` (the explanations are Korean in both).

    Raises ValueError for an empty passage or translation, and for a passage too short to
    hold a mistake (no word of four letters or more that a rule applies to).
    """
    passage, korean = passage.strip(), korean.strip()
    if not passage or not korean:
        raise ValueError("the passage and its Korean translation must not be empty")
    digest = hashlib.sha256(f"{seed}\x1f{passage}\x1f{korean}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    text = _Passage(passage)
    edits = [edit for i in range(len(text.words)) for rule in _RULES for edit in rule(text, i)]
    chosen = _choose(edits, _fallback(text), rng, _korean_clauses(passage, korean))
    if not chosen:
        raise ValueError(f"no word in the passage to build a mistake from: {passage!r}")
    before, last = [], 0
    for edit in chosen:
        before.append(passage[last : edit.start] + edit.wrong)
        last = edit.end
    before.append(passage[last:])
    points = tuple(
        CorrectionPoint(number=n, label=LABELS[e.error_type],
                        edits=(Edit(before=e.wrong, after=passage[e.start : e.end]),),
                        explanation=e.detail)
        for n, e in enumerate(chosen, start=1)
    )
    answer = ParsedAnswer(before="".join(before), after=passage, translation=korean, points=points)
    return format_answer(answer, language)


def write_offline_answer(seed: str, language: Language = "ko") -> str:
    """The answer to a prompt that carries no passage (the original's generation prompt asks
    for a new text): a passage of the sample workbook's, drawn by `seed`, with its mistakes.
    A stand-in for a writer, not one: it knows no other passages."""
    from ..inputs.single.sample import EXAMPLES  # the sample's passages, each with its Korean

    digest = hashlib.sha256(f"write\x1f{seed}".encode()).digest()
    _, passage, korean = EXAMPLES[int.from_bytes(digest[:8], "big") % len(EXAMPLES)]
    return generate_offline_answer(passage, korean, seed=seed, language=language)
