"""Asking the text generator for a run's prompts, journaled per partition.

Shared by the two LLM stages (prompt_examples from the original's workbooks, and
generated_texts): every answer is journaled as it arrives until its partition is stored, so
a retry after a failed store or a crash asks the model only for the prompts without one.

In batch mode (the text generator's `mode`), a run is one batch round: the partitions whose
requests have all come back are answered; the others wait in the ledger, and the run stores
nothing (a range of partitions is materialised whole or not at all). The batch sensor starts
a run for each partition once its batches have ended.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd

from ...llm.journal import AnswerJournal
from ...llm.generation import is_failed_request, usage_summary
from ...store.batch_ledger import BatchLedger
from ...domain.models import GeneratedText, PromptExample
from ...resources.files import ArtifactStoreResource
from ...resources.text_generator import TextGeneratorResource
from ..automation import DAILY_DATA_ASSETS

Partition = tuple[str, str]  # (date, theme)


def downstream_in_run(context: dg.AssetExecutionContext, asset: str) -> list[str]:
    """The daily data assets after `asset` (in lineage order) that this run selected: a
    batch carries them, and the sensor's run collecting it selects them again."""
    if asset not in DAILY_DATA_ASSETS:
        return []
    # The run's selection: a launched run names it; a materialize() run's job holds only it.
    keys = context.run.asset_selection or context.job_def.asset_layer.selected_asset_keys
    selected = {key.to_user_string() for key in keys}
    later = DAILY_DATA_ASSETS[DAILY_DATA_ASSETS.index(asset) + 1:]
    return [name for name in later if name in selected]


class JournaledAnswers:
    def __init__(self, texts: dict[str, GeneratedText], usage: dict, from_journal: int,
                 journals: dict[Partition, AnswerJournal], asset: str,
                 ledger: BatchLedger | None = None,
                 waiting: dict[Partition, list[dict]] | None = None, cache: Path | None = None):
        self.texts = texts  # by prompt id, every prompt's (batch mode: every ready one's)
        self.usage = usage  # of the calls made in this run
        self.from_journal = from_journal
        self.waiting = waiting or {}  # batch mode: partitions with requests in live batches
        self._journals = journals
        self._asset, self._ledger = asset, ledger
        self._cache = cache  # batch mode: where the batches' result files are downloaded

    def unreachable(self, prompts: list[PromptExample]) -> str | None:
        """Why no prompt of a partition has an answer, when every call for it failed (the
        model out of reach, the budget spent): then its stored rows are kept, not replaced
        by failures."""
        texts = [self.texts[p.prompt_id] for p in prompts]
        if texts and all(is_failed_request(t) for t in texts):
            return texts[0].rejection_reason
        return None

    def stored(self, partition: Partition) -> None:
        """The partition's rows are in the store: its journal is no longer needed, nor are
        its batches' requests (the next materialisation asks anew)."""
        self._journals[partition].discard()
        self.settled(partition)

    def settled(self, partition: Partition) -> None:
        """Batch mode: the partition's requests are done with, stored or failed for good;
        the downloaded files of batches now wholly done are removed."""
        if self._ledger is not None:
            self._ledger.mark_stored(self._asset, partition)
            for file_id in self._ledger.settled_files(self._asset, partition):
                (self._cache / f"{file_id}.jsonl").unlink(missing_ok=True)


def answer_journaled(
    context: dg.AssetExecutionContext,
    text_generator: TextGeneratorResource,
    artifacts: ArtifactStoreResource,
    asset: str,
    prompts_by_partition: dict[Partition, list[PromptExample]],
    ledger: BatchLedger | None = None,
) -> JournaledAnswers:
    journals = {
        (date, theme): AnswerJournal(
            artifacts.path(asset, "journal", date) / f"{theme}.jsonl", text_generator.generator)
        for date, theme in prompts_by_partition}
    if text_generator.mode == "batch":
        return _batch_round(context, text_generator, artifacts, asset, prompts_by_partition,
                            ledger, journals)
    prompts = [p for batch in prompts_by_partition.values() for p in batch]
    answered = {}
    for key, journal in journals.items():
        answered.update(journal.answered(prompts_by_partition[key]))
    if answered:
        context.log.info(f"{len(answered)} of {len(prompts)} answers come from the journal of "
                         "an earlier attempt; asking the model for the rest")
    new_texts, usage = text_generator.generate(
        context, [p for p in prompts if p.prompt_id not in answered],
        on_answer=lambda prompt, text: journals[(prompt.date, prompt.theme)].record(prompt, text))
    for key, journal in journals.items():
        if journal.error:
            context.log.warning(f"partition {key[0]}|{key[1]}: answers not journaled "
                                f"({journal.error}); a retry would ask for them again")
    return JournaledAnswers({t.prompt_id: t for t in new_texts} | answered, usage,
                            len(answered), journals, asset)


def _batch_round(context, text_generator, artifacts, asset, prompts_by_partition, ledger,
                 journals) -> JournaledAnswers:
    if ledger is None:
        raise ValueError("batch mode needs the store's batch ledger")
    cache = artifacts.path("llm_batches")
    round_ = text_generator.answer_in_batches(
        context, ledger, asset, prompts_by_partition, cache,
        downstream_in_run(context, asset),
        on_answer=lambda prompt, text: journals[(prompt.date, prompt.theme)].record(prompt, text))
    for problem in round_.problems:
        context.log.warning(f"{asset}: {problem}")
    if round_.unread:
        # Loud, and nothing lost: the answers stay at the server, and the next round of
        # these partitions (materialising them again) reads them.
        raise dg.Failure(f"{asset}: {'; '.join(round_.unread)[:1500]}. Nothing was stored or "
                         "submitted for the requests those batches hold; materialise the "
                         "partition again to read them")
    texts = list(round_.texts.values())
    usage = {**usage_summary(texts), "model": text_generator.model, "mode": "batch",
             "batch_requests_submitted": round_.submitted,
             "batch_requests_resubmitted": round_.resubmitted,
             "batch_requests_given_up": round_.given_up,
             "batches_created": round_.batches_created,
             "batch_problems": len(round_.problems)}
    if round_.waiting:
        context.log.info(
            f"{asset}: {len(round_.waiting)} partition(s) wait for their batches "
            f"({round_.submitted} requests submitted in {round_.batches_created} batch(es) now); "
            "the batch sensor collects each once its batches have ended")
    return JournaledAnswers(round_.texts, usage, 0, journals, asset, ledger, round_.waiting,
                            cache)


def waiting_observations(asset: str, waiting: dict[Partition, list[dict]], usage: dict,
                         ledger: BatchLedger):
    """What a batch-mode run leaves waiting, shown in the UI as each partition's observation:
    its batches, their status and requests. Nothing is materialised."""
    for date, theme in sorted(waiting):
        table = ledger.partition_batches(asset, (date, theme))
        yield dg.AssetObservation(
            asset_key=asset, partition=f"{date}|{theme}",
            metadata={"waiting_for_batches": len(table),
                      "batches": dg.MetadataValue.md(pd.DataFrame(table).to_markdown(index=False)),
                      **{f"usage_{k}": v for k, v in usage.items()}})


def unreachable_failure(unreachable: dict[Partition, str], stored: int) -> dg.Failure:
    """The run's failure for the partitions whose every call failed; the others were stored."""
    listed = "; ".join(f"{date}|{theme}: {reason}" for (date, theme), reason in unreachable.items())
    return dg.Failure(f"every call failed for {len(unreachable)} partition(s), whose stored rows "
                      f"are kept as they were ({listed[:1500]}); {stored} other partition(s) "
                      "were stored")
