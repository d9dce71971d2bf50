"""python -m correctly_assets.training --train-file train.jsonl --output-dir out/ [...]

One flag per TrainingConfig field (`--train-file`, `--use-lora`/`--no-use-lora`, ...).
Prints the TrainingResult as one JSON line on stdout when training ends.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import typing

from .config import TrainingConfig
from .sft import run_training


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m correctly_assets.training",
                                     description="Supervised fine-tuning on chat JSONL files.")
    hints = typing.get_type_hints(TrainingConfig)
    for field in dataclasses.fields(TrainingConfig):
        hint = hints[field.name]
        optional = type(None) in typing.get_args(hint)
        base = next(t for t in typing.get_args(hint) if t is not type(None)) if optional else hint
        flag = "--" + field.name.replace("_", "-")
        required = field.default is dataclasses.MISSING
        default = None if required else field.default
        help_text = field.metadata.get("help", "")
        if base is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default,
                                help=help_text)
        else:
            parser.add_argument(flag, type=base, required=required, default=default,
                                help=f"{help_text} (default: {default})" if not required else help_text)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    arguments = vars(build_parser().parse_args(argv))
    result = run_training(TrainingConfig(**arguments))
    print(json.dumps(dataclasses.asdict(result), default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
