"""Serving the fine-tuned correction model over HTTP: plain Python and FastAPI, no Dagster.

    python -m correctly_assets.serving --host 127.0.0.1 --port 8080

serves the registry version with alias `production` (CORRECTLY_SERVING_ALIAS picks another)
of registry model `correctly` on MLFLOW_TRACKING_URI (default: the pipeline's own store),
generated in this process (`--backend in-process`, the default) or by an OpenAI-compatible
inference engine such as vLLM (`--backend engine --engine-url http://vllm:8000/v1`).
"""

from .app import CorrectionRequest, CorrectionResponse, create_app
from .backends import MAX_TEXT_CHARS, EngineBadAnswer, EngineUnavailable, Overloaded
from .model_source import (
    CorrectionService,
    ModelNotFound,
    ServedModel,
    ServingSettings,
    load_service,
    resolve_model,
)

__all__ = [
    "MAX_TEXT_CHARS",
    "CorrectionRequest",
    "CorrectionResponse",
    "CorrectionService",
    "EngineBadAnswer",
    "EngineUnavailable",
    "Overloaded",
    "ModelNotFound",
    "ServedModel",
    "ServingSettings",
    "create_app",
    "load_service",
    "resolve_model",
]
