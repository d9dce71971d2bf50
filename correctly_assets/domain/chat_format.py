"""The chat the model is trained on and answers in.

Korean, the original Correctly's and the default: the instruction as the system turn, the
learner's section (`### 교정 전 ###` and the text) as the user turn, and the rest of the
sectioned answer (교정 후, 해석, 교정 지점) as the assistant turn. English, a configuration:
an English tutor prompt, the bare text, and the corrected text with a "Corrections:" list.
`parse_reply` reads a reply of either kind back for serving and evaluation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .answer_format import (
    KOREAN_HEADERS,
    Language,
    format_korean_reply,
    format_points,
    lenient_points,
    split_sections,
)
from .models import CorrectionPoint, Edit, ParsedAnswer, TrainExample

KOREAN_INSTRUCTION = (
    "당신은 영어 문장을 교정하는 선생님입니다. 다음의 어색한 영어 문장을 원어민이 작성한 것처럼 "
    "자연스럽고 고급스럽게 교정해주세요."
)
ENGLISH_INSTRUCTION = (
    "You are Correctly, an English writing tutor for Korean learners. Rewrite the user's "
    "text as a native speaker would write it, then list each correction."
)
INSTRUCTIONS: dict[str, str] = {"ko": KOREAN_INSTRUCTION, "en": ENGLISH_INSTRUCTION}
POINTS_HEADER = "Corrections:"
_LEARNER_HEADER = f"### {KOREAN_HEADERS['Before']} ###"
_ENGLISH_POINT = re.compile(r'^\s*(\d+)\.\s*"(.*)"\s*->\s*"(.*)"\s*:\s*(.*)$')


@dataclass(frozen=True)
class Reply:
    """What a model's reply says; fields it did not get to (cut off) are empty. `complete`:
    every section of its chat format is there, not empty (교정 후, 해석 and 교정 지점; or the
    corrected text and a "Corrections:" list)."""

    corrected: str
    translation: str
    points: tuple[CorrectionPoint, ...]
    raw: str
    complete: bool = False
    cut_off: bool = False  # set by whoever generated it: the token limit ended the reply


# Put after the first character of a special token's text found inside a message, so the
# tokenizer reads it as plain text: learner text holding "<|im_end|><|im_start|>assistant"
# must not open a turn of its own, in training or in serving. It is invisible on a page.
WORD_JOINER = "\u2060"


def special_token_texts(tokenizer) -> tuple[str, ...]:
    """The texts a tokenizer turns into its added (special) tokens wherever they appear."""
    return tuple(sorted({t.content for t in tokenizer.added_tokens_decoder.values()
                         if len(t.content) > 1}, key=len, reverse=True))


def neutralised(text: str, specials: tuple[str, ...]) -> str:
    """`text` with every special token's text in it broken by a WORD_JOINER."""
    for special in specials:
        if special in text:
            text = text.replace(special, special[0] + WORD_JOINER + special[1:])
    return text


def neutralised_messages(messages: list[dict[str, str]], specials: tuple[str, ...]
                         ) -> tuple[list[dict[str, str]], bool]:
    """(the messages with their contents neutralised, whether any changed)."""
    out = [{**m, "content": neutralised(m["content"], specials)} for m in messages]
    return out, any(a["content"] != b["content"] for a, b in zip(out, messages))


def learner_turn(text: str, language: Language = "ko") -> str:
    return f"{_LEARNER_HEADER}\n{text}" if language == "ko" else text


def learner_text(turn: str) -> str:
    """The learner's text of a user turn, without its section header."""
    turn = turn.strip()
    if turn.startswith(_LEARNER_HEADER):
        turn = turn[len(_LEARNER_HEADER):]
    return turn.strip()


def prompt_messages(text: str, language: Language = "ko") -> list[dict[str, str]]:
    """The system and user turns that ask the model to correct `text`."""
    return [{"role": "system", "content": INSTRUCTIONS[language]},
            {"role": "user", "content": learner_turn(text, language)}]


