"""python -m correctly_assets.serving.sync --dest /models [--wait-for-model SECONDS]

Puts the registry version under the serving alias where an inference engine reads it: the
version's whole model directory (weights, tokenizer, chat template) in
<dest>/<model>-v<version>/, and that name in <dest>/current. The engine serves the directory
under that name (vLLM: `vllm serve <dest>/$(cat current) --served-model-name $(cat current)`),
which is the name the gateway asks for (`engine_model_name`). Run before the engine starts:
an init container in Kubernetes, a one-shot service in compose. A version already there is
not downloaded again. Prints the name; exit status 2 when no version is found in time.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from .__main__ import waiting_for_model
from .model_source import ModelNotFound, ServingSettings, engine_model_name, resolve_model

COMPLETE = ".complete"  # written last: a directory without it is a download cut short


def sync(settings: ServingSettings, destination: Path) -> str:
    """The served name of the alias's version, its directory complete under `destination`."""
    import mlflow.artifacts

    model = resolve_model(settings)
    name = engine_model_name(model)
    target = destination / name
    if not (target / COMPLETE).is_file():
        destination.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=destination) as partial:
            downloaded = Path(mlflow.artifacts.download_artifacts(
                artifact_uri=model.source, dst_path=partial, tracking_uri=settings.tracking_uri))
            (downloaded / COMPLETE).write_text(f"{model.name} version {model.version}\n")
            shutil.rmtree(target, ignore_errors=True)
            downloaded.rename(target)
    # Replaced in one step: an engine starting now reads the old name or the new, never half.
    pointer = destination / ".current.tmp"
    pointer.write_text(name + "\n")
    os.replace(pointer, destination / "current")
    return name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m correctly_assets.serving.sync",
                                     description=__doc__.split("\n\n")[1])
    parser.add_argument("--dest", type=Path, required=True, help="the engine's model folder")
    parser.add_argument("--wait-for-model", type=float, default=0.0, metavar="SECONDS",
                        help="while the alias names no version, ask the registry again")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level="INFO", stream=sys.stderr)
    try:
        name = waiting_for_model(lambda: sync(ServingSettings.from_env(), arguments.dest),
                                 arguments.wait_for_model)
    except ModelNotFound as error:
        print(error, file=sys.stderr)
        return 2
    print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
