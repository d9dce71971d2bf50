"""prompt_examples: each (date, theme) partition's prompts, made by its input's prompt
stage (inputs.prompt_stage), with a smoke test of the LLM that answers them.

From this project's workbook: instruction prompts rendered around its hand-written passages.
From the original's workbooks: its first LLM stage, an example written for each combination
of the grid, then filled into the second stage's prompt.
"""

from typing import Literal

import dagster as dg
import pandas as pd

from ...domain import quality
from ...inputs import prompt_stage
from ..partitions import data_backfill_policy, partitions_in_run, theme_date_partitions
from ...resources.files import ArtifactStoreResource
from ...resources.store import CorrectionStoreResource
from ...resources.text_generator import TextGeneratorResource
from .answering import answer_journaled, unreachable_failure, waiting_observations


class PromptConfig(dg.Config):
    # This project's workbook only (the original's grid sets its own batch):
    prompts_per_partition: int = 6
    # The answer format the prompts ask for: "ko", the original's Korean sections, or "en".
    language: Literal["ko", "en"] = "ko"


# A multi_asset of one asset with can_subset, as generated_texts: in batch mode a run of
# the original's first stage may end with nothing to materialise yet.
@dg.multi_asset(
    name="prompt_examples",
    specs=[dg.AssetSpec("prompt_examples", group_name="data", deps=["yaml_spec"],
                        kinds={"python", "openai", "postgres"}, skippable=True,
                        description="Each partition's prompts, deterministic for its date and "
                        "theme, stored in the `prompt_example` table (downstream assets read "
                        "them from there). In batch mode, the original's first stage "
                        "materialises once its examples are collected.")],
    ins={"yaml_spec": dg.AssetIn()},
    partitions_def=theme_date_partitions,
    backfill_policy=data_backfill_policy(),
    check_specs=[dg.AssetCheckSpec("llm_smoke_test", asset="prompt_examples")],
    can_subset=True,
)
def prompt_examples(
    context: dg.AssetExecutionContext,
    config: PromptConfig,
    yaml_spec: dict,  # Spec by theme
    store: CorrectionStoreResource,
    text_generator: TextGeneratorResource,
    artifacts: ArtifactStoreResource,
):
    partitions = partitions_in_run(context)
    missing = sorted({theme for _, theme in partitions} - set(yaml_spec))
    if missing:
        raise dg.Failure(
            f"partitions for theme(s) {', '.join(missing)}: not in the workbook's spec "
            f"(themes: {', '.join(sorted(yaml_spec))}); re-materialise raw_sheet"
        )
    stages = {(date, theme): prompt_stage(yaml_spec[theme], config.prompts_per_partition,
                                          config.language) for date, theme in partitions}
    requests = {(date, theme): stage.requests(date) for (date, theme), stage in stages.items()}
    asked = {partition: batch for partition, batch in requests.items() if batch}
    # Every partition's first-stage requests asked of the model as one batch, each answer
    # kept (an unusable one with its reason); rows stored partition by partition.
    correction_store = store.get_store()
    ledger = correction_store.batch_ledger()
    answers = (answer_journaled(context, text_generator, artifacts, "prompt_examples", asked,
                                ledger) if asked else None)
    if answers is not None and answers.waiting:
        yield from waiting_observations("prompt_examples", answers.waiting, answers.usage, ledger)
        return
    table, unreachable, rows_first = [], {}, None
    for (date, theme), batch in requests.items():
        if batch and (reason := answers.unreachable(batch)):
            unreachable[(date, theme)] = reason
            answers.settled((date, theme))
            continue
        texts = [answers.texts[r.prompt_id] for r in batch] if batch else []
        rows = stages[(date, theme)].prompts(date, batch, texts)
        correction_store.replace_prompt_examples(date, theme, rows)
        if batch:
            answers.stored((date, theme))
        rows_first = rows_first or (rows[0] if rows else None)
        table.append({"partition": f"{date}|{theme}", "rows": len(rows),
                      **({"combinations": len(batch),
                          "examples": sum(t.accepted for t in texts),
                          "rejected": sum(not t.accepted for t in texts),
                          "prompt_tokens": sum(t.prompt_tokens for t in texts),
                          "completion_tokens": sum(t.completion_tokens for t in texts),
                          **{"cost_usd": usd for usd in text_generator.cost_by_partition(
                              {(date, theme): texts}).values()}}
                         if batch else {})})
    if unreachable:
        raise unreachable_failure(unreachable, len(table))
    metadata = {"rows": sum(row["rows"] for row in table), "partitions": len(partitions)}
    if answers is None:
        smoke, first = _smoke_test(context, text_generator, rows_first), rows_first
    else:
        smoke, first = _first_stage_check(answers, table), next(iter(asked.values()))[0]
        metadata |= {
            "combinations": sum(row["combinations"] for row in table),
            "examples": sum(row["examples"] for row in table),
            "rejected": sum(row["rejected"] for row in table),
            "answers_from_journal": answers.from_journal,
            **{f"usage_{k}": v for k, v in answers.usage.items()},
            **text_generator.cost(answers.usage),
        }
    yield dg.MaterializeResult(
        asset_key="prompt_examples",
        metadata={**metadata,
                  "per_partition": dg.MetadataValue.md(pd.DataFrame(table).to_markdown(index=False)),
                  "first_prompt": dg.MetadataValue.md(first.prompt if first else "")},
        check_results=[smoke],
    )


def _smoke_test(context, text_generator, prompt) -> dg.AssetCheckResult:
    """Prompts that asked the model nothing yet: it answers one in the parseable format."""
    [answer], usage = text_generator.generate(context, [prompt])
    return dg.AssetCheckResult(
        passed=answer.accepted,
        metadata={"model": usage["model"], "reason": answer.rejection_reason or "parsed"})


def _first_stage_check(answers, table) -> dg.AssetCheckResult:
    """A first stage is a smoke test of the model too: its answers must parse. Some that do
    not (cut off by a short length) is a warning; none that do is an error."""
    texts = list(answers.texts.values())
    rejected = sum(row["rejected"] for row in table)
    return dg.AssetCheckResult(
        passed=rejected == 0,
        severity=(dg.AssetCheckSeverity.ERROR if rejected == len(texts)
                  else dg.AssetCheckSeverity.WARN),
        metadata={"model": answers.usage.get("model", ""), "rejected": rejected,
                  "rejections": dg.MetadataValue.json(dict(quality.rejection_counts(texts)))})
