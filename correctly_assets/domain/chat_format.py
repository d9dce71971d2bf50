"""The chat format the model is trained on and answers in.

The learner's text goes in as the user turn; the assistant answers with the corrected
text and numbered correction points. `parse_reply` reads a reply back for serving and
evaluation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from .models import ParsedAnswer, TrainExample

SYSTEM_PROMPT = (
    "You are Correctly, an English writing tutor for Korean learners. Rewrite the user's "
    "text as a native speaker would write it, then list each correction."
)
POINTS_HEADER = "Corrections:"
_POINT = re.compile(r'^\s*(\d+)\.\s*"(.*)"\s*->\s*"(.*)"\s*:\s*(.*)$')


def format_reply(answer: ParsedAnswer) -> str:
    points = "\n".join(
        f'{p.number}. "{p.before}" -> "{p.after}": {p.explanation}' for p in answer.points
    )
    return f"{answer.after}\n\n{POINTS_HEADER}\n{points}"


def to_messages(answer: ParsedAnswer) -> tuple[dict[str, str], ...]:
    return (
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": answer.before},
        {"role": "assistant", "content": format_reply(answer)},
    )


def parse_reply(reply: str) -> tuple[str, list[dict[str, str]]]:
    """(corrected text, correction points) from an assistant reply; lenient, since a
    model's reply may be cut off: a missing points list yields no points."""
    corrected, _, rest = reply.partition(POINTS_HEADER)
    points = []
    for line in rest.splitlines():
        match = _POINT.match(line)
        if match:
            points.append(
                {"before": match[2], "after": match[3], "explanation": match[4].strip()}
            )
    return corrected.strip(), points


def write_chats(path: Path, examples: Iterable[TrainExample]) -> None:
    """JSONL, one {"messages": [...]} a line: what TRL's SFTTrainer reads."""
    path.write_text("".join(json.dumps({"messages": list(e.messages)}, ensure_ascii=False) + "\n"
                            for e in examples), encoding="utf-8")
