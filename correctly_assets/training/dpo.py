"""Preference training (DPO) of a correction model on chosen/rejected answer pairs, with
TRL's DPOTrainer: the model learns to prefer the chosen answer over the rejected one,
relative to a frozen copy of where it started (TRL's reference model).

    python -m correctly_assets.training.dpo --model-dir M --train-file pairs.jsonl --output-dir out/

Checkpoints, resume after a crash and MLflow tracking are the SFT stage's (`sft.tracked_run`):
rerun with the same output directory to resume. Pairs are JSONL lines in TRL's
conversational preference format:
{"prompt": [system, user], "chosen": [assistant], "rejected": [assistant]}.
The held-out pairs are scored before and after training: the reward margin (how much more
the model prefers the chosen answer than its reference does, in units of beta) and the
share of pairs it prefers the right way.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

# TRL's DPO losses (DPOConfig.loss_type), but "sft", which sft_weight adds.
LOSS_TYPES = ("sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair",
              "sppo_hard", "aot", "aot_unpaired", "apo_zero", "apo_down", "discopop", "sigmoid_norm")
DEFAULT_SFT_WEIGHT = 1.0


@dataclass(kw_only=True)
class PreferenceSettings:
    """What a user sets for a DPO training (dpo_model's run config is built from these)."""

    beta: float = field(default=0.1, metadata={"help": "how far from the reference model"})
    loss_type: str = field(default="sigmoid", metadata={"help": f"one of {', '.join(LOSS_TYPES)}"})
    # The chosen answers' NLL added to the preference loss (TRL's "sft" loss, as in RPO):
    # without it the chosen answers' likelihood falls with the rejected ones', and the
    # model's corrections drift (make bench-preferences measures both).
    sft_weight: float = field(default=DEFAULT_SFT_WEIGHT, metadata={
        "help": "weight of the NLL on the chosen answers beside the preference loss; 0: none"})
    use_lora: bool = field(default=False, metadata={"help": "train LoRA adapters, merged at the end"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha"})
    epochs: float = field(default=1.0, metadata={"help": "passes over the pairs"})
    max_steps: int = field(default=-1, metadata={"help": "overrides epochs when positive"})
    per_device_batch_size: int = field(default=8, metadata={"help": "pairs per step per device"})
    learning_rate: float = field(default=5e-6, metadata={"help": "peak learning rate"})
    max_length: int = field(default=0, metadata={
        "help": "tokens per prompt and answer, for both answers of a pair; 0: the longest "
                "pair's, rounded up to a multiple of 64, within the model's context"})
    max_left_out_share: float = field(default=0.01, metadata={
        "help": "pairs longer than max_length are left out, never trained cut; the run fails "
                "when more than this share of them would be"})
    save_steps: int = field(default=50, metadata={"help": "steps between checkpoints"})
    logging_steps: int = field(default=10, metadata={"help": "steps between logged metrics"})
    seed: int = field(default=42, metadata={"help": "random seed"})

    def __post_init__(self):
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {self.loss_type!r}")
        if self.sft_weight < 0:
            raise ValueError(f"sft_weight must be 0 or more, got {self.sft_weight}")
        if self.beta <= 0:
            raise ValueError(f"beta must be positive, got {self.beta}")
        if self.max_steps <= 0 and self.epochs <= 0:
            raise ValueError("give a positive epochs or max_steps")
        if self.max_length < 0:
            raise ValueError(f"max_length must be 0 (from the data) or positive, got {self.max_length}")
        if not 0 <= self.max_left_out_share <= 1:
            raise ValueError(f"max_left_out_share must be within [0, 1], got {self.max_left_out_share}")


@dataclass(kw_only=True)
class PreferenceConfig(PreferenceSettings):
    model_dir: str = field(metadata={"help": "the model to start from (fine_tuned_model's)"})
    train_file: str = field(metadata={"help": "JSONL of preference pairs"})
    output_dir: str = field(metadata={"help": "model/ and checkpoints/ go here"})
    validation_file: Optional[str] = field(
        default=None, metadata={"help": "held-out pairs, scored before and after"})
    # What model_dir holds (its training run's id): a retrained starting model in the same
    # directory does not resume checkpoints trained from the old one.
    model_revision: str = field(default="", metadata={"help": "what model_dir holds (its run id)"})
    mlflow_tracking_uri: Optional[str] = field(
        default=None,
        metadata={"help": "none: $MLFLOW_TRACKING_URI, else sqlite:///<output_dir>/mlflow.db"})
    mlflow_experiment: str = field(default="correctly", metadata={"help": "MLflow experiment"})
    mlflow_parent_run_id: Optional[str] = field(
        default=None, metadata={"help": "a new training run is nested under this run"})
    run_name: Optional[str] = field(default=None, metadata={"help": "MLflow run name"})


@dataclass(frozen=True)
class PreferenceResult:
    model_dir: Path
    mlflow_run_id: str
    resumed_from_checkpoint: Optional[str]
    global_step: int
    train_pairs: int
    validation_pairs: int
    train_loss: float
    # held-out pairs: (before, after) training; none without a validation file. A resumed
    # training reads its "before" back from the run, where the first attempt logged it.
    margin: Optional[tuple[float, float]] = None
    accuracy: Optional[tuple[float, float]] = None
    # The pairs' lengths in the model's tokens (lengths.LengthReport.summary()).
    lengths: Optional[dict[str, Any]] = None


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


def fit_pairs(config: PreferenceSettings, tokenizer, context: int | None,
              train: list[dict[str, Any]], held_out: list[dict[str, Any]]):
    """(train pairs, held-out pairs, the train pairs' length report): both answers of a kept
    pair fit max_length (sized from the data when 0); a longer pair is left out, and more
    than max_left_out_share of either set left out fails the run (lengths.fit_rows)."""
    from .lengths import fit_rows, pair_tokens

    fitted = fit_rows(train, held_out, lambda pair: pair_tokens(tokenizer, pair), config.max_length,
                      config.max_left_out_share, context,
                      getattr(config, "train_file", "train pairs"),
                      getattr(config, "validation_file", None) or "held-out pairs")
    return fitted.train, fitted.held_out, fitted.report


def run_preference_training(config: PreferenceConfig,
                            lineage: dict[str, Any] | None = None) -> PreferenceResult:
    """Train (or resume training) with DPO, tracked in MLflow as the SFT stage is."""
    import torch
    from datasets import Dataset
    from mlflow.entities import Metric
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from ..domain.chat_format import read_chat_format, read_max_answer_tokens
    from .lengths import answer_tokens, model_context
    from .sft import MODEL_DIR, neutralise_chats, save_final_model
    from .tracking import log_new_params, tracked_run

    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    train = read_pairs(config.train_file)
    held_out = read_pairs(config.validation_file) if config.validation_file else []
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    with tracked_run(config, output_dir, lineage, {
        "train_pairs": len(train), "validation_pairs": len(held_out), "bf16_effective": bf16,
    }) as run:
        model = AutoModelForCausalLM.from_pretrained(config.model_dir, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(config.model_dir)
        train = neutralise_chats(tokenizer, train, config.train_file)
        held_out = neutralise_chats(tokenizer, held_out, config.validation_file)
        train, held_out, report = fit_pairs(config, tokenizer, model_context(model), train, held_out)
        log_new_params(run.client, run.run_id, {"max_length_effective": report.max_length})
        run.client.log_metric(run.run_id, "pairs_left_out", report.left_out)
        args = DPOConfig(
            output_dir=str(run.checkpoints_dir), beta=config.beta,
            loss_type=[config.loss_type, *(["sft"] if config.sft_weight else [])],
            loss_weights=[1.0, *([config.sft_weight] if config.sft_weight else [])],
            num_train_epochs=config.epochs, max_steps=config.max_steps,
            per_device_train_batch_size=config.per_device_batch_size,
            per_device_eval_batch_size=config.per_device_batch_size,
            learning_rate=config.learning_rate, max_length=report.max_length, seed=config.seed,
            bf16=bf16, report_to="none", save_strategy="steps", save_steps=config.save_steps,
            save_total_limit=2, eval_strategy="no", logging_steps=config.logging_steps,
            disable_tqdm=True,
        )
        peft_config = (LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                                  target_modules="all-linear", task_type="CAUSAL_LM")
                       if config.use_lora else None)
        # No ref_model: TRL keeps a frozen copy of the starting model (or, with LoRA, the
        # base model with its adapters switched off) as the reference.
        trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(train),
                             eval_dataset=Dataset.from_list(held_out) if held_out else None,
                             processing_class=tokenizer, peft_config=peft_config,
                             callbacks=[run.callback()])

        def held_out_scores(when: str, step: int) -> tuple[float, float]:
            metrics = trainer.evaluate()
            scores = (metrics["eval_rewards/margins"], metrics["eval_rewards/accuracies"])
            now = int(time.time() * 1000)
            run.client.log_batch(run.run_id, synchronous=True, metrics=[
                Metric(f"held_out_margin_{when}", scores[0], now, step),
                Metric(f"held_out_accuracy_{when}", scores[1], now, step)])
            return scores

        before = None
        if held_out:
            logged = run.client.get_run(run.run_id).data.metrics
            before = ((logged["held_out_margin_before"], logged["held_out_accuracy_before"])
                      if run.checkpoint and "held_out_margin_before" in logged
                      else held_out_scores("before", 0))
        outcome = trainer.train(resume_from_checkpoint=run.resume_from)
        after = held_out_scores("after", trainer.state.global_step) if held_out else None
        model_dir = output_dir / MODEL_DIR
        # Its answers are bounded by the longer of what the starting model and the chosen
        # answers were trained on.
        longest = max(answer_tokens(tokenizer, [*p["prompt"], *p["chosen"]]) for p in train)
        started = read_max_answer_tokens(Path(config.model_dir)) or 0
        save_final_model(trainer, tokenizer, model_dir, read_chat_format(Path(config.model_dir)),
                         max(longest, started))
        run.client.log_artifacts(run.run_id, str(model_dir), MODEL_DIR)
    return PreferenceResult(
        model_dir=model_dir, mlflow_run_id=run.run_id, resumed_from_checkpoint=run.resume_from,
        global_step=trainer.state.global_step, train_pairs=len(train),
        validation_pairs=len(held_out), train_loss=float(outcome.training_loss),
        margin=(before[0], after[0]) if held_out else None,
        accuracy=(before[1], after[1]) if held_out else None,
        lengths=report.summary(),
    )


def main(argv: list[str] | None = None) -> int:
    """One flag per PreferenceConfig field, read by HfArgumentParser; prints the result as
    one JSON line when training ends."""
    import dataclasses
    import logging
    import sys

    from transformers import HfArgumentParser

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = HfArgumentParser(PreferenceConfig, prog="python -m correctly_assets.training.dpo",
                              description="Preference training (DPO) on chosen/rejected pairs.")
    [config] = parser.parse_args_into_dataclasses(args=argv)
    result = run_preference_training(config)
    print(json.dumps(dataclasses.asdict(result), default=str), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
