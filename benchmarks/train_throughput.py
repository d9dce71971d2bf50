"""Training throughput: TRL's SFTTrainer with its defaults vs. our training path, side by side.

Both fine-tune the same randomly initialised model with Qwen2.5-0.5B's shapes (the weights do
not change the arithmetic) on the same synthetic chats in the project's chat format (system,
user, assistant), whose tokenized lengths are uniform in 150-900 tokens, fixed seed, the
project's byte-level tokenizer. Each path trains `warmup` steps untimed, then `steps` steps
timed between two `torch.cuda.synchronize()` calls. Printed per path: tokens/s (real tokens
only, padding not counted), MFU, peak GPU memory, loss; then the ratio ours / TRL. Before
timing, our attention is checked on the device: packed chats must give the outputs and
gradients of each chat run alone. Exit 1 if that check fails or our loss is not finite.

(a) TRL defaults: `SFTTrainer(model, SFTConfig(...), ...)` changing only what a benchmark must
    (output dir, step count, no saving, log every step, no bf16 on a device without it): chats
    padded to the longest in each batch of 8 (the default batch size; it fits an H100 with
    TRL's default activation checkpointing), no packing, SDPA, loss on every token, TRL's
    chunked LM head, fused AdamW.
(b) Our path: `correctly_assets.training` (`prepare_model` and `build_trainer`, what
    `run_training` runs) with `TrainingConfig(packing=True, attn_implementation="varlen",
    torch_compile=True, activation_checkpointing=False, max_length=16384,
    gradient_accumulation_steps=2)`: chats packed best-fit into rows of 16,384 tokens, no
    padding, positions restarting per chat, each chat attending only to itself through
    PyTorch's variable-length flash attention; each decoder layer compiled; loss on the
    assistant's reply only (the project's setting), through TRL's chunked LM head that
    projects only the tokens that have a label; fp32 master weights, bf16 autocast, fused
    AdamW; 32,768 tokens per optimizer step.

MFU = model FLOPs per second / peak. Model FLOPs per token (forward + backward):

    6 x (non-embedding parameters + LM head parameters) + 12 x layers x hidden x n

where n is the length of the chat the token belongs to: with per-chat attention a token's
context is its own chat, never the packed row or the padded batch; 12 x layers x hidden x n
counts the attention scores and the weighted sum over the whole context (PaLM's convention,
not halved for causality). The same count is used for both paths, so padding or masked-out
work is never counted as useful. The LM head is counted for every token although our path
projects only the assistant's tokens through it (a loss-free token needs no logits); the
output also gives the MFU counting the LM head only where it ran.

    .venv/bin/python benchmarks/train_throughput.py                 # the H100 run
    .venv/bin/python benchmarks/train_throughput.py --shape tiny --steps 2 --warmup 1   # CPU smoke
    [--tokens-per-batch 16384] [--grad-accum 2] [--attn varlen|flex_attention|sdpa]
    [--no-torch-compile] [--trl-batch-size 8] [--peak-tflops 989] [--only ours|trl]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import math
import sys
import tempfile
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from correctly_assets.training import TrainingConfig
from correctly_assets.training.config import FULL_LEARNING_RATE
from correctly_assets.training.packing import check_packed_attention
from correctly_assets.training.sft import build_trainer, prepare_model, read_chats
from correctly_assets.training.tiny_model import build_tokenizer

# Beside this file; the benchmark's parts (run as a script, its directory is on the path).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput_chats import synthetic_chats  # noqa: E402
from throughput_measure import PathResult, measure  # noqa: E402

# Qwen2.5-0.5B's shapes; "tiny" runs on a CPU in seconds.
SHAPES: dict[str, dict[str, Any]] = {
    "qwen2.5-0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                         num_attention_heads=14, num_key_value_heads=2, vocab_size=151936,
                         max_position_embeddings=32768, rope_theta=1e6, rms_norm_eps=1e-6,
                         tie_word_embeddings=True),
    "tiny": dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, vocab_size=1024,
                 max_position_embeddings=2048, rope_theta=1e6, rms_norm_eps=1e-6,
                 tie_word_embeddings=True),
}
# Relative error allowed between packed and per-chat attention (check_packed_attention):
# bf16 rounding stays well under it, a chat seeing another chat lands far above it.
TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 5e-2, torch.float16: 2e-2}


@dataclass
class BenchmarkConfig:
    shape: str = field(default="qwen2.5-0.5b", metadata={"help": f"one of {', '.join(SHAPES)}"})
    steps: int = field(default=20, metadata={"help": "timed optimizer steps per path"})
    warmup: int = field(default=5, metadata={"help": "untimed steps first (compilation, allocator)"})
    min_tokens: int = field(default=150, metadata={"help": "shortest chat, in tokens"})
    max_tokens: int = field(default=900, metadata={"help": "longest chat, in tokens"})
    seed: int = field(default=0, metadata={"help": "chats, initial weights, data order"})
    tokens_per_batch: Optional[int] = field(
        default=None, metadata={"help": "our packed row length; none: 16384, 2048 for tiny"})
    grad_accum: Optional[int] = field(
        default=None, metadata={"help": "our micro-batches per step; none: 2, 1 for tiny"})
    attn: str = field(default="varlen", metadata={
        "help": "our attn_implementation: varlen, flex_attention (trains on CUDA only), sdpa"})
    torch_compile: Optional[bool] = field(
        default=None, metadata={"help": "compile our decoder layers; none: on with CUDA"})
    trl_batch_size: int = field(default=8, metadata={"help": "TRL's default per-device batch"})
    peak_tflops: float = field(default=989.0, metadata={"help": "H100 SXM dense bf16"})
    only: Optional[str] = field(default=None, metadata={"help": "ours or trl: run one path"})

    def __post_init__(self):
        if self.shape not in SHAPES:
            raise ValueError(f"shape must be one of {list(SHAPES)}")
        if not 0 < self.min_tokens <= self.max_tokens:
            raise ValueError("need 0 < min_tokens <= max_tokens")
        if self.steps <= 0 or self.warmup < 0:
            raise ValueError("need steps > 0 and warmup >= 0")
        if self.only not in (None, "ours", "trl"):
            raise ValueError("only: ours or trl")
        tiny = self.shape == "tiny"
        if self.tokens_per_batch is None:
            self.tokens_per_batch = 2048 if tiny else 16384
        if self.grad_accum is None:
            self.grad_accum = 1 if tiny else 2
        if self.torch_compile is None:
            self.torch_compile = torch.cuda.is_available()
        if self.tokens_per_batch < self.max_tokens:
            raise ValueError("tokens_per_batch must hold the longest chat")


# ---------------------------------------------------------------- the two paths

def _model(bench: BenchmarkConfig, tokenizer):
    from transformers import AutoModelForCausalLM, Qwen2Config

    shape = dict(SHAPES[bench.shape])
    shape["vocab_size"] = max(shape["vocab_size"], len(tokenizer))
    torch.manual_seed(bench.seed)  # the same initial weights for both paths
    config = Qwen2Config(**shape, bos_token_id=None, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    # fp32 master weights; both trainers autocast to bf16 where the device has it.
    return AutoModelForCausalLM.from_config(config, dtype=torch.float32)


def run_trl_defaults(bench, tokenizer, rows, workdir: Path, bf16: bool) -> PathResult:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    model = _model(bench, tokenizer)
    args = SFTConfig(output_dir=str(workdir / "trl"), max_steps=bench.warmup + bench.steps,
                     per_device_train_batch_size=bench.trl_batch_size, logging_steps=1,
                     save_strategy="no", report_to="none", disable_tqdm=True, bf16=bf16,
                     seed=bench.seed)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer)
    try:
        return measure("TRL SFTTrainer defaults", trainer, model, bench, grad_accum=1)
    finally:
        del trainer, model
        _free()


def run_our_path(bench, tokenizer, train_file: Path, workdir: Path, bf16: bool,
                 torch_compile: bool) -> PathResult:
    from transformers.trainer_utils import SaveStrategy

    config = TrainingConfig(
        train_file=str(train_file), output_dir=str(workdir / "ours"),
        max_steps=bench.warmup + bench.steps,
        packing=True, max_length=bench.tokens_per_batch, per_device_batch_size=1,
        gradient_accumulation_steps=bench.grad_accum,
        attn_implementation=bench.attn, torch_compile=torch_compile,
        activation_checkpointing=False, learning_rate=FULL_LEARNING_RATE,
        bf16=bf16, logging_steps=1, save_steps=10**9, seed=bench.seed,
    )
    model = prepare_model(_model(bench, tokenizer), config)
    trainer = build_trainer(config, model, tokenizer, read_chats(train_file), [], bf16=bf16,
                            checkpoints_dir=workdir / "ours" / "checkpoints")
    # The trainer would save a checkpoint after the last (timed) step; nothing needs it here.
    trainer.args.save_strategy = SaveStrategy.NO
    try:
        return measure("our training path", trainer, model, bench, grad_accum=bench.grad_accum,
                        note="" if torch_compile else "not compiled")
    finally:
        del trainer, model
        _free()


def _free():
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ---------------------------------------------------------------- entry point

def _parser() -> argparse.ArgumentParser:
    """One flag per BenchmarkConfig field, as the training entry point does it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    hints = typing.get_type_hints(BenchmarkConfig)
    for spec in dataclasses.fields(BenchmarkConfig):
        hint = hints[spec.name]
        kind = next((t for t in typing.get_args(hint) if t is not type(None)), hint)
        flag = "--" + spec.name.replace("_", "-")
        help_text = f"{spec.metadata.get('help', '')} (default: {spec.default})"
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=spec.default,
                                help=help_text)
        else:
            parser.add_argument(flag, type=kind, default=spec.default, help=help_text)
    return parser


