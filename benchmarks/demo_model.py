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

    .venv/bin/python benchmarks/demo_model.py [--variants 40] [--max-steps 900]
        [--learning-rate 3e-3] [--curriculum-steps 600 --curriculum-chats 2000]
        [--hidden 64 --layers 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from correctly_assets.domain.answer_format import parse_answer
from correctly_assets.domain.chat_format import to_messages
from correctly_assets.llm.offline_generator import generate_offline_answer
from correctly_assets.inputs.single.spec import build_theme_specs
from correctly_assets.inputs.single.workbook import read_workbook
from correctly_assets.evaluation.corrector import Corrector
from correctly_assets.evaluation.gleu import corpus_gleu
from correctly_assets.resources.files import SAMPLE_WORKBOOK
from correctly_assets.training.config import TrainingConfig
from correctly_assets.training import tiny_model
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


def write_chats(path: Path, answers_: list) -> Path:
    path.write_text("".join(json.dumps({"messages": list(to_messages(a))}, ensure_ascii=False)
                            + "\n" for a in answers_), encoding="utf-8")
    return path


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
    parser.add_argument("--hidden", type=int, default=tiny_model.HIDDEN_SIZE)
    parser.add_argument("--layers", type=int, default=tiny_model.LAYERS)
    args = parser.parse_args()
    tiny_model.HIDDEN_SIZE, tiny_model.LAYERS = args.hidden, args.layers
    train, unseen, seen = build_sets(args.variants)
    with tempfile.TemporaryDirectory(prefix="correctly-demo-model-") as work:
        work = Path(work)
        config = TrainingConfig(
            train_file=str(write_chats(work / "train.jsonl", train)), output_dir=str(work / "out"),
            max_steps=args.max_steps, learning_rate=args.learning_rate, save_steps=10**6,
            logging_steps=100, mlflow_tracking_uri=f"sqlite:///{work}/mlflow.db",
            tiny_curriculum_steps=args.curriculum_steps, tiny_curriculum_chats=args.curriculum_chats)
        started = time.perf_counter()
        result = run_training(config)
        minutes = (time.perf_counter() - started) / 60
        corrector = Corrector(result.model_dir, max_new_tokens=100)
        print(f"\ntiny model {args.hidden} x {args.layers} layers; copy curriculum: "
              f"{args.curriculum_steps} steps over {args.curriculum_chats} passages"
              if args.curriculum_steps else
              f"\ntiny model {args.hidden} x {args.layers} layers; no copy curriculum")
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
