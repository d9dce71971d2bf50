"""A partition's answers kept on disk as they arrive, until its rows are stored.

The calls of a batch take minutes and cost money; storing the rows takes a moment at the end.
When that moment fails (the database is down, the process is killed), the retry finds the
answers here and asks the model only for the prompts without one. Each answer is one JSON
line, appended and flushed as soon as it arrives, so a crash loses at most the line being
written (a torn last line is skipped). An answer counts only for the same prompt text and the
same generator; a failed call is not kept (the retry asks again). The journal is removed once
the partition's rows are stored, so a deliberate re-materialisation asks the model anew.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

from pydantic import ValidationError

from .generation import is_failed_request
from ..domain.models import GeneratedText, PromptExample


def _prompt_digest(prompt: PromptExample, generator: str) -> str:
    return hashlib.sha256(
        f"{generator}\n{prompt.temperature}\n{prompt.max_tokens}\n{prompt.system_prompt}\n"
        f"{prompt.prompt}".encode()).hexdigest()


class AnswerJournal:
    """One partition's answers from `generator` (the model's name and settings), at `path`."""

    def __init__(self, path: Path, generator: str):
        self.path = Path(path)
        self.generator = generator
        self.error: OSError | None = None  # the first write that failed; answers go on
        self._lock = threading.Lock()

    def answered(self, prompts: list[PromptExample]) -> dict[str, GeneratedText]:
        """Answers already journaled for these prompts, by prompt id."""
        if not self.path.exists():
            return {}
        digests = {p.prompt_id: _prompt_digest(p, self.generator) for p in prompts}
        found = {}
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    entry = json.loads(line)
                    text = GeneratedText.model_validate(entry["text"])
                except (ValueError, KeyError, TypeError, ValidationError):
                    continue  # a torn last line, or a line of an older format
                if digests.get(text.prompt_id) == entry.get("digest"):
                    found[text.prompt_id] = text
        return found

    def record(self, prompt: PromptExample, text: GeneratedText) -> None:
        """Append one answer; thread-safe. Failed calls are not kept. A write that fails
        (a full disk) is noted in `error` and never fails the batch: the answer still
        reaches the store, only a retry would pay for it again."""
        if is_failed_request(text):
            return
        line = json.dumps({"digest": _prompt_digest(prompt, self.generator),
                           "text": text.model_dump(mode="json")}, ensure_ascii=False)
        # Opened for each line, not held: a backfill run journals hundreds of partitions at
        # once, and an open file each could exhaust the process's descriptors.
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as journal:
                    journal.write(line + "\n")
            except OSError as err:
                self.error = self.error or err

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
