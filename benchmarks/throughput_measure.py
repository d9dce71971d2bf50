"""What the training throughput benchmark (train_throughput.py) measures: model FLOPs (by the
formula in its docstring), what each batch holds, the timed steps' wall time, and MFU."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

import torch

def model_flops(model, chat_lengths: list[int]) -> tuple[float, float]:
    """(training FLOPs for chats of these lengths, of which LM head FLOPs), by the formula in
    the module docstring."""
    config = model.config
    embedding = model.get_input_embeddings().weight.numel()
    lm_head = model.get_output_embeddings().weight.numel()
    non_embedding = sum(p.numel() for p in model.parameters()) - embedding  # tied: counted once
    tokens = sum(chat_lengths)
    attention = 12 * config.num_hidden_layers * config.hidden_size * sum(n * n for n in chat_lengths)
    return 6 * (non_embedding + lm_head) * tokens + attention, 6 * lm_head * tokens


class CountingCollator:
    """Wraps the trainer's collator to record what each batch holds, in the order the
    trainer consumes them: chat lengths, labelled tokens, tensor positions (padding included)."""

    def __init__(self, collate):
        self.collate = collate
        self.batches: list[tuple[list[int], int, int]] = []

    def __call__(self, examples):
        batch = self.collate(examples)
        lengths = [n for e in examples for n in (e.get("seq_lengths") or [len(e["input_ids"])])]
        labelled = int((batch["labels"][..., 1:] != -100).sum())
        self.batches.append((lengths, labelled, batch["input_ids"].numel()))
        return batch


def _step_timer(warmup: int, steps: int):
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        """Wall time at the end of each optimizer step, after the device has finished it."""

        def __init__(self):
            self.ends: dict[int, float] = {}
            self.losses: list[float] = []

        def on_step_end(self, args, state, control, **kwargs):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.ends[state.global_step] = time.perf_counter()

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.losses.append(float(logs["loss"]))

        def elapsed(self) -> float:
            return self.ends[warmup + steps] - self.ends[warmup] if warmup else \
                self.ends[steps] - self.start

        def on_train_begin(self, args, state, control, **kwargs):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.start = time.perf_counter()

    return StepTimer()


@dataclass
class PathResult:
    name: str
    tokens_per_s: float
    mfu: float
    mfu_lm_head_where_run: float
    peak_memory_gib: Optional[float]
    tokens_per_step: float
    padding: float
    labelled: float
    losses: list[float]
    note: str = ""


def measure(name: str, trainer, model, bench, grad_accum: int,
             note: str = "") -> PathResult:
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # a log line per step; the losses are kept below
    counter = CountingCollator(trainer.data_collator)
    trainer.data_collator = counter
    timer = _step_timer(bench.warmup, bench.steps)
    trainer.add_callback(timer)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    elapsed = timer.elapsed()
    timed = counter.batches[bench.warmup * grad_accum:(bench.warmup + bench.steps) * grad_accum]
    lengths = [n for batch in timed for n in batch[0]]
    tokens, labelled = sum(lengths), sum(batch[1] for batch in timed)
    positions = sum(batch[2] for batch in timed)
    flops, lm_head_flops = model_flops(model, lengths)
    flops_run = flops - lm_head_flops * (1 - labelled / tokens)
    peak = bench.peak_tflops * 1e12 * elapsed
    return PathResult(
        name=name, tokens_per_s=tokens / elapsed, mfu=flops / peak, mfu_lm_head_where_run=flops_run / peak,
        peak_memory_gib=torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
        tokens_per_step=tokens / bench.steps, padding=1 - tokens / positions,
        labelled=labelled / tokens, losses=timer.losses, note=note,
    )
