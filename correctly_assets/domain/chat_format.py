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
    """What a model's reply says; fields it did not get to (cut off) are empty."""

    corrected: str
    translation: str
    points: tuple[CorrectionPoint, ...]
    raw: str


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
        return Reply(corrected=sections["After"], translation=sections.get("Translation", ""),
                     points=lenient_points(sections.get("Correction Points", "")), raw=reply)
    corrected, _, rest = reply.partition(POINTS_HEADER)
    points = []
    for line in rest.splitlines():
        match = _ENGLISH_POINT.match(line)
        if match:
            points.append(CorrectionPoint(
                number=len(points) + 1, edits=(Edit(before=match[2], after=match[3]),),
                explanation=match[4].strip()))
    return Reply(corrected=corrected.strip(), translation="", points=tuple(points), raw=reply)


CHAT_FORMAT_FILE = "chat_format.json"  # in a trained model's directory


def write_chat_format(model_dir: Path, language: Language) -> None:
    (Path(model_dir) / CHAT_FORMAT_FILE).write_text(
        json.dumps({"language": language, "instruction": INSTRUCTIONS[language]},
                   ensure_ascii=False), encoding="utf-8")


def read_chat_format(model_dir: Path) -> Language:
    """The chat language a model directory was trained on; Korean when it does not say
    (a base model, or a model trained elsewhere)."""
    path = Path(model_dir) / CHAT_FORMAT_FILE
    if not path.is_file():
        return "ko"
    language = json.loads(path.read_text(encoding="utf-8")).get("language")
    if language not in INSTRUCTIONS:
        raise ValueError(f"{path}: unknown chat language {language!r}")
    return language


def write_chats(path: Path, examples: Iterable[TrainExample]) -> None:
    """JSONL, one {"messages": [...]} a line: what TRL's SFTTrainer reads."""
    path.write_text("".join(json.dumps({"messages": list(e.messages)}, ensure_ascii=False) + "\n"
                            for e in examples), encoding="utf-8")
