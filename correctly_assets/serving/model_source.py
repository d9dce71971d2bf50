"""Which model is served, and the one loaded instance that answers.

The model is a version of the MLflow registry model that `registered_model` writes, found
by alias (`production` unless told otherwise). That asset registers the run's `model/`
artifact directory, a plain transformers model with its tokenizer, as the version's
source; it is downloaded and loaded with the evaluation's `Corrector`, so the served
model answers exactly as it was evaluated. No Dagster import here.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..domain.chat_format import Reply
from ..settings import (
    SERVING_ALIAS, SERVING_MODEL, env, redacted, serving_max_new_tokens, tracking_uri, without_credentials,
)

if TYPE_CHECKING:
    from ..evaluation.corrector import Corrector

logger = logging.getLogger(__name__)

# RegistryConfig.model_name's default; the test suite checks the two agree.
DEFAULT_MODEL_NAME = "correctly"
DEFAULT_ALIAS = "production"


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

    def __post_init__(self):
        # A password in the URI goes to MLflow's own variables, never into a log line.
        object.__setattr__(self, "tracking_uri", without_credentials(self.tracking_uri))
        if self.max_new_tokens is not None and self.max_new_tokens <= 0:
            raise ValueError(f"max_new_tokens must be positive, got {self.max_new_tokens}")

    @classmethod
    def from_env(cls) -> ServingSettings:
        """MLFLOW_TRACKING_URI, CORRECTLY_SERVING_MODEL, CORRECTLY_SERVING_ALIAS,
        CORRECTLY_SERVING_MAX_NEW_TOKENS; each unset one takes its default."""
        return cls(
            tracking_uri=tracking_uri(),
            model_name=env(SERVING_MODEL) or DEFAULT_MODEL_NAME,
            alias=env(SERVING_ALIAS) or DEFAULT_ALIAS,
            max_new_tokens=serving_max_new_tokens(),
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


# How many requests may wait for the model, and how long one may wait in all, before the
# server answers 503 with Retry-After rather than let a queue grow without end.
MAX_WAITING = 16
DEADLINE_S = 60.0


class Overloaded(RuntimeError):
    """The model's queue is full, or a request waited past its deadline."""

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class CorrectionService:
    """One model instance answering one text at a time, on one thread of its own.

    One `generate` already spreads its work over the CPU cores (or the GPU), so two at once
    mostly contend, and a fast tokenizer shared between threads can fail with "Already
    borrowed". The model runs on a single dedicated thread: requests queue for it, the
    event loop stays free, and the same thread always drives torch, so its CPU thread team
    (OpenMP) is made once. Serialising on a lock from the server's many threadpool threads
    instead gave each calling thread a team of its own, spinning against the others: 8
    concurrent clients got half the throughput of one (`benchmarks/serving.py`).
    Batching the waiting requests into one `generate` would raise throughput on a GPU at
    the cost of a batching window; one thread is the simple, safe choice.
    """

    def __init__(self, corrector: Corrector, model: ServedModel, max_waiting: int = MAX_WAITING,
                 deadline_s: float = DEADLINE_S):
        self.corrector = corrector
        self.model = model
        self.max_waiting, self.deadline_s = max_waiting, deadline_s
        self._model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._waiting = 0
        self._count = threading.Lock()

    def correct(self, text: str) -> Reply:
        """The reply read into its fields; blocking. An empty corrected text means no change,
        as in the evaluation (the corrector's `Correction`); `cut_off` says the token limit
        ended the reply. Overloaded when `max_waiting` requests are queued already or this one
        would wait past `deadline_s` (then it is dropped from the queue)."""
        with self._count:
            if self._waiting >= self.max_waiting:
                raise Overloaded(f"{self._waiting} requests are waiting for the model; "
                                 "try again shortly", retry_after_s=5)
            self._waiting += 1
        try:
            future = self._model_thread.submit(self.corrector.corrections, [text], 1)
            try:
                [correction] = future.result(timeout=self.deadline_s)
            except FuturesTimeout:
                future.cancel()  # not started yet: it leaves the queue
                raise Overloaded(f"no answer within {self.deadline_s:.0f} s; try again later",
                                 retry_after_s=30) from None
        finally:
            with self._count:
                self._waiting -= 1
        return dataclasses.replace(correction.reply, corrected=correction.corrected,
                                   cut_off=not correction.ended)


def load_service(settings: ServingSettings) -> CorrectionService:
    """Resolve the alias, download that version's model and load it once."""
    from ..evaluation.corrector import Corrector

    model = resolve_model(settings)
    logger.info("Loading %s version %d (alias %s, run %s) from %s", model.name, model.version,
                model.alias, model.run_id, redacted(settings.tracking_uri))
    corrector = Corrector.from_registry(model.source, settings.tracking_uri,
                                        settings.max_new_tokens)
    return CorrectionService(corrector, model)
