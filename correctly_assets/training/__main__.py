"""python -m correctly_assets.training --train-file train.jsonl --output-dir out/ [...]

One flag per TrainingConfig field (`--train-file` or `--train_file`, `--use-lora`, ...), read
by transformers' HfArgumentParser from the dataclass. Prints the TrainingResult as one JSON
line on stdout when training ends.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys


def build_parser():
    from transformers import HfArgumentParser

    from .config import TrainingConfig

    return HfArgumentParser(TrainingConfig, prog="python -m correctly_assets.training",
                            description="Supervised fine-tuning on chat JSONL files.")


def main(argv: list[str] | None = None) -> int:
    from .sft import run_training

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    [config] = build_parser().parse_args_into_dataclasses(args=argv)
    result = run_training(config)
    print(json.dumps(dataclasses.asdict(result), default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