def _print_results(results: list[PathResult], bench: BenchmarkConfig) -> None:
    header = (f"{'path':<26}{'tokens/s':>11}{'MFU':>8}{'peak mem':>11}{'tokens/step':>13}"
              f"{'padding':>9}{'loss':>9}")
    print(header)
    print("-" * len(header))
    for r in results:
        memory = f"{r.peak_memory_gib:.1f} GiB" if r.peak_memory_gib is not None else "-"
        loss = f"{r.losses[-1]:.3f}" if r.losses else "-"
        print(f"{r.name:<26}{r.tokens_per_s:>11,.0f}{r.mfu:>8.1%}{memory:>11}"
              f"{r.tokens_per_step:>13,.0f}{r.padding:>9.1%}{loss:>9}"
              + (f"  ({r.note})" if r.note else ""))
    for r in results:
        print(f"{r.name}: {r.labelled:.0%} of tokens carry a label; MFU counting the LM head only "
              f"where it ran: {r.mfu_lm_head_where_run:.1%}")
    if len(results) == 2:
        ours, trl = results
        print(f"ratio ours / TRL defaults: {ours.tokens_per_s / trl.tokens_per_s:.2f}x tokens/s")
    print(f"(MFU against {bench.peak_tflops:g} TFLOP/s)")


