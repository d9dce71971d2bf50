"""Supervised fine-tuning on the chat JSONL files, tracked in MLflow, resumable after a crash.

Layout of `output_dir`:
    base_model/      the tiny model, when no base model is given
    checkpoints/     trainer checkpoints, the last two kept
    model/           the final model (LoRA merged in) with its tokenizer
    mlflow_run_id    the run this output directory logs to, across restarts
    fingerprint      what the checkpoints were trained from: base model, config, data
    mlflow.db        the MLflow store, unless a tracking URI is given

Rerunning with the same output_dir resumes from the last complete checkpoint and keeps
logging to the same MLflow run, when the fingerprint matches: the same base model, the
same training settings and the same data. Otherwise the old state is stale; the training
starts over in a new MLflow run and says why, in the log and on both runs.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..domain.chat_format import (
    language_of,
    neutralised_messages,
    special_token_texts,
    write_chat_format,
)
from .config import TINY_CURRICULUM_LEARNING_RATE, TrainingConfig
from .lengths import answer_tokens, chat_tokens, fit_rows, model_context
from .tracking import log_new_params, tracked_run

# Read by huggingface_hub when it is first imported; set again at run time below for the
# case where it was imported before this module.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

logger = logging.getLogger(__name__)

MODEL_DIR = "model"
TINY_MODEL_DIR = "base_model"
_ROLES = {"system", "user", "assistant"}


@dataclass
class TrainingResult:
    model_dir: Path
    mlflow_run_id: str
    resumed_from_checkpoint: Optional[str]
    global_step: int
    train_loss: float
    eval_loss: Optional[float]
    train_rows: int
    validation_rows: int
    # The chats' lengths in the base model's tokens (FittedChats.summary()).
    lengths: dict[str, Any]
    max_answer_tokens: int


@dataclass
class FittedChats:
    """The chats that fit max_length (none is ever trained cut), and how long they were."""

    train: list[dict[str, Any]]
    validation: list[dict[str, Any]]
    max_length: int
    train_report: Any  # lengths.LengthReport
    validation_left_out: int
    max_answer_tokens: int

    def summary(self) -> dict[str, Any]:
        return {**self.train_report.summary(), "validation_left_out": self.validation_left_out,
                "max_answer_tokens": self.max_answer_tokens}


def fit_chats(config: TrainingConfig, tokenizer, context: int | None,
              train_rows: list[dict[str, Any]], validation_rows: list[dict[str, Any]]) -> FittedChats:
    """Measure every chat in the tokenizer's tokens, size max_length and leave out the chats
    longer than it (lengths.fit_rows), and find the longest answer kept."""
    fitted = fit_rows(train_rows, validation_rows, lambda row: chat_tokens(tokenizer, row["messages"]),
                      config.max_length, config.max_left_out_share, context, config.train_file,
                      config.validation_file or "validation chats")
    return FittedChats(train=fitted.train, validation=fitted.held_out, max_length=fitted.max_length,
                       train_report=fitted.report, validation_left_out=fitted.held_out_left_out,
                       max_answer_tokens=max(answer_tokens(tokenizer, row["messages"])
                                             for row in fitted.train))


def neutralise_chats(tokenizer, rows: list[dict[str, Any]], what) -> list[dict[str, Any]]:
    """The rows with any special token's text in a message read as text (see
    chat_format.neutralised): a chat never holds a turn marker it did not get from the
    template. Every list of messages in a row is neutralised (a chat's `messages`, a
    pair's `prompt`, `chosen` and `rejected`). How many rows were changed is logged."""
    specials = special_token_texts(tokenizer)
    out, changed = [], 0
    for row in rows:
        fields = {key: neutralised_messages(value, specials)
                  for key, value in row.items() if isinstance(value, list)}
        out.append({**row, **{key: messages for key, (messages, _) in fields.items()}})
        changed += any(differs for _, differs in fields.values())
    if changed:
        logger.warning("%s: %d row(s) spell a special token in their text; read as text", what, changed)
    return out


def log_lengths(run, fitted: FittedChats) -> None:
    """The length figures on the training run: the limit as a parameter, the distribution
    and the chats left out as metrics (comparable across runs)."""
    from mlflow.entities import Metric

    log_new_params(run.client, run.run_id, {"max_length_effective": fitted.max_length,
                                             "max_answer_tokens": fitted.max_answer_tokens})
    now = int(time.time() * 1000)
    summary = fitted.summary()
    figures = {f"chat_tokens_{key}": summary[key] for key in ("p50", "p90", "p99", "longest")}
    figures |= {"chats_left_out": summary["left_out"],
                "validation_chats_left_out": summary["validation_left_out"]}
    run.client.log_batch(run.run_id, synchronous=True,
                         metrics=[Metric(key, float(value), now, 0) for key, value in figures.items()])


def read_chats(path: str | Path) -> list[dict[str, Any]]:
    """Rows of {"messages": [...]} from a JSONL file; a malformed line is an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such chat file: {path}")
    rows = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{where}: not JSON ({error})") from None
            messages = row.get("messages") if isinstance(row, dict) else None
            if not isinstance(messages, list) or not messages:
                raise ValueError(f"{where}: expected an object with a non-empty 'messages' list")
            for message in messages:
                if (not isinstance(message, dict) or message.get("role") not in _ROLES
                        or not isinstance(message.get("content"), str)):
                    raise ValueError(
                        f"{where}: each message needs a role in {sorted(_ROLES)} and a string content"
                    )
            if messages[-1]["role"] != "assistant":
                raise ValueError(f"{where}: the last message must be the assistant's")
            rows.append({"messages": [{"role": m["role"], "content": m["content"]} for m in messages]})
    if not rows:
        raise ValueError(f"{path}: no chats")
    return rows


def _tiny_base_model(config: TrainingConfig, output_dir: Path,
                     train_rows: list[dict[str, Any]]) -> Path:
    """The tiny model in output_dir/base_model: built from nothing, then taught to copy and
    correct passages recombined from the train chats (training/curriculum.py), once; a
    rerun reuses it."""
    import dataclasses

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .curriculum import curriculum_chats
    from .tiny_model import build_tiny_model, is_complete

    directory = output_dir / TINY_MODEL_DIR
    chats = (curriculum_chats(train_rows, config.tiny_curriculum_chats, seed=config.seed)
             if config.tiny_curriculum_steps and not is_complete(directory) else [])
    if not chats:
        return build_tiny_model(directory)
    untrained = build_tiny_model(output_dir / f"{TINY_MODEL_DIR}.untrained")
    model = AutoModelForCausalLM.from_pretrained(untrained)
    tokenizer = AutoTokenizer.from_pretrained(untrained)
    steps = dataclasses.replace(config, max_steps=config.tiny_curriculum_steps,
                                learning_rate=TINY_CURRICULUM_LEARNING_RATE, packing=False,
                                save_steps=10**9, logging_steps=10**9, eval_steps=10**9)
    trainer = build_trainer(steps, prepare_model(model, steps), tokenizer, chats, [], bf16=False,
                            checkpoints_dir=output_dir / f"{TINY_MODEL_DIR}.checkpoints",
                            max_length=model_context(model))
    loss = trainer.train().training_loss
    logger.info("tiny model: %d curriculum passages, %d steps, final loss %.3f",
                len(chats), config.tiny_curriculum_steps, loss)
    staging = output_dir / f"{TINY_MODEL_DIR}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    trainer.model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    shutil.rmtree(directory, ignore_errors=True)  # a half-built one a crash left
    os.replace(staging, directory)
    for leftover in (untrained, output_dir / f"{TINY_MODEL_DIR}.checkpoints"):
        shutil.rmtree(leftover, ignore_errors=True)
    return directory


def _load_base(config: TrainingConfig, output_dir: Path, bf16: bool,
               train_rows: list[dict[str, Any]]):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = (_tiny_base_model(config, output_dir, train_rows) if config.uses_tiny_model
              else config.base_model)
    # Full fine-tuning keeps fp32 master weights (bf16 is then autocast); LoRA trains
    # small adapters over a frozen base that can stay in bf16.
    dtype = torch.bfloat16 if (bf16 and config.use_lora) else torch.float32
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as err:  # no such model, gated without a token, offline, ...
        raise RuntimeError(
            f"base model {source!r} could not be loaded: {type(err).__name__}. A hub model "
            "is fetched into the Hugging Face cache ($HF_HOME) on first use: check the name, "
            "the network, and HF_TOKEN for a gated model (google/gemma-3-1b-it is gated); "
            "or set base_model to a local directory."
        ) from None
    return prepare_model(model, config), tokenizer


def prepare_model(model, config: TrainingConfig):
    """Set the attention implementation and compilation the config asks for, in place.

    The attention implementation is not written to a saved model's config, so a model
    trained with "varlen" loads anywhere with transformers' default."""
    from .packing import register

    register()  # makes "varlen" a known attn_implementation
    model.set_attn_implementation(config.attn_implementation)
    if config.torch_compile:
        layers = getattr(model.get_decoder(), "layers", None)
        if layers is None:
            raise ValueError(f"torch_compile: no decoder layers found on {type(model).__name__}")
        # Layer by layer: the layers share one compiled graph, the parameter names (and so
        # checkpoints) stay as they are, and the LM head outside it keeps TRL's fused loss.
        for layer in layers:
            layer.compile()
    return model


def save_final_model(trainer, tokenizer, model_dir: Path, language: str,
                     max_answer_tokens: int | None = None) -> None:
    model = trainer.model
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    staging = model_dir.with_name(f"{model_dir.name}.saving")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    # How to ask this model, and how long its answers run: see domain.chat_format.
    write_chat_format(staging, language, max_answer_tokens)
    shutil.rmtree(model_dir, ignore_errors=True)
    os.replace(staging, model_dir)


def build_trainer(config: TrainingConfig, model, tokenizer, train_rows: list[dict[str, Any]],
                  validation_rows: list[dict[str, Any]], *, bf16: bool, checkpoints_dir: Path,
                  callbacks=(), max_length: int | None = None):
    """The SFTTrainer for these chats, configured from `config` (the model already prepared
    with `prepare_model`); `max_length` is the one `fit_chats` sized, else config's."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir=str(checkpoints_dir),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.per_device_batch_size,
        per_device_eval_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.effective_learning_rate,
        max_length=max_length or config.max_length or None,
        # TRL packs best-fit ("bfd") and then trains padding-free: the collator concatenates
        # the rows, restarts position_ids at each chat and passes the chats' boundaries on.
        packing=config.packing,
        assistant_only_loss=config.assistant_only_loss,
        bf16=bf16,
        fp16=False,
        activation_checkpointing=config.effective_activation_checkpointing,
        dataloader_pin_memory=torch.cuda.is_available(),
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        logging_steps=config.logging_steps,
        eval_strategy="steps" if validation_rows else "no",
        eval_steps=config.eval_steps,
        seed=config.seed,
        report_to="none",
        run_name=config.run_name,
        disable_tqdm=True,
    )
    peft_config = None
    if config.use_lora:
        peft_config = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                                 target_modules="all-linear", task_type="CAUSAL_LM")
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(validation_rows) if validation_rows else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=list(callbacks),
    )


def run_training(config: TrainingConfig, lineage: dict[str, Any] | None = None) -> TrainingResult:
    """Train (or resume training) and return where the model is and how it went."""
    import huggingface_hub.constants
    import torch

    huggingface_hub.constants.HF_HUB_DISABLE_TELEMETRY = True
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    train_rows = read_chats(config.train_file)
    validation_rows = read_chats(config.validation_file) if config.validation_file else []
    bf16_capable = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    bf16 = bf16_capable if config.bf16 is None else config.bf16
    if bf16 and not bf16_capable:
        raise ValueError("bf16 needs a CUDA device that supports it")

    with tracked_run(config, output_dir, lineage, {
        "effective_learning_rate": config.effective_learning_rate,
        "bf16_effective": bf16,
        "train_rows": len(train_rows),
        "validation_rows": len(validation_rows),
    }) as run:
        model, tokenizer = _load_base(config, output_dir, bf16, train_rows)
        train_rows = neutralise_chats(tokenizer, train_rows, config.train_file)
        validation_rows = neutralise_chats(tokenizer, validation_rows, config.validation_file)
        fitted = fit_chats(config, tokenizer, model_context(model), train_rows, validation_rows)
        log_lengths(run, fitted)
        trainer = build_trainer(config, model, tokenizer, fitted.train, fitted.validation,
                                bf16=bf16, checkpoints_dir=run.checkpoints_dir,
                                callbacks=[run.callback()], max_length=fitted.max_length)
        train_output = trainer.train(resume_from_checkpoint=run.resume_from)
        eval_loss = trainer.evaluate()["eval_loss"] if fitted.validation else None

        model_dir = output_dir / MODEL_DIR
        save_final_model(trainer, tokenizer, model_dir, language_of(train_rows[0]["messages"]),
                         fitted.max_answer_tokens)
        run.client.log_artifacts(run.run_id, str(model_dir), MODEL_DIR)
    return TrainingResult(
        model_dir=model_dir,
        mlflow_run_id=run.run_id,
        resumed_from_checkpoint=run.resume_from,
        global_step=trainer.state.global_step,
        train_loss=float(train_output.training_loss),
        eval_loss=float(eval_loss) if eval_loss is not None else None,
        train_rows=len(fitted.train),
        validation_rows=len(fitted.validation),
        lengths=fitted.summary(),
        max_answer_tokens=fitted.max_answer_tokens,
    )
