"""Which model is served, and the one loaded instance that answers.

The model is a version of the MLflow registry model that `registered_model` writes, found
by alias (`production` unless told otherwise). That asset registers the run's `model/`
artifact directory, a plain transformers model with its tokenizer, as the version's
source; it is downloaded and loaded with the evaluation's `Corrector`, so the served
model answers exactly as it was evaluated. No Dagster import here.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from ..domain.chat_format import Reply, parse_reply
from ..evaluation.corrector import Correction
from ..settings import (
    ENGINE_API_KEY, ENGINE_MODEL, ENGINE_URL, SERVING_ALIAS, SERVING_BACKEND, SERVING_MODEL, env,
    redacted, serving_max_new_tokens, tracking_uri, without_credentials,
)
from .backends import MAX_TEXT_CHARS, Backend, End, Overloaded, Piece
from .engine import EngineBackend
from .in_process import InProcessBackend

logger = logging.getLogger(__name__)

# RegistryConfig.model_name's default; the test suite checks the two agree.
DEFAULT_MODEL_NAME = "correctly"
DEFAULT_ALIAS = "production"
BACKENDS = ("in-process", "engine")

# How many requests may be answered at once, and how long one may take in all, before the
# server answers 503 with Retry-After rather than let a queue grow without end. A class of
# learners (about 30) at once is what the service is for.
MAX_ACTIVE = 32
DEADLINE_S = 60.0


class ModelNotFound(RuntimeError):
    """The registry has no model version under the configured name and alias."""


@dataclass(frozen=True)
class ServingSettings:
    tracking_uri: str
    model_name: str = DEFAULT_MODEL_NAME
    alias: str = DEFAULT_ALIAS
    # None: the model's own budget, its longest trained answer with a 25% margin
    # (evaluation/corrector.py), so a whole answer fits and a cut-off one is rare and flagged.
    max_new_tokens: int | None = None
    backend: str = "in-process"  # or "engine": an OpenAI-compatible server at engine_url
    engine_url: str | None = None
    engine_model: str | None = None  # None: engine_model_name(version), "correctly-v3"
    max_active: int = MAX_ACTIVE
    deadline_s: float = DEADLINE_S
    max_batch: int | None = None  # in-process: requests per generation step; None: max_active

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"{SERVING_BACKEND} must be one of {', '.join(BACKENDS)}, "
                             f"got {self.backend!r}")
        if self.max_active < 0 or self.deadline_s <= 0:
            raise ValueError("max_active must be >= 0 and deadline_s positive")
        # A password in the URI goes to MLflow's own variables, never into a log line.
        object.__setattr__(self, "tracking_uri", without_credentials(self.tracking_uri))
        if self.max_new_tokens is not None and self.max_new_tokens <= 0:
            raise ValueError(f"max_new_tokens must be positive, got {self.max_new_tokens}")

    @classmethod
    def from_env(cls) -> ServingSettings:
        """MLFLOW_TRACKING_URI, CORRECTLY_SERVING_MODEL, CORRECTLY_SERVING_ALIAS,
        CORRECTLY_SERVING_MAX_NEW_TOKENS, CORRECTLY_SERVING_BACKEND, CORRECTLY_ENGINE_URL,
        CORRECTLY_ENGINE_MODEL; each unset one takes its default."""
        return cls(
            tracking_uri=tracking_uri(),
            model_name=env(SERVING_MODEL) or DEFAULT_MODEL_NAME,
            alias=env(SERVING_ALIAS) or DEFAULT_ALIAS,
            max_new_tokens=serving_max_new_tokens(),
            backend=env(SERVING_BACKEND) or "in-process",
            engine_url=env(ENGINE_URL),
            engine_model=env(ENGINE_MODEL),
        )


@dataclass(frozen=True)
class ServedModel:
    """The registry version being served; every answer names it."""

    name: str
    version: int
    alias: str
    run_id: str
    source: str  # the artifact URI the version was registered from


def _not_found(settings: ServingSettings, client) -> ModelNotFound | None:
    """Why the alias resolves to nothing, or None when it should have resolved: stores
    differ in the error they raise for a missing alias, so the registry is asked again."""
    from mlflow.exceptions import MlflowException

    name, alias = settings.model_name, settings.alias
    where = f"on MLflow tracking URI {redacted(settings.tracking_uri)}"
    try:
        aliases = client.get_registered_model(name).aliases
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            return None
        problem = f"registry model '{name}' does not exist {where}"
    else:
        if alias in aliases:
            return None
        present = ", ".join(f"{a} -> version {v}" for a, v in sorted(aliases.items())) or "none"
        problem = f"registry model '{name}' has no alias '{alias}' {where} (its aliases: {present})"
    candidate = ("To serve the newest registered version anyway, set "
                 "CORRECTLY_SERVING_ALIAS=candidate; to" if alias != "candidate" else "To")
    return ModelNotFound(
        f"No model to serve: {problem}. Materialise fine_tuned_model, model_evaluation and "
        f"registered_model to register a version; a version gets alias 'production' only when "
        f"it passes the promotion gate. {candidate} serve another store or model, set "
        f"MLFLOW_TRACKING_URI or CORRECTLY_SERVING_MODEL."
    )


def resolve_model(settings: ServingSettings) -> ServedModel:
    """The version the alias points at; ModelNotFound, saying what to do, when none does."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = settings.tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        # MLflow would create an empty store there and then report no model; say why instead.
        raise ModelNotFound(
            f"No model to serve: there is no MLflow store at {uri.removeprefix('sqlite:///')} "
            f"(tracking URI {redacted(uri)}). Run the pipeline up to registered_model first, "
            f"or set MLFLOW_TRACKING_URI to the store the pipeline tracks to."
        )
    client = MlflowClient(uri)
    try:
        version = client.get_model_version_by_alias(settings.model_name, settings.alias)
    except MlflowException:
        not_found = _not_found(settings, client)
        if not_found is None:
            raise
        raise not_found from None
    return ServedModel(name=version.name, version=int(version.version), alias=settings.alias,
                       run_id=version.run_id or "", source=version.source)


