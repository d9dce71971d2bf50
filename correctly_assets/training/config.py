"""What one supervised fine-tuning run needs, declared once.

`TrainingSettings` are the choices a person makes (base model, LoRA, steps, batch, ...):
the CLI's flags (`python -m correctly_assets.training`, read by transformers'
HfArgumentParser), and the `fine_tuned_model` asset's run config in the Dagster UI, which
is built from these fields. `TrainingConfig` adds what the caller wires in: files, output
directory and MLflow run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

TINY_LEARNING_RATE = 5e-4
LORA_LEARNING_RATE = 2e-4
FULL_LEARNING_RATE = 2e-5
# The tiny model's copy curriculum (training/curriculum.py). Off by default: within the
# demo's few CPU minutes it did not teach the tiny model to copy unseen text
# (benchmarks/demo_model.py, docs/benchmarks.md); on for experiments with more steps.
TINY_CURRICULUM_CHATS = 2000
TINY_CURRICULUM_STEPS = 0
TINY_CURRICULUM_LEARNING_RATE = 3e-3
# "varlen" is this package's per-chat attention for packed rows (see packing.py); the others
# are transformers' own.
ATTN_IMPLEMENTATIONS = ("sdpa", "eager", "flex_attention", "flash_attention_2", "varlen")


@dataclass(kw_only=True)
class TrainingSettings:
    base_model: str = field(
        default="", metadata={"help": "hub name or local path; empty: a tiny model built locally"}
    )
    use_lora: bool = field(default=False, metadata={"help": "train LoRA adapters, merged at the end"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator"})
    epochs: float = field(default=1.0, metadata={"help": "passes over the train file"})
    max_steps: int = field(default=-1, metadata={"help": "overrides epochs when positive"})
    per_device_batch_size: int = field(default=8, metadata={"help": "chats (or packed rows) per step"})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "batches per optimiser step"})
    learning_rate: Optional[float] = field(
        default=None,
        metadata={"help": f"none: {TINY_LEARNING_RATE} for the tiny model, "
                          f"{LORA_LEARNING_RATE} with LoRA, {FULL_LEARNING_RATE} otherwise"},
    )
    max_length: int = field(
        default=0,
        metadata={"help": "tokens per chat (or per packed row); 0: the longest chat's, rounded "
                          "up to a multiple of 64, within the model's context (training/lengths.py)"},
    )
    max_left_out_share: float = field(
        default=0.01,
        metadata={"help": "chats longer than max_length are left out, never trained cut; the "
                          "run fails when more than this share of them would be"},
    )
    packing: bool = field(
        default=False,
        metadata={"help": "pack chats best-fit into rows of max_length tokens, no padding, "
                          "positions restarting at each chat"},
    )
    attn_implementation: str = field(
        default="sdpa",
        metadata={"help": f"one of {', '.join(ATTN_IMPLEMENTATIONS)}; varlen: each chat of a "
                          "packed row attends only to itself, with flash attention on CUDA"},
    )
    torch_compile: bool = field(
        default=False, metadata={"help": "compile each decoder layer (the first steps compile)"}
    )
    activation_checkpointing: Optional[bool] = field(
        default=None,
        metadata={"help": "recompute activations in the backward pass; none: on for a base "
                          "model, off for the tiny one"},
    )
    assistant_only_loss: bool = field(
        default=True, metadata={"help": "loss on the assistant's reply only"}
    )
    bf16: Optional[bool] = field(
        default=None, metadata={"help": "none: on when a bf16-capable CUDA device is present"})
    save_steps: int = field(default=50, metadata={"help": "steps between checkpoints"})
    logging_steps: int = field(default=5, metadata={"help": "steps between logged metrics"})
    eval_steps: int = field(default=50, metadata={"help": "steps between validation losses"})
    seed: int = field(default=42, metadata={"help": "data order and initialisation"})
    tiny_curriculum_chats: int = field(
        default=TINY_CURRICULUM_CHATS,
        metadata={"help": "tiny model only: passages recombined from the train chats' sentences "
                          "that it learns to copy and correct before its fine-tune "
                          "(training/curriculum.py); 0: none"})
    tiny_curriculum_steps: int = field(
        default=TINY_CURRICULUM_STEPS,
        metadata={"help": "tiny model only: optimiser steps on those passages; 0: none"})

    def __post_init__(self):
        positive = ("lora_r", "lora_alpha", "per_device_batch_size", "gradient_accumulation_steps",
                    "save_steps", "logging_steps", "eval_steps")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.tiny_curriculum_chats < 0 or self.tiny_curriculum_steps < 0:
            raise ValueError("tiny_curriculum_chats and tiny_curriculum_steps must be 0 or positive")
        if self.max_length < 0:
            raise ValueError(f"max_length must be 0 (from the data) or positive, got {self.max_length}")
        if not 0 <= self.max_left_out_share <= 1:
            raise ValueError(f"max_left_out_share must be within [0, 1], got {self.max_left_out_share}")
        if self.max_steps <= 0 and self.epochs <= 0:
            raise ValueError("give a positive epochs or max_steps")
        if self.learning_rate is not None and self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.attn_implementation not in ATTN_IMPLEMENTATIONS:
            raise ValueError(f"attn_implementation must be one of {ATTN_IMPLEMENTATIONS}, "
                             f"got {self.attn_implementation!r}")

    @property
    def uses_tiny_model(self) -> bool:
        return not self.base_model

    @property
    def effective_activation_checkpointing(self) -> bool:
        # Recomputing activations saves memory on real models; the tiny one only slows down.
        if self.activation_checkpointing is not None:
            return self.activation_checkpointing
        return not self.uses_tiny_model

    @property
    def effective_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        if self.uses_tiny_model:
            return TINY_LEARNING_RATE
        return LORA_LEARNING_RATE if self.use_lora else FULL_LEARNING_RATE


@dataclass(kw_only=True)
class TrainingConfig(TrainingSettings):
    train_file: str = field(metadata={"help": "JSONL of chats, one {'messages': [...]} a line"})
    output_dir: str = field(
        metadata={"help": "checkpoints/, model/ and the MLflow run id go here; rerun to resume"}
    )
    validation_file: Optional[str] = field(
        default=None, metadata={"help": "JSONL of chats for eval_loss; none: no evaluation"}
    )
    mlflow_tracking_uri: Optional[str] = field(
        default=None,
        metadata={"help": "none: $MLFLOW_TRACKING_URI, else sqlite:///<output_dir>/mlflow.db"},
    )
    mlflow_experiment: str = field(default="correctly", metadata={"help": "MLflow experiment"})
    mlflow_parent_run_id: Optional[str] = field(
        default=None,
        metadata={"help": "a new training run is nested under this run (the orchestrator's)"},
    )
    run_name: Optional[str] = field(default=None, metadata={"help": "MLflow run name"})

    def __post_init__(self):
        for name in ("train_file", "output_dir"):
            if not getattr(self, name):
                raise ValueError(f"{name} is required")
        super().__post_init__()
