"""Preference training (DPO) of a correction model on chosen/rejected answer pairs, with
TRL's DPOTrainer: the model learns to prefer the chosen answer over the rejected one,
relative to a frozen copy of where it started (TRL's reference model).

Pairs are JSONL lines in TRL's conversational preference format:
{"prompt": [system, user], "chosen": [assistant], "rejected": [assistant]}.
The held-out pairs are scored before and after training: the reward margin (how much more
the model prefers the chosen answer than its reference does, in units of beta) and the
share of pairs it prefers the right way.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

LOSS_TYPES = ("sigmoid", "hinge", "ipo", "robust", "bco_pair", "apo_zero", "apo_down")


@dataclass(kw_only=True)
class PreferenceConfig:
    model_dir: str = field(metadata={"help": "the model to start from (fine_tuned_model's)"})
    train_file: str = field(metadata={"help": "JSONL of preference pairs"})
    output_dir: str = field(metadata={"help": "model/ goes here"})
    validation_file: Optional[str] = field(
        default=None, metadata={"help": "held-out pairs, scored before and after"})
    beta: float = field(default=0.1, metadata={"help": "how far from the reference model"})
    loss_type: str = field(default="sigmoid", metadata={"help": f"one of {', '.join(LOSS_TYPES)}"})
    use_lora: bool = field(default=False, metadata={"help": "train LoRA adapters, merged at the end"})
    lora_r: int = 16
    lora_alpha: int = 32
    epochs: float = 1.0
    max_steps: int = field(default=-1, metadata={"help": "overrides epochs when positive"})
    per_device_batch_size: int = 8
    learning_rate: float = 5e-6
    max_length: int = field(default=1024, metadata={"help": "tokens per prompt and answer"})
    seed: int = 42

    def __post_init__(self):
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {self.loss_type!r}")
        if self.beta <= 0:
            raise ValueError(f"beta must be positive, got {self.beta}")
        if self.max_steps <= 0 and self.epochs <= 0:
            raise ValueError("give a positive epochs or max_steps")


@dataclass(frozen=True)
class PreferenceResult:
    model_dir: Path
    train_pairs: int
    train_loss: float
    # held-out pairs: (before, after) training; none without a validation file
    margin: Optional[tuple[float, float]] = None
    accuracy: Optional[tuple[float, float]] = None


def read_pairs(path: str | Path) -> list[dict[str, Any]]:
    """The pairs of a JSONL file, each checked for TRL's conversational preference shape."""
    pairs = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        pair = json.loads(line)
        if not all(isinstance(pair.get(key), list) and pair[key]
                   for key in ("prompt", "chosen", "rejected")):
            raise ValueError(f"{path}, line {number}: a pair needs non-empty prompt, chosen "
                             "and rejected message lists")
        if pair["chosen"] == pair["rejected"]:
            raise ValueError(f"{path}, line {number}: chosen and rejected are the same")
        pairs.append({key: pair[key] for key in ("prompt", "chosen", "rejected")})
    if not pairs:
        raise ValueError(f"{path}: no preference pairs")
    return pairs


def run_preference_training(config: PreferenceConfig) -> PreferenceResult:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from ..domain.chat_format import read_chat_format, write_chat_format

    output_dir = Path(config.output_dir)
    train = read_pairs(config.train_file)
    held_out = read_pairs(config.validation_file) if config.validation_file else None
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    model = AutoModelForCausalLM.from_pretrained(config.model_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(config.model_dir)
    args = DPOConfig(
        output_dir=str(output_dir / "checkpoints"), beta=config.beta, loss_type=config.loss_type,
        num_train_epochs=config.epochs, max_steps=config.max_steps,
        per_device_train_batch_size=config.per_device_batch_size,
        per_device_eval_batch_size=config.per_device_batch_size,
        learning_rate=config.learning_rate, max_length=config.max_length, seed=config.seed,
        bf16=bf16, report_to="none", save_strategy="no", eval_strategy="no", logging_steps=10,
        disable_tqdm=True,
    )
    peft_config = (LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                              target_modules="all-linear", task_type="CAUSAL_LM")
                   if config.use_lora else None)
    # No ref_model: TRL keeps a frozen copy of the starting model (or, with LoRA, the base
    # model with its adapters switched off) as the reference.
    trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(train),
                         eval_dataset=Dataset.from_list(held_out) if held_out else None,
                         processing_class=tokenizer, peft_config=peft_config)

    def held_out_scores() -> tuple[float, float]:
        metrics = trainer.evaluate()
        return metrics["eval_rewards/margins"], metrics["eval_rewards/accuracies"]

    before = held_out_scores() if held_out else None
    outcome = trainer.train()
    after = held_out_scores() if held_out else None

    model_dir = output_dir / "model"
    trained = trainer.model
    if hasattr(trained, "merge_and_unload"):
        trained = trained.merge_and_unload()
    staging = model_dir.with_name("model.saving")
    shutil.rmtree(staging, ignore_errors=True)
    trained.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    write_chat_format(staging, read_chat_format(Path(config.model_dir)))
    shutil.rmtree(model_dir, ignore_errors=True)
    os.replace(staging, model_dir)
    return PreferenceResult(
        model_dir=model_dir, train_pairs=len(train), train_loss=outcome.training_loss,
        margin=(before[0], after[0]) if held_out else None,
        accuracy=(before[1], after[1]) if held_out else None,
    )
