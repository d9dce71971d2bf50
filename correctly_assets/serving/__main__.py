"""python -m correctly_assets.serving [--host 127.0.0.1] [--port 8080] [--alias candidate]

Loads the model before the server starts listening: a model that cannot be found ends the
command with the reason and exit status 2 (after --wait-for-model seconds of asking again, as a
deployment's service does until the first version is promoted), and a server that listens can
answer at once.
Flags left out take their values from the environment (see ServingSettings.from_env).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
import time

from .app import create_app
from .model_source import ModelNotFound, ServingSettings, load_service

WAIT_INTERVAL_S = 15.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m correctly_assets.serving",
                                     description="Serve the correction model over HTTP.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--tracking-uri",
                        help="default: $MLFLOW_TRACKING_URI, else the pipeline's store")
    parser.add_argument("--model", dest="model_name", metavar="NAME",
                        help="registry model (default: $CORRECTLY_SERVING_MODEL, else correctly)")
    parser.add_argument("--alias", help="default: $CORRECTLY_SERVING_ALIAS, else production")
    parser.add_argument("--max-new-tokens", type=int,
                        help="default: $CORRECTLY_SERVING_MAX_NEW_TOKENS, else the model's "
                             "budget (its longest trained answer + 25%%)")
    parser.add_argument("--backend", choices=["in-process", "engine"],
                        help="who generates: this process (default), or an OpenAI-compatible "
                             "engine; default: $CORRECTLY_SERVING_BACKEND")
    parser.add_argument("--engine-url", help="the engine's base URL, e.g. http://vllm:8000/v1; "
                                             "default: $CORRECTLY_ENGINE_URL")
    parser.add_argument("--engine-model",
                        help="the name the engine serves the model under; default: "
                             "$CORRECTLY_ENGINE_MODEL, else <model>-v<version>")
    parser.add_argument("--max-active", type=int,
                        help="requests answered at once before more get 503 (default: 32)")
    parser.add_argument("--max-batch", type=int,
                        help="in-process: requests generated in one step (default: "
                             "--max-active; 1 is one at a time, a baseline for benchmarks)")
    parser.add_argument("--deadline", dest="deadline_s", type=float, metavar="SECONDS",
                        help="the most one request may take in all (default: 60)")
    parser.add_argument("--wait-for-model", type=float, default=0.0, metavar="SECONDS",
                        help=f"while the alias names no version, ask the registry again every "
                             f"{WAIT_INTERVAL_S:.0f} s for at most this long (default: 0)")
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"])
    return parser


def wait_for_service(settings: ServingSettings, wait_s: float):
    """load_service, asking again every WAIT_INTERVAL_S while the model is not there yet,
    until `wait_s` has passed; then its ModelNotFound."""
    return waiting_for_model(lambda: load_service(settings), wait_s)


def waiting_for_model(call, wait_s: float):
    """call(), again every WAIT_INTERVAL_S while it raises ModelNotFound, for at most wait_s."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return call()
        except ModelNotFound as error:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            logging.getLogger(__name__).info("%s Asking again in %.0f s.", error,
                                             min(WAIT_INTERVAL_S, left))
            time.sleep(min(WAIT_INTERVAL_S, left))


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    arguments = build_parser().parse_args(argv)
    logging.basicConfig(level=arguments.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = {field.name: getattr(arguments, field.name)
                 for field in dataclasses.fields(ServingSettings)
                 if getattr(arguments, field.name) is not None}
    settings = dataclasses.replace(ServingSettings.from_env(), **overrides)
    try:
        service = wait_for_service(settings, arguments.wait_for_model)
    except ModelNotFound as error:
        print(error, file=sys.stderr)
        return 2
    try:
        uvicorn.run(create_app(lambda: service), host=arguments.host, port=arguments.port,
                    log_level=arguments.log_level)
    finally:  # when the server never started (a port in use), its lifespan did not close it
        asyncio.run(service.backend.close())
    return 0


if __name__ == "__main__":
    sys.exit(main())
