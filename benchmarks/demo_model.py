"""Does the demo's tiny model learn to correct? Validation GLEU of the model vs copying the
source, after a CPU training budget like `make demo`'s, on two validation sets side by side.

The data is the offline generator's, as much as asked for: `--variants` answers (different
injected mistakes) per workbook passage. One passage per theme is held out, as the
pipeline's leak-free split holds out whole near-duplicate groups:

- unseen passages: the held-out passages, the set the promotion gate scores on;
- seen passages, new mistakes: training passages with mistakes no training answer had.

The tiny model (built locally, no hub) is trained with the project's own SFT entry point.
Prints minutes of training and GLEU model vs copy for each set.

Before its fine-tune the tiny model can first learn from a copy curriculum
(training/curriculum.py): passages recombined from the train chats' sentences, words
swapped in, written with mistakes, so that it sees that a correction repeats its input.
`--curriculum-steps` turns it on; `--hidden`/`--layers` try a larger tiny model.

`--copy-steps` tries a copy stage first: the tiny model learns to copy strings of words (the
train answers' own words and made-up ones, never a passage) from the learner's turn into the
교정 후 section, with no instruction turn, which keeps rows short. The copier is then
fine-tuned, through the project's entry point as a local base model, on the train chats
mixed half and half with recombined curriculum passages.

    .venv/bin/python benchmarks/demo_model.py [--variants 40] [--max-steps 900]
        [--learning-rate 3e-3] [--curriculum-steps 600 --curriculum-chats 2000]
        [--hidden 64 --layers 2]
        [--copy-steps 2000 --variants 10 --max-steps 600 --learning-rate 1e-3 --batch-size 16]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import tempfile
import time
from pathlib import Path

from correctly_assets.domain.answer_format import KOREAN_HEADERS, parse_answer
from correctly_assets.domain.chat_format import prompt_messages, to_messages
from correctly_assets.llm.offline_generator import generate_offline_answer
from correctly_assets.inputs.single.spec import build_theme_specs
from correctly_assets.inputs.single.workbook import read_workbook
from correctly_assets.evaluation.corrector import Corrector
from correctly_assets.evaluation.gleu import corpus_gleu
from correctly_assets.resources.files import SAMPLE_WORKBOOK
from correctly_assets.training.config import TrainingConfig
from correctly_assets.training import tiny_model
from correctly_assets.training.curriculum import curriculum_chats
from correctly_assets.training.sft import run_training

VALIDATION_VARIANTS = 4  # answers per passage in each validation set


def answers(passage, seeds) -> list:
    return [parse_answer(generate_offline_answer(passage.text, passage.korean, seed=seed))
            for seed in seeds]


def build_sets(variants: int) -> tuple[list, list, list]:
    """(train answers, unseen-passage answers, seen-passage answers with new mistakes)."""
    train, unseen, seen = [], [], []
    for spec in build_theme_specs(read_workbook(SAMPLE_WORKBOOK)).values():
        held_out, *kept = spec.examples
        unseen += answers(held_out, [f"validation-{i}" for i in range(VALIDATION_VARIANTS)])
        for passage in kept:
            train += answers(passage, [f"train-{i}" for i in range(variants)])
            seen += answers(passage, [f"validation-{i}" for i in range(VALIDATION_VARIANTS)])
    return train, unseen, seen


def chats_of(answers_: list) -> list[dict]:
    return [{"messages": list(to_messages(a))} for a in answers_]


def write_chats(path: Path, chats: list[dict]) -> Path:
    path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in chats),
                    encoding="utf-8")
    return path


COPY_BATCH, COPY_LEARNING_RATE, COPY_WARMUP = 16, 3e-3, 30
_WORDS = re.compile(r"[A-Za-z']+|[\uac00-\ud7a3]+")


def copy_stage(directory: Path, answers_: list, steps: int, seed: int = 0) -> Path:
    """The tiny model built in `directory`, then trained `steps` steps to copy strings of 1-3
    "sentences" of 4-14 words (70% the train answers' words, 30% made up) from the learner's
    turn into the 교정 후 section; returns the directory it is saved in."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    built = tiny_model.build_tiny_model(directory / "tiny")
    model = AutoModelForCausalLM.from_pretrained(built)
    tokenizer = AutoTokenizer.from_pretrained(built)
    words = sorted({w for a in answers_ for w in _WORDS.findall(f"{a.before} {a.after}")})
    rng = random.Random(seed)
    torch.manual_seed(seed)

    def made_up() -> str:
        return "".join(rng.choice("bcdfghklmnprstvw") + rng.choice("aeiou")
                       for _ in range(rng.randint(1, 4)))

    def sentence() -> str:
        text = " ".join(rng.choice(words) if rng.random() < 0.7 else made_up()
                        for _ in range(rng.randint(4, 14)))
        return text[0].upper() + text[1:] + rng.choice(".!?.")

    def row() -> tuple[list[int], list[int]]:
        text = " ".join(sentence() for _ in range(rng.randint(1, 3)))
        messages = [prompt_messages(text)[-1],  # the learner's turn alone: shorter rows
                    {"role": "assistant", "content": f"### {KOREAN_HEADERS['After']} ###\n{text}"}]
        encoded = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                                return_assistant_tokens_mask=True)
        ids = encoded["input_ids"]
        return ids, [t if m else -100 for t, m in zip(ids, encoded["assistant_masks"])]

    optimizer = torch.optim.AdamW(model.parameters(), lr=COPY_LEARNING_RATE, weight_decay=0.0,
                                  betas=(0.9, 0.98))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(
        1.0, (step + 1) / COPY_WARMUP) * max(0.05, 0.5 * (1 + math.cos(math.pi * step / steps))))
    model.train()
    for step in range(steps):
        rows = [row() for _ in range(COPY_BATCH)]
        width = max(len(ids) for ids, _ in rows)
        inputs = torch.full((COPY_BATCH, width), tokenizer.pad_token_id)
        labels = torch.full((COPY_BATCH, width), -100)
        for i, (ids, targets) in enumerate(rows):
            inputs[i, :len(ids)], labels[i, :len(ids)] = torch.tensor(ids), torch.tensor(targets)
        loss = model(input_ids=inputs, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if step % 250 == 0 or step == steps - 1:
            print(f"copy stage: step {step}, loss {loss.item():.3f}", flush=True)
    model.save_pretrained(directory / "copier")
    tokenizer.save_pretrained(directory / "copier")
    return directory / "copier"


def gleu(corrector: Corrector, answers_: list) -> tuple[float, float, list[str]]:
    sources = [a.before for a in answers_]
    references = [[a.after] for a in answers_]
    hypotheses = corrector.correct(sources)
    return (corpus_gleu(sources, hypotheses, references),
            corpus_gleu(sources, sources, references), hypotheses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=40, help="training answers per passage")
    parser.add_argument("--max-steps", type=int, default=900)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--curriculum-steps", type=int, default=0)
    parser.add_argument("--curriculum-chats", type=int, default=2000)
    parser.add_argument("--copy-steps", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=tiny_model.HIDDEN_SIZE)
    parser.add_argument("--layers", type=int, default=tiny_model.LAYERS)
    args = parser.parse_args()
    tiny_model.HIDDEN_SIZE, tiny_model.LAYERS = args.hidden, args.layers
    train, unseen, seen = build_sets(args.variants)
    with tempfile.TemporaryDirectory(prefix="correctly-demo-model-") as work:
        work = Path(work)
        started = time.perf_counter()
        base_model, chats = "", chats_of(train)
        extra_chats = curriculum_chats(chats, len(chats)) if args.copy_steps else []
        if args.copy_steps:
            base_model = str(copy_stage(work, train, args.copy_steps))
        config = TrainingConfig(
            train_file=str(write_chats(work / "train.jsonl", chats + extra_chats)),
            output_dir=str(work / "out"), base_model=base_model, activation_checkpointing=False,
            per_device_batch_size=args.batch_size,
            max_steps=args.max_steps, learning_rate=args.learning_rate, save_steps=10**6,
            logging_steps=100, mlflow_tracking_uri=f"sqlite:///{work}/mlflow.db",
            tiny_curriculum_steps=args.curriculum_steps, tiny_curriculum_chats=args.curriculum_chats)
        result = run_training(config)
        minutes = (time.perf_counter() - started) / 60
        corrector = Corrector(result.model_dir, max_new_tokens=100)
        shape = f"\ntiny model {args.hidden} x {args.layers} layers"
        if args.copy_steps:
            print(f"{shape}; copy stage: {args.copy_steps} steps, then fine-tuned on the train "
                  f"answers and {len(extra_chats)} curriculum passages")
        elif args.curriculum_steps:
            print(f"{shape}; copy curriculum: {args.curriculum_steps} steps over "
                  f"{args.curriculum_chats} passages")
        else:
            print(f"{shape}; no copy curriculum")
        print(f"train: {len(train)} answers from {len(train) // args.variants} passages, "
              f"{args.max_steps} steps; {minutes:.1f} min of CPU training in all "
              f"(final train loss {result.train_loss:.3f})")
        print(f"{'validation set':<32}{'answers':>8}{'model GLEU':>12}{'copy GLEU':>11}")
        for name, answers_ in (("unseen passages", unseen), ("seen passages, new mistakes", seen)):
            model_gleu, copy_gleu, hypotheses = gleu(corrector, answers_)
            print(f"{name:<32}{len(answers_):>8}{model_gleu:>12.2f}{copy_gleu:>11.2f}")
            print(f"  e.g. source: {answers_[0].before}\n       model:  {hypotheses[0]}")


if __name__ == "__main__":
    main()
