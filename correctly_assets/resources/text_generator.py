"""The text generator: an OpenAI-compatible model, or the offline error generator."""

from __future__ import annotations

from typing import Optional

import dagster as dg
from dagster_openai import OpenAIResource

from ..domain.generation import (
    OFFLINE_MODEL,
    generate_texts,
    offline_complete,
    openai_complete_fn,
    usage_summary,
)
from ..domain.models import GeneratedText, PromptExample


class TextGeneratorResource(dg.ConfigurableResource):
    """Answers prompts through `openai` when it is configured, else offline.

    `openai` is dagster-openai's resource (API key from `EnvVar("OPENAI_API_KEY")`, base
    URL for any OpenAI-compatible server). Calls run on `max_concurrency` threads; the
    openai client retries 429/5xx/time-outs `max_retries` times with exponential backoff.
    """

    openai: Optional[OpenAIResource] = None
    model: str = "gpt-4o-mini"
    temperature: float = 0.7
    max_concurrency: int = 64
    max_retries: int = 8
    timeout_s: float = 60.0

    def generate(
        self, context: dg.AssetExecutionContext, prompts: list[PromptExample]
    ) -> tuple[list[GeneratedText], dict]:
        """The answers, and a usage summary to record as the asset's metadata."""
        if self.openai is None:
            texts = generate_texts(prompts, offline_complete, self.max_concurrency)
            return texts, {**usage_summary(texts), "model": OFFLINE_MODEL, "mode": "offline"}
        with self.openai.get_client(context) as client:
            # A copy sharing the connection pool, with our retry and time-out policy. Its
            # endpoints are not dagster-openai's usage-logging wrappers, whose metadata
            # updates are not safe across threads: usage is summed here instead.
            tuned = client.with_options(max_retries=self.max_retries, timeout=self.timeout_s)
            complete = openai_complete_fn(tuned, self.model, self.temperature)
            texts = generate_texts(prompts, complete, self.max_concurrency)
        return texts, {**usage_summary(texts), "model": self.model, "mode": "openai"}
