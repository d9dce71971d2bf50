"""Asking the text generator for a run's prompts, journaled per partition.

Shared by the two LLM stages (prompt_examples from the original's workbooks, and
generated_texts): every answer is journaled as it arrives until its partition is stored, so
a retry after a failed store or a crash asks the model only for the prompts without one.
"""

from __future__ import annotations

import dagster as dg

from ...llm.journal import AnswerJournal
from ...llm.generation import is_failed_request
from ...domain.models import GeneratedText, PromptExample
from ...resources.files import ArtifactStoreResource
from ...resources.text_generator import TextGeneratorResource

Partition = tuple[str, str]  # (date, theme)


class JournaledAnswers:
    def __init__(self, texts: dict[str, GeneratedText], usage: dict, from_journal: int,
                 journals: dict[Partition, AnswerJournal]):
        self.texts = texts  # by prompt id, every prompt's
        self.usage = usage  # of the calls made in this run
        self.from_journal = from_journal
        self._journals = journals

    def unreachable(self, prompts: list[PromptExample]) -> str | None:
        """Why no prompt of a partition has an answer, when every call for it failed (the
        model out of reach, the budget spent): then its stored rows are kept, not replaced
        by failures."""
        texts = [self.texts[p.prompt_id] for p in prompts]
        if texts and all(is_failed_request(t) for t in texts):
            return texts[0].rejection_reason
        return None

    def stored(self, partition: Partition) -> None:
        """The partition's rows are in the store: its journal is no longer needed."""
        self._journals[partition].discard()


def answer_journaled(
    context: dg.AssetExecutionContext,
    text_generator: TextGeneratorResource,
    artifacts: ArtifactStoreResource,
    asset: str,
    prompts_by_partition: dict[Partition, list[PromptExample]],
) -> JournaledAnswers:
    journals = {
        (date, theme): AnswerJournal(
            artifacts.path(asset, "journal", date) / f"{theme}.jsonl", text_generator.generator)
        for date, theme in prompts_by_partition}
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
                            len(answered), journals)


def unreachable_failure(unreachable: dict[Partition, str], stored: int) -> dg.Failure:
    """The run's failure for the partitions whose every call failed; the others were stored."""
    listed = "; ".join(f"{date}|{theme}: {reason}" for (date, theme), reason in unreachable.items())
    return dg.Failure(f"every call failed for {len(unreachable)} partition(s), whose stored rows "
                      f"are kept as they were ({listed[:1500]}); {stored} other partition(s) "
                      "were stored")