def main(argv: list[str] | None = None) -> int:
    import datasets

    bench = BenchmarkConfig(**vars(_parser().parse_args(argv)))
    datasets.disable_progress_bars()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    bf16 = cuda and torch.cuda.is_bf16_supported()
    dtype = torch.bfloat16 if bf16 else torch.float32
    shape = SHAPES[bench.shape]
    print(f"device: {torch.cuda.get_device_name() if cuda else 'cpu'}; torch {torch.__version__}; "
          f"shape {bench.shape}; compute {'bf16 autocast' if bf16 else 'fp32'}")

    errors = check_packed_attention(
        device, dtype, heads=shape["num_attention_heads"], kv_heads=shape["num_key_value_heads"],
        head_dim=shape["hidden_size"] // shape["num_attention_heads"], lengths=(150, 517, 1, 900, 33))
    ok = max(errors.values()) <= TOLERANCE[dtype]
    print("packed vs per-chat attention, largest relative error: "
          + ", ".join(f"{k} {v:.1e}" for k, v in errors.items())
          + f" -> {'ok' if ok else 'FAILED'} (tolerance {TOLERANCE[dtype]:g})")
    if not ok:
        return 1

    tokenizer = build_tokenizer()
    mean = (bench.min_tokens + bench.max_tokens) / 2
    ours_tokens = (bench.warmup + bench.steps) * bench.grad_accum * bench.tokens_per_batch
    count = max((bench.warmup + bench.steps) * bench.trl_batch_size, math.ceil(1.1 * ours_tokens / mean))
    started = time.perf_counter()
    rows, lengths = synthetic_chats(tokenizer, count, bench.min_tokens, bench.max_tokens, bench.seed)
    print(f"{len(rows)} chats, {min(lengths)}-{max(lengths)} tokens, mean {sum(lengths) / len(lengths):.0f} "
          f"(made in {time.perf_counter() - started:.0f} s); timing {bench.steps} steps after "
          f"{bench.warmup} warm-up steps")
    print(f"ours: packed rows of {bench.tokens_per_batch} tokens, {bench.grad_accum} per step, "
          f"attention {bench.attn}, compiled {bench.torch_compile}; TRL: batches of "
          f"{bench.trl_batch_size} chats padded to the longest")

    results = []
    with tempfile.TemporaryDirectory(prefix="train_throughput-") as tmp:
        workdir = Path(tmp)
        train_file = workdir / "train.jsonl"
        # The JSONL our path reads, as the fine_tuned_model asset writes it.
        train_file.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        if bench.only in (None, "ours"):
            try:
                results.append(run_our_path(bench, tokenizer, train_file, workdir, bf16, bench.torch_compile))
            except Exception as error:  # noqa: BLE001 - reported, then measured without compiling
                if not bench.torch_compile:
                    raise
                print(f"our path failed while compiled ({type(error).__name__}: {str(error)[:500]}); "
                      "measuring it again without torch.compile", file=sys.stderr)
                _free()
                results.append(run_our_path(bench, tokenizer, train_file, workdir, bf16, False))
                results[-1].note = "torch.compile failed; not compiled"
        if bench.only in (None, "trl"):
            results.append(run_trl_defaults(bench, tokenizer, rows, workdir, bf16))
    _print_results(results, bench)

    ours = [r for r in results if r.name == "our training path"]
    if ours and not (ours[0].losses and all(math.isfinite(x) for x in ours[0].losses)):
        print(f"our path's loss is not finite: {ours[0].losses}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
