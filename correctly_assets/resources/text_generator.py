"""The text generator: an OpenAI-compatible model, or the offline error generator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal, Optional

import dagster as dg
import openai as openai_sdk
from dagster_openai import OpenAIResource
from pydantic import Field

from ..llm.deadline_http import async_deadline_http_client
from ..llm.generation import (
    DEFAULT_BATCH_BUDGET_S,
    DEFAULT_CALL_DEADLINE_S,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT_S,
    GENERATION_SYSTEM_PROMPT,
    OFFLINE_MODEL,
    generate_texts,
    generate_texts_async,
    offline_complete,
    openai_acomplete_fn,
    usage_summary,
)
from ..llm.batch_client import BatchClient
from ..llm.batch_mode import BatchSettings, Ledger, Round, batch_round
from ..llm.pricing import DEFAULT_PRICES, cost
from ..llm.judging import (
    JUDGE_MAX_TOKENS, JUDGE_SYSTEM_PROMPT, Judgement, PartitionJudgeRequest, judge_async,
    judgement_of, no_judgement, offline_verdict,
)
from ..domain.models import GeneratedText, PromptExample


class TextGeneratorResource(dg.ConfigurableResource):
    """Answers prompts through `openai` when it is configured, else offline.

    `openai` is dagster-openai's resource (API key from `EnvVar("OPENAI_API_KEY")`, base
    URL for any OpenAI-compatible server). At most `max_concurrency` calls run at once; each is
    retried up to `max_retries` times on 429/5xx/time-outs, with exponential backoff.
    """

    openai: Optional[OpenAIResource] = None
    model: str = "gpt-4o-mini"
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    max_concurrency: int = Field(default=64, ge=1)
    max_retries: int = Field(default=DEFAULT_MAX_RETRIES, ge=0)
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0)
    # Each call's deadline, attempts and backoff included; each attempt ends by timeout_s.
    call_deadline_s: float = Field(default=DEFAULT_CALL_DEADLINE_S, gt=0)
    # A batch's budget (one `generate`: a run's prompts): no call starts and no retry waits
    # past it; the prompts it leaves are kept as failed calls, asked again next time.
    batch_budget_s: float = Field(default=DEFAULT_BATCH_BUDGET_S, gt=0)
    # The answer's token limit; an answer it cuts off is kept, rejected as truncated.
    max_tokens: Optional[int] = Field(default=None, ge=1)
    # "sync": chat completions, max_concurrency at a time, answered within the run.
    # "batch": the Batch API (half the price, within 24 hours): a run submits and ends; the
    # batch sensor collects each partition once its batches have ended (llm/batch_mode.py).
    mode: Literal["sync", "batch"] = "sync"
    # Batch mode: times a request is asked in all (error lines, a failed or expired batch)
    # before it is kept as a failed row with its reason.
    max_batch_attempts: int = Field(default=3, ge=1)
    # Batch mode: each upload or download of a batch file ends within this.
    transfer_timeout_s: float = Field(default=900.0, gt=0)
    # US dollars per million tokens, by model: input, output, batch_input, batch_output.
    prices: dict[str, dict[str, float]] = Field(default_factory=lambda: dict(DEFAULT_PRICES))

    def _client(self, settings: OpenAIResource) -> openai_sdk.AsyncOpenAI:
        # Built from the nested resource's settings rather than taken from its get_client:
        # that wraps the shared client's endpoints with a usage logger whose counters are
        # updated without a lock, and it needs an asset definition in context. Usage is
        # summed per batch by `usage_summary` instead. Async: one event loop and one
        # connection pool answer the batch, where threads contend for both.
        return openai_sdk.AsyncOpenAI(
            api_key=settings.api_key,
            organization=settings.organization,
            project=settings.project,
            base_url=settings.base_url,
            max_retries=0,  # openai_acomplete_fn retries
            timeout=self.timeout_s,
            # timeout_s bounds a whole attempt, not only each read of it
            http_client=async_deadline_http_client(self.timeout_s),
        )

    @property
    def generator(self) -> str:
        """What answers: the model and the settings that shape its answers (an
        AnswerJournal keeps an answer only for the same generator)."""
        if self.openai is None:
            return OFFLINE_MODEL
        return (f"{self.openai.base_url or 'openai'}|{self.model}|{self.temperature}"
                f"|{self.max_tokens}")

    def generate(
        self, context: dg.AssetExecutionContext, prompts: list[PromptExample],
        on_answer: Optional[Callable[[PromptExample, GeneratedText], None]] = None,
    ) -> tuple[list[GeneratedText], dict]:
        """The answers, and a usage summary to record as the asset's metadata. `on_answer`
        gets each answer as it arrives."""
        if self.openai is None:
            context.log.info(f"Answering {len(prompts)} prompts with the offline generator")
            # CPU-bound: more threads would only contend for the interpreter lock.
            texts = generate_texts(prompts, offline_complete, max_concurrency=1,
                                   on_answer=on_answer)
            return texts, {**usage_summary(texts), "model": OFFLINE_MODEL, "mode": "offline"}
        context.log.info(
            f"Answering {len(prompts)} prompts with {self.model}, "
            f"{self.max_concurrency} calls at a time"
        )
        batch_deadline = time.monotonic() + self.batch_budget_s
        texts = asyncio.run(self._generate_async(prompts, on_answer, batch_deadline))
        # The models that answered, as the server named them (a router may answer with
        # another than the one asked for); what was asked for beside it.
        reported = sorted({t.model for t in texts if t.model})
        return texts, {**usage_summary(texts), "model": ", ".join(reported) or "none answered",
                       "model_requested": self.model, "mode": "openai"}

    async def _generate_async(self, prompts, on_answer, batch_deadline: float):
        async with self._client(self.openai) as client:
            complete = openai_acomplete_fn(client, self.model, self.temperature,
                                           max_retries=self.max_retries,
                                           max_tokens=self.max_tokens,
                                           call_deadline_s=self.call_deadline_s,
                                           batch_deadline=batch_deadline)
            return await generate_texts_async(
                prompts, complete, self.max_concurrency, secrets=(self.openai.api_key,),
                on_answer=on_answer, batch_deadline=batch_deadline)

    def cost(self, usage: dict) -> dict:
        """The usage's cost at synchronous and batch prices, for the asset's metadata."""
        if self.openai is None:
            return {}
        return cost(self.model, usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0),
                    self.prices)

    def cost_by_partition(self, texts_by_partition: dict) -> dict[str, float]:
        """Each partition's cost at this mode's price ("date|theme": US dollars); nothing
        offline or for a model without a price."""
        key = "cost_usd_batch" if self.mode == "batch" else "cost_usd_synchronous"
        figures = {f"{date}|{theme}": self.cost(usage_summary(texts)).get(key)
                   for (date, theme), texts in texts_by_partition.items()}
        return figures if all(v is not None for v in figures.values()) else {}

    def batch_client(self) -> BatchClient:
        settings = self.openai
        return BatchClient(settings.api_key, settings.base_url, settings.organization,
                           settings.project, timeout_s=self.timeout_s,
                           transfer_timeout_s=self.transfer_timeout_s)

    def answer_in_batches(
        self, context: dg.AssetExecutionContext, ledger: Ledger, asset: str,
        prompts_by_partition: dict, cache: Path, downstream: list[str],
        on_answer: Optional[Callable[[PromptExample, GeneratedText], None]] = None,
    ) -> Round:
        """One batch round (llm/batch_mode.py) for the run's partitions."""
        if self.openai is None:
            raise dg.Failure("the text generator's batch mode needs an OpenAI-compatible "
                             "server: set OPENAI_API_KEY (and OPENAI_BASE_URL), or "
                             "CORRECTLY_LLM_MODE=sync")
        settings = BatchSettings(self.model, self.temperature, GENERATION_SYSTEM_PROMPT,
                                 self.max_tokens, self.generator, self.max_batch_attempts)
        return self._round(context, ledger, asset, prompts_by_partition, settings, cache,
                           downstream, on_answer=on_answer)

    def judge_in_batches(
        self, context: dg.AssetExecutionContext, ledger: Ledger, asset: str,
        requests_by_partition: dict[tuple[str, str], list[PartitionJudgeRequest]], cache: Path,
    ) -> Round:
        """The judge's verdicts through the Batch API (a Round of Judgements by prompt id):
        the same model, temperature 0, a few tokens, as `judge` asks them."""
        if self.openai is None:
            raise dg.Failure("the judge's batch mode needs an OpenAI-compatible server")
        settings = BatchSettings(self.model, 0.0, JUDGE_SYSTEM_PROMPT, JUDGE_MAX_TOKENS,
                                 f"judge|{self.generator}", self.max_batch_attempts)
        return self._round(context, ledger, asset, requests_by_partition, settings, cache, [],
                           answer_row=judgement_of, failed_row=no_judgement)

    def _round(self, context, ledger, asset, prompts_by_partition, settings, cache, downstream,
               **rows) -> Round:
        count = sum(len(batch) for batch in prompts_by_partition.values())
        context.log.info(f"Batch mode: {count} requests in {len(prompts_by_partition)} "
                         f"partition(s) of {asset}, with {self.model}")

        async def run() -> Round:
            client = self.batch_client()
            try:
                return await batch_round(client, ledger, asset, prompts_by_partition, settings,
                                         cache, downstream, (self.openai.api_key,), **rows)
            finally:
                await client.close()
        return asyncio.run(run())

    def judge(self, context: dg.AssetExecutionContext, prompts: list[str]) -> list[Judgement]:
        """The judge's verdict on each `judging.judge_prompt`, asked of the same model at
        temperature 0 (offline: `offline_verdict`), within one batch budget."""
        if self.openai is None:
            context.log.info(f"Judging {len(prompts)} pairs with the offline judge")
            return [Judgement(offline_verdict(p)) for p in prompts]
        context.log.info(f"Judging {len(prompts)} pairs with {self.model}")
        batch_deadline = time.monotonic() + self.batch_budget_s
        return asyncio.run(self._judge_async(prompts, batch_deadline))

    async def _judge_async(self, prompts: list[str], batch_deadline: float) -> list[Judgement]:
        async with self._client(self.openai) as client:
            complete = openai_acomplete_fn(client, self.model, 0.0, JUDGE_SYSTEM_PROMPT,
                                           max_retries=self.max_retries,
                                           max_tokens=JUDGE_MAX_TOKENS,
                                           call_deadline_s=self.call_deadline_s,
                                           batch_deadline=batch_deadline)
            return await judge_async(prompts, complete, self.max_concurrency,
                                     secrets=(self.openai.api_key,), batch_deadline=batch_deadline)
