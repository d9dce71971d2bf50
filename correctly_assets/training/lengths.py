"""How long the training chats are in the base model's tokens, and the `max_length` that
trains every one of them whole.

TRL cuts a chat longer than `max_length` silently: the model then learns answers that stop
mid-point and never end their turn. So a chat is never trained on cut. With `max_length`
0 (the default) it is sized from the data: the longest chat, rounded up to a multiple of
64, within the model's context. TRL pads each batch only to its own longest chat, so a
high limit costs memory only in the batches that hold the long chats, while a percentile
would throw away paid-for answers. A chat longer than the limit (one set by hand, or the
model's context) is left out and counted, and a run that would leave out more than its
allowed share fails, naming the chats. No Dagster import here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

LENGTH_MULTIPLE = 64  # rounding for a max_length sized from the data (tensor-friendly)
# A model's generation budget: the longest trained answer with this margin, rounded up.
ANSWER_MARGIN = 1.25


class OverLongChats(ValueError):
    """More chats are longer than max_length than the run may leave out."""


def _token_count(tokenizer, messages: Sequence[dict[str, str]], **kwargs) -> int:
    # As TRL tokenises a conversational row (trl.data_utils._tokenize).
    rendered = tokenizer.apply_chat_template(list(messages), tokenize=True, return_dict=True,
                                             **kwargs)
    return len(rendered["input_ids"])


def chat_tokens(tokenizer, messages: Sequence[dict[str, str]]) -> int:
    """The tokens of a whole chat, as the SFT trainer sees it."""
    return _token_count(tokenizer, messages)


def answer_tokens(tokenizer, messages: Sequence[dict[str, str]]) -> int:
    """The tokens the model writes for the chat's last (assistant) turn, its end-of-turn
    token included: what a generation budget must cover."""
    prompt = _token_count(tokenizer, messages[:-1], add_generation_prompt=True)
    return chat_tokens(tokenizer, messages) - prompt


def pair_tokens(tokenizer, pair: dict[str, Any]) -> int:
    """A preference pair's length for DPO: the prompt with the longer of its two answers
    (TRL cuts each side at max_length, so both must fit)."""
    return max(chat_tokens(tokenizer, [*pair["prompt"], *pair[side]]) for side in ("chosen", "rejected"))


def model_context(model) -> int | None:
    """The most positions the model can attend over, from its config; None if it says none."""
    config = getattr(model, "config", model)
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    context = getattr(text_config, "max_position_embeddings", None)
    return int(context) if context else None


def round_up(tokens: int, multiple: int = LENGTH_MULTIPLE) -> int:
    return max(multiple, math.ceil(tokens / multiple) * multiple)


def answer_budget(max_answer_tokens: int) -> int:
    """max_new_tokens for a model whose longest trained answer had this many tokens."""
    return round_up(math.ceil(max_answer_tokens * ANSWER_MARGIN))


def _percentile(ordered: Sequence[int], q: float) -> int:
    """Nearest-rank percentile of sorted values."""
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass(frozen=True)
class LengthReport:
    """The distribution of chat lengths in tokens, the max_length used, and which chats
    (0-based indices into the rows measured) are longer and so left out."""

    chats: int
    p50: int
    p90: int
    p99: int
    longest: int
    max_length: int
    sized_from_data: bool
    over: tuple[int, ...]

    @property
    def left_out(self) -> int:
        return len(self.over)

    @property
    def left_out_share(self) -> float:
        return self.left_out / self.chats if self.chats else 0.0

    def summary(self) -> dict[str, int | float | bool]:
        return {"chats": self.chats, "p50": self.p50, "p90": self.p90, "p99": self.p99,
                "longest": self.longest, "max_length": self.max_length,
                "sized_from_data": self.sized_from_data, "left_out": self.left_out,
                "left_out_share": round(self.left_out_share, 4)}


def fit_max_length(lengths: Sequence[int], requested: int, context: int | None) -> tuple[int, bool]:
    """(max_length, sized from the data?): `requested` when positive, else the longest
    chat's length rounded up to a multiple of 64, capped at the model's context."""
    if requested < 0:
        raise ValueError(f"max_length must be 0 (from the data) or positive, got {requested}")
    if requested:
        if context and requested > context:
            raise ValueError(f"max_length {requested} is over the model's context of {context} tokens")
        return requested, False
    if not lengths:
        raise ValueError("no chats to size max_length from")
    fitted = round_up(max(lengths))
    return (min(fitted, context) if context else fitted), True


def length_report(lengths: Sequence[int], max_length: int, sized_from_data: bool) -> LengthReport:
    if not lengths:
        raise ValueError("no chats to measure")
    ordered = sorted(lengths)
    return LengthReport(
        chats=len(lengths), p50=_percentile(ordered, 50), p90=_percentile(ordered, 90),
        p99=_percentile(ordered, 99), longest=ordered[-1], max_length=max_length,
        sized_from_data=sized_from_data,
        over=tuple(i for i, n in enumerate(lengths) if n > max_length))


def check_left_out(report: LengthReport, max_share: float, what: str,
                   context: int | None = None) -> None:
    """OverLongChats when more than `max_share` of the chats in `what` (a file, say) are
    longer than max_length; the message names them by line (1-based) and says what to do."""
    if report.left_out_share <= max_share:
        return
    lines = ", ".join(str(i + 1) for i in report.over[:10]) + (", ..." if report.left_out > 10 else "")
    room = f"; the model's context is {context} tokens" if context else ""
    raise OverLongChats(
        f"{what}: {report.left_out} of {report.chats} chats ({report.left_out_share:.1%}) are "
        f"longer than max_length {report.max_length} tokens (the longest has {report.longest}), "
        f"more than the {max_share:.1%} that may be left out untrained (max_left_out_share). "
        f"Chats over the limit, by line: {lines}. Raise max_length, or set it to 0 to size it "
        f"from the data{room}.")


@dataclass(frozen=True)
class FittedRows:
    """The rows that fit max_length, and how long the train rows were."""

    train: list
    held_out: list
    report: LengthReport  # of the train rows
    held_out_left_out: int

    @property
    def max_length(self) -> int:
        return self.report.max_length


def _without(rows: list, over: tuple[int, ...]) -> list:
    left_out = set(over)
    return [row for i, row in enumerate(rows) if i not in left_out]


def fit_rows(train: list, held_out: list, tokens: Callable[[Any], int], requested: int,
             max_share: float, context: int | None, train_name: str,
             held_out_name: str) -> FittedRows:
    """Measure each row (`tokens(row)`), size max_length from the train rows (or take
    `requested`), and leave out the rows of either set that are longer; OverLongChats when
    more than `max_share` of a set would be, or none is left to train on. The rows left out
    are counted in the log."""
    lengths = [tokens(row) for row in train]
    max_length, from_data = fit_max_length(lengths, requested, context)
    report = length_report(lengths, max_length, from_data)
    check_left_out(report, max_share, train_name, context)
    kept = _without(train, report.over)
    if not kept:
        raise OverLongChats(f"{train_name}: every row is longer than max_length {max_length} "
                            "tokens; none is left to train on")
    held_out_left_out = 0
    if held_out:
        held = length_report([tokens(row) for row in held_out], max_length, from_data)
        check_left_out(held, max_share, held_out_name, context)
        held_out, held_out_left_out = _without(held_out, held.over), held.left_out
    for name, left_out in ((train_name, report.left_out), (held_out_name, held_out_left_out)):
        if left_out:
            logger.warning("%s: %d row(s) longer than max_length %d tokens left out, not "
                           "trained cut", name, left_out, max_length)
    return FittedRows(kept, held_out, report, held_out_left_out)