class CorrectionService:
    """The served model version and the backend that writes its replies, with admission:
    at most `max_active` requests at once (more get Overloaded: 503 with Retry-After), and
    each one done within `deadline_s` (else its generation is stopped and it is Overloaded).
    Every call runs on the event loop; the backend's generation runs elsewhere."""

    def __init__(self, model: ServedModel, backend: Backend, max_active: int = MAX_ACTIVE,
                 deadline_s: float = DEADLINE_S):
        self.model, self.backend = model, backend
        self.max_active, self.deadline_s = max_active, deadline_s
        self.active = 0
        self.peak_active = 0  # the most answered at once since it was last reset

    async def stream(self, text: str) -> AsyncIterator[Piece | End]:
        """The backend's pieces and its End, within the deadline. Closing the iterator early
        (a client that went away) stops the generation."""
        if self.active >= self.max_active:
            raise Overloaded(f"{self.active} requests are being answered, the most this server "
                             "takes at once; try again shortly", retry_after_s=5)
        self.active += 1
        self.peak_active = max(self.peak_active, self.active)
        deadline = asyncio.get_running_loop().time() + self.deadline_s
        try:
            async with contextlib.aclosing(self.backend.stream(text)) as items:
                while True:
                    # The deadline is set around each wait, not once around the loop: a
                    # timeout cancels the task it was entered in, and a streamed response's
                    # pieces after the first are awaited by the server's sending task, so
                    # only this way does the deadline not depend on how the server nests them.
                    async with asyncio.timeout_at(deadline):
                        try:
                            item = await anext(items)
                        except StopAsyncIteration:
                            return
                    yield item
        except TimeoutError:
            raise Overloaded(f"no answer within {self.deadline_s:.0f} s; try again later",
                             retry_after_s=30) from None
        finally:
            self.active -= 1

    async def correct(self, text: str) -> Reply:
        """The whole reply read into its fields. An empty corrected text means no change, as
        in the evaluation (the corrector's `Correction`); `cut_off` says the token limit
        ended the reply."""
        pieces, ended = [], False
        async with contextlib.aclosing(self.stream(text)) as stream:
            async for item in stream:
                if isinstance(item, Piece):
                    pieces.append(item.text)
                else:
                    ended = item.ended
        return finished_reply(text, "".join(pieces), ended)


def finished_reply(text: str, raw: str, ended: bool) -> Reply:
    """A complete reply read into its fields, as the evaluation reads it (`Correction`):
    the learner's text as the corrected one when the reply gave none."""
    correction = Correction(text, parse_reply(raw), ended)
    return dataclasses.replace(correction.reply, corrected=correction.corrected,
                               cut_off=not correction.ended)


# The files of a registered model that hold its weights: the engine loads those, the
# gateway needs only the rest (tokenizer, chat format, answer budget).
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


def _download_without_weights(source: str, tracking_uri: str, destination: Path) -> Path:
    import mlflow.artifacts

    for entry in mlflow.artifacts.list_artifacts(artifact_uri=source, tracking_uri=tracking_uri):
        if not entry.is_dir and not entry.path.endswith(WEIGHT_SUFFIXES):
            name = entry.path.rsplit("/", 1)[-1]
            mlflow.artifacts.download_artifacts(artifact_uri=f"{source.rstrip('/')}/{name}",
                                                dst_path=str(destination),
                                                tracking_uri=tracking_uri)
    return destination


def engine_backend(settings: ServingSettings, model: ServedModel) -> EngineBackend:
    """The engine backend for a registry version: its tokenizer, chat language and answer
    budget read from the version's files, its weights left to the engine."""
    from transformers import AutoTokenizer

    from ..domain.chat_format import read_chat_format, special_token_texts
    from ..evaluation.corrector import generation_budget

    if not settings.engine_url:
        raise ValueError(f"The engine backend needs the engine's base URL: set {ENGINE_URL}, "
                         f"e.g. http://vllm:8000/v1")
    with tempfile.TemporaryDirectory(prefix="correctly-tokenizer-") as directory:
        files = _download_without_weights(model.source, settings.tracking_uri, Path(directory))
        tokenizer = AutoTokenizer.from_pretrained(files)
        return EngineBackend(
            settings.engine_url, settings.engine_model or engine_model_name(model),
            settings.max_new_tokens or generation_budget(files), read_chat_format(files),
            special_token_texts(tokenizer), api_key=env(ENGINE_API_KEY))


def engine_model_name(model: ServedModel) -> str:
    """The name the engine serves a registry version under (vLLM's --served-model-name)."""
    return f"{model.name}-v{model.version}"


def load_service(settings: ServingSettings) -> CorrectionService:
    """Resolve the alias, and load that version: into this process, or as the engine's."""
    from ..evaluation.corrector import Corrector

    model = resolve_model(settings)
    logger.info("Serving %s version %d (alias %s, run %s) from %s through the %s backend",
                model.name, model.version, model.alias, model.run_id,
                redacted(settings.tracking_uri), settings.backend)
    if settings.backend == "engine":
        backend = engine_backend(settings, model)
    else:
        corrector = Corrector.from_registry(model.source, settings.tracking_uri,
                                            settings.max_new_tokens)
        backend = InProcessBackend(corrector, settings.max_active, MAX_TEXT_CHARS,
                                   settings.max_batch)
    return CorrectionService(model, backend, settings.max_active, settings.deadline_s)
