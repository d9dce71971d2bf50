"""Does DPO on preference pairs help the demo's tiny model? Pairs per source, the held-out
reward margin and accuracy before and after DPO, and validation GLEU of the SFT model and of
DPO models with and without the chosen answers' NLL (`sft_weight`) side by side, on the same
sets, in one run.

The data and the SFT model are `demo_model.py`'s (the offline generator's answers, one
passage per theme held out; 900 steps). Pairs are made as
the preference_pairs asset makes them (`domain.preferences.pair_for`): the SFT model's
replies (cut-off replies not used) to the learner texts of `--pair-variants` training
answers per passage, scored by GLEU margin (on_policy) or by the offline judge (llm_judged),
else a rule-made degradation. DPO is the project's
`run_preference_training`, starting from the SFT model. Held-out pairs are made the same way
from the seen-passages validation set (learner texts never trained on).

    .venv/bin/python benchmarks/preferences.py [--variants 40] [--sft-steps 900]
        [--pair-variants 8] [--dpo-steps 150]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.demo_model import build_sets, chats_of, gleu, write_chats  # noqa: E402
from correctly_assets.domain.chat_format import to_messages  # noqa: E402
from correctly_assets.llm.judging import judge_prompt, offline_verdict  # noqa: E402
from correctly_assets.domain.models import TrainExample  # noqa: E402
from correctly_assets.evaluation.gleu import sentence_gleu  # noqa: E402
from correctly_assets.domain.preferences import (  # noqa: E402
    SOURCES,
    chosen_first,
    pair_for,
    pair_report,
)
from correctly_assets.evaluation.corrector import Corrector  # noqa: E402
from correctly_assets.training.config import TrainingConfig  # noqa: E402
from correctly_assets.training.dpo import PreferenceConfig, run_preference_training  # noqa: E402
from correctly_assets.training.sft import run_training  # noqa: E402

SEED = "benchmark"


def make_pairs(corrector: Corrector, answers: list, split: str) -> list:
    examples = [TrainExample(prompt_id=str(i), date="2026-01-01", theme="all", split=split,
                             group=str(i), messages=to_messages(a)) for i, a in enumerate(answers)]
    replies = corrector.finished_replies([a.before for a in answers])
    pairs = []
    for example, answer, (reply, ended) in zip(examples, answers, replies):
        chosen = example.messages[2]["content"]
        first = chosen_first(SEED, example.prompt_id)
        verdict = offline_verdict(judge_prompt(answer.before, *((chosen, reply) if first
                                                                 else (reply, chosen))))
        pair = pair_for(example, SOURCES, answer=answer, policy_reply=reply if ended else None,
                        judged_worse=verdict == ("A" if first else "B"), seed=SEED,
                        score=sentence_gleu)
        if pair is not None:
            pairs.append(pair)
    return pairs


def write_pairs(path: Path, pairs: list) -> str:
    path.write_text("".join(json.dumps(p.as_trl(), ensure_ascii=False) + "\n" for p in pairs),
                    encoding="utf-8")
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=40, help="training answers per passage")
    parser.add_argument("--sft-steps", type=int, default=900)
    parser.add_argument("--pair-variants", type=int, default=8,
                        help="training answers per passage that get a pair")
    parser.add_argument("--dpo-steps", type=int, default=150)
    parser.add_argument("--dpo-learning-rate", type=float, default=1e-4)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--sft-weight", type=float, default=1.0,
                        help="the chosen answers' NLL beside the DPO loss (0: plain DPO)")
    args = parser.parse_args()
    train, unseen, seen = build_sets(args.variants)
    with tempfile.TemporaryDirectory(prefix="correctly-preferences-") as work:
        work = Path(work)
        tracking = f"sqlite:///{work}/mlflow.db"
        started = time.perf_counter()
        sft = run_training(TrainingConfig(
            train_file=str(write_chats(work / "train.jsonl", chats_of(train))),
            output_dir=str(work / "sft"),
            max_steps=args.sft_steps, learning_rate=3e-3, save_steps=10**6, logging_steps=100,
            mlflow_tracking_uri=tracking))
        sft_minutes = (time.perf_counter() - started) / 60
        # Whole replies for pairs (the preference_pairs asset's default limit); only the
        # corrected text, which comes first, for GLEU.
        replier = Corrector(sft.model_dir, max_new_tokens=768)
        started = time.perf_counter()
        paired = [a for i, a in enumerate(train) if i % args.variants < args.pair_variants]
        train_pairs = make_pairs(replier, paired, "train")
        held_out = make_pairs(replier, seen, "validation")
        pair_minutes = (time.perf_counter() - started) / 60
        dpo = {}
        for weight in sorted({0.0, args.sft_weight}):
            started = time.perf_counter()
            dpo[weight] = (run_preference_training(PreferenceConfig(
                model_dir=str(sft.model_dir),
                train_file=write_pairs(work / "pairs.jsonl", train_pairs),
                validation_file=write_pairs(work / "held_out.jsonl", held_out),
                output_dir=str(work / f"dpo-{weight}"), max_steps=args.dpo_steps,
                save_steps=10**6, learning_rate=args.dpo_learning_rate, beta=args.beta,
                per_device_batch_size=8, sft_weight=weight, mlflow_tracking_uri=tracking)),
                (time.perf_counter() - started) / 60)

        print(f"\nSFT: {len(train)} answers, {args.sft_steps} steps in {sft_minutes:.1f} min; "
              f"pairs made in {pair_minutes:.1f} min; DPO: {args.dpo_steps} steps, beta {args.beta}, "
              f"learning rate {args.dpo_learning_rate}")
        for name, pairs, asked in (("train pairs", train_pairs, len(paired)),
                                   ("held-out pairs", held_out, len(seen))):
            sources = Counter(p.source for p in pairs)
            rules = Counter(p.detail for p in pairs if p.source == "rule")
            ratio = pair_report([(p.chosen, p.rejected, p.source) for p in pairs])["length_ratio"]
            print(f"{name}: {len(pairs)} of {asked} rows "
                  f"({', '.join(f'{s} {sources.get(s, 0)}' for s in SOURCES)}; rules {dict(rules)}); "
                  f"rejected/chosen length {ratio:.2f}")
        models = {"SFT": Corrector(sft.model_dir, max_new_tokens=100)}
        for weight, (result, minutes) in dpo.items():
            name = f"DPO, sft_weight {weight:g}"
            print(f"{name}: {minutes:.1f} min; held-out reward margin {result.margin[0]:.3f} -> "
                  f"{result.margin[1]:.3f}, accuracy {result.accuracy[0]:.3f} -> {result.accuracy[1]:.3f}")
            models[name] = Corrector(result.model_dir, max_new_tokens=100)
        print(f"{'GLEU':<28}{'answers':>8}" + "".join(f"{n:>24}" for n in models) + f"{'copy':>8}")
        for name, answers in (("unseen passages", unseen), ("seen passages, new mistakes", seen)):
            scores = [gleu(corrector, answers) for corrector in models.values()]
            print(f"{name:<28}{len(answers):>8}" + "".join(f"{s[0]:>24.2f}" for s in scores)
                  + f"{scores[0][1]:>8.2f}")


if __name__ == "__main__":
    main()