def format_reply(answer: ParsedAnswer, language: Language = "ko") -> str:
    if language == "en":
        return f"{answer.after}\n\n{POINTS_HEADER}\n{format_points(answer.points, '->')}"
    return format_korean_reply(answer)


def to_messages(answer: ParsedAnswer, language: Language = "ko") -> tuple[dict[str, str], ...]:
    return (*prompt_messages(answer.before, language),
            {"role": "assistant", "content": format_reply(answer, language)})


def language_of(messages: Iterable[dict[str, str]]) -> Language:
    """Which chat format a conversation is in, from its system turn."""
    system = next((m["content"] for m in messages if m.get("role") == "system"), "")
    return "en" if system == ENGLISH_INSTRUCTION else "ko"


def parse_reply(reply: str) -> Reply:
    """A reply's fields; lenient, since a model's reply may be cut off or imperfect: a
    missing section is empty and a point that does not parse is left out."""
    sections = split_sections(reply)
    if "After" in sections:
        corrected, translation = sections["After"], sections.get("Translation", "")
        points = lenient_points(sections.get("Correction Points", ""))
        return Reply(corrected=corrected, translation=translation, points=points, raw=reply,
                     complete=bool(corrected and translation and sections.get("Correction Points")))
    corrected, header, rest = reply.partition(POINTS_HEADER)
    points = []
    for line in rest.splitlines():
        match = _ENGLISH_POINT.match(line)
        if match:
            points.append(CorrectionPoint(
                number=len(points) + 1, edits=(Edit(before=match[2], after=match[3]),),
                explanation=match[4].strip()))
    # An English reply with no "Corrections:" list is read as all corrected text; it is
    # complete only with the list (an empty list says the text needed no change).
    return Reply(corrected=corrected.strip(), translation="", points=tuple(points), raw=reply,
                 complete=bool(corrected.strip() and header))


CHAT_FORMAT_FILE = "chat_format.json"  # in a trained model's directory


def write_chat_format(model_dir: Path, language: Language,
                      max_answer_tokens: int | None = None) -> None:
    """How to ask the model in `model_dir`: its chat language and instruction, and the
    longest answer it was trained on, in its tokens (what its generation budget follows)."""
    measured = {"max_answer_tokens": max_answer_tokens} if max_answer_tokens else {}
    (Path(model_dir) / CHAT_FORMAT_FILE).write_text(
        json.dumps({"language": language, "instruction": INSTRUCTIONS[language], **measured},
                   ensure_ascii=False), encoding="utf-8")


def _chat_format(model_dir: Path) -> dict:
    path = Path(model_dir) / CHAT_FORMAT_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def read_chat_format(model_dir: Path) -> Language:
    """The chat language a model directory was trained on; Korean when it does not say
    (a base model, or a model trained elsewhere)."""
    language = _chat_format(model_dir).get("language", "ko")
    if language not in INSTRUCTIONS:
        raise ValueError(f"{Path(model_dir) / CHAT_FORMAT_FILE}: unknown chat language {language!r}")
    return language


def read_max_answer_tokens(model_dir: Path) -> int | None:
    """The longest answer the model in `model_dir` was trained on, in its tokens; None
    when it was not recorded (a base model, or a model trained elsewhere)."""
    value = _chat_format(model_dir).get("max_answer_tokens")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{Path(model_dir) / CHAT_FORMAT_FILE}: max_answer_tokens must be a "
                         f"positive whole number, got {value!r}")
    return value


def write_chats(path: Path, examples: Iterable[TrainExample]) -> None:
    """JSONL, one {"messages": [...]} a line: what TRL's SFTTrainer reads."""
    path.write_text("".join(json.dumps({"messages": list(e.messages)}, ensure_ascii=False) + "\n"
                            for e in examples), encoding="utf-8")
