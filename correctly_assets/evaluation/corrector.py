"""Corrections from a fine-tuned model: the chat the model was trained on, greedy decoding.

How many tokens a reply may run to follows the data the model was trained on: the longest
trained answer, with a margin (training/lengths.py), unless a caller sets it. A reply that
reaches the limit is cut off, and says so.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..domain.chat_format import (
    Reply,
    neutralised,
    parse_reply,
    prompt_messages,
    read_chat_format,
    read_max_answer_tokens,
    special_token_texts,
)
from ..training.lengths import answer_budget

# The budget of a model that did not record its answers' lengths (a base model, or one
# trained elsewhere): above the original's longest answers (2,707 characters, about a
# quarter Hangul) in a multilingual tokenizer.
UNMEASURED_MAX_NEW_TOKENS = 2048


def generation_budget(model_dir: str | Path) -> int:
    """max_new_tokens for the model in `model_dir`: its longest trained answer with a 25%
    margin, rounded up to a multiple of 64; UNMEASURED_MAX_NEW_TOKENS when not recorded."""
    longest = read_max_answer_tokens(Path(model_dir))
    return answer_budget(longest) if longest else UNMEASURED_MAX_NEW_TOKENS


@dataclass(frozen=True)
class Correction:
    """A model's answer to one learner's text, and what it came to."""

    source: str
    reply: Reply
    ended: bool  # False: the token limit cut the reply off

    @property
    def corrected(self) -> str:
        """The corrected text; the learner's own when the reply gave none (a fallback)."""
        return self.reply.corrected or self.source

    @property
    def fell_back(self) -> bool:
        return not self.reply.corrected


def reply_rates(corrections: list[Correction]) -> dict[str, float]:
    """Shares of replies that parsed (every section of the chat format, not empty), that
    the token limit cut off, and whose corrected text fell back to the learner's."""
    if not corrections:
        raise ValueError("no corrections to rate")
    n = len(corrections)
    return {"parse_rate": sum(c.reply.complete for c in corrections) / n,
            "cut_off_rate": sum(not c.ended for c in corrections) / n,
            "fallback_rate": sum(c.fell_back for c in corrections) / n}


class Corrector:
    """Loads a model directory (transformers format) once; `correct` answers in batches."""

    def __init__(self, model_dir: str | Path, device: str | None = None,
                 max_new_tokens: int | None = None):
        """The chat language is the one the model was trained on (its chat_format.json);
        max_new_tokens None: the model's generation budget (`generation_budget`)."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model_dir).to(self.device).eval()
        self.max_new_tokens = max_new_tokens or generation_budget(model_dir)
        # The tokens that end a reply: the generation config's (a list for chat models
        # whose turn ends with its own token), else the tokenizer's end of sequence.
        ends = self.model.generation_config.eos_token_id
        ends = [ends] if isinstance(ends, int) else list(ends or [self.tokenizer.eos_token_id])
        self._end_ids = torch.tensor(ends)
        self.language = read_chat_format(Path(model_dir))
        self._specials = special_token_texts(self.tokenizer)

    def prompt(self, text: str) -> str:
        """The chat the model is asked: its instruction and the learner's text as a user turn,
        then the opening of its reply. Learner text that spells a special token is read as
        text, never as a turn."""
        chat = prompt_messages(neutralised(text, self._specials), self.language)
        return self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)

    def prompt_ids(self, text: str) -> list[int]:
        return self.tokenizer(self.prompt(text), add_special_tokens=False)["input_ids"]

    @property
    def end_ids(self) -> list[int]:
        return self._end_ids.tolist()

    def replies(self, texts: list[str], batch_size: int = 16) -> list[str]:
        return [reply for reply, _ in self.finished_replies(texts, batch_size)]

    def finished_replies(self, texts: list[str], batch_size: int = 16) -> list[tuple[str, bool]]:
        """Each reply, and whether the model ended it (False: max_new_tokens cut it off)."""
        import torch

        replies = []
        for start in range(0, len(texts), batch_size):
            prompts = [self.prompt(t) for t in texts[start : start + batch_size]]
            batch = self.tokenizer(prompts, return_tensors="pt", padding=True,
                                   add_special_tokens=False).to(self.device)
            with torch.no_grad():
                output = self.model.generate(**batch, max_new_tokens=self.max_new_tokens,
                                             do_sample=False,
                                             pad_token_id=self.tokenizer.pad_token_id)
            new_tokens = output[:, batch["input_ids"].shape[1]:]
            ended = torch.isin(new_tokens, self._end_ids.to(new_tokens.device)).any(dim=1).tolist()
            replies += zip(self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True), ended)
        return replies

    @classmethod
    def from_registry(cls, source: str, tracking_uri: str,
                      max_new_tokens: int | None = None) -> "Corrector":
        """A registry version's model (its `source` artifact URI), downloaded and loaded; the
        downloaded copy is removed, since the weights are in memory once loaded."""
        import mlflow.artifacts

        with tempfile.TemporaryDirectory(prefix="correctly-model-") as download_dir:
            model_dir = mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=download_dir, tracking_uri=tracking_uri)
            return cls(model_dir, max_new_tokens=max_new_tokens)

    def answers(self, texts: list[str], batch_size: int = 16) -> list[Reply]:
        """Each reply, read into its fields."""
        return [parse_reply(reply) for reply in self.replies(texts, batch_size)]

    def corrections(self, texts: list[str], batch_size: int = 16) -> list[Correction]:
        """Each text's reply, read into its fields, and whether the model ended it."""
        return [Correction(text, parse_reply(reply), ended)
                for text, (reply, ended) in zip(texts, self.finished_replies(texts, batch_size))]

    def correct(self, texts: list[str], batch_size: int = 16) -> list[str]:
        """The corrected text of each input; an empty reply counts as no correction."""
        return [c.corrected for c in self.corrections(texts, batch_size)]
