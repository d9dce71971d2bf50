"""prompt_examples: each (date, theme) partition's prompts.

From this project's workbook: instruction prompts rendered around its hand-written passages,
with an LLM smoke test. From the original's workbooks: its first LLM stage, an example
written for each combination of the grid, then filled into the second stage's prompt.
"""

from typing import Literal

import dagster as dg
import pandas as pd

from ...domain import quality
from ...inputs.original.spec import OriginalThemeSpec, example_requests, one_shot_prompts
from ...inputs.single.prompts import render_prompts
from ..partitions import data_backfill_policy, partitions_in_run, theme_date_partitions
from ...resources.files import ArtifactStoreResource
from ...resources.store import CorrectionStoreResource
from ...resources.text_generator import TextGeneratorResource
from .answering import answer_journaled, unreachable_failure


class PromptConfig(dg.Config):
    # This project's workbook only (the original's grid sets its own batch):
    prompts_per_partition: int = 6
    # The answer format the prompts ask for: "ko", the original's Korean sections, or "en".
    language: Literal["ko", "en"] = "ko"


@dg.asset(
    group_name="data",
    partitions_def=theme_date_partitions,
    backfill_policy=data_backfill_policy(),
    kinds={"python", "openai", "postgres"},
    check_specs=[dg.AssetCheckSpec("llm_smoke_test", asset="prompt_examples")],
)
def prompt_examples(
    context: dg.AssetExecutionContext,
    config: PromptConfig,
    yaml_spec: dict,  # Spec by theme
    store: CorrectionStoreResource,
    text_generator: TextGeneratorResource,
    artifacts: ArtifactStoreResource,
):  # MaterializeResult: asset checks are outputs, so no annotation
    """Each partition's prompts, deterministic for its date and theme, stored in the
    `prompt_example` table (downstream assets read them from there)."""
    partitions = partitions_in_run(context)
    missing = sorted({theme for _, theme in partitions} - set(yaml_spec))
    if missing:
        raise dg.Failure(
            f"partitions for theme(s) {', '.join(missing)}: not in the workbook's spec "
            f"(themes: {', '.join(sorted(yaml_spec))}); re-materialise raw_sheet"
        )
    if any(isinstance(spec, OriginalThemeSpec) for spec in yaml_spec.values()):
        return _written_examples(context, yaml_spec, partitions, store, text_generator, artifacts)
    correction_store = store.get_store()
    first = None
    for date, theme in partitions:
        prompts = render_prompts(yaml_spec[theme], date, config.prompts_per_partition,
                                 config.language)
        correction_store.replace_prompt_examples(date, theme, prompts)
        first = first or prompts[0]

    # Smoke test: the configured model answers one prompt in the parseable format.
    [answer], usage = text_generator.generate(context, [first])
    smoke = dg.AssetCheckResult(
        passed=answer.accepted,
        metadata={"model": usage["model"], "reason": answer.rejection_reason or "parsed"},
    )
    return dg.MaterializeResult(
        metadata={"rows": len(partitions) * config.prompts_per_partition,
                  "partitions": len(partitions),
                  "first_prompt": dg.MetadataValue.md(first.prompt)},
        check_results=[smoke],
    )


def _written_examples(context, specs, partitions, store, text_generator, artifacts):
    """The original's first stage: every partition's grid asked of the model as one batch,
    each answer kept (an unusable one with its reason), stored partition by partition."""
    requests = {(date, theme): example_requests(specs[theme], date) for date, theme in partitions}
    answers = answer_journaled(context, text_generator, artifacts, "prompt_examples", requests)
    correction_store = store.get_store()
    table, unreachable = [], {}
    for (date, theme), batch in requests.items():
        if reason := answers.unreachable(batch):
            unreachable[(date, theme)] = reason
            continue
        texts = [answers.texts[r.prompt_id] for r in batch]
        rows = one_shot_prompts(specs[theme], batch, texts)
        correction_store.replace_prompt_examples(date, theme, rows)
        answers.stored((date, theme))
        table.append({"partition": f"{date}|{theme}", "combinations": len(batch),
                      "examples": sum(t.accepted for t in texts),
                      "rejected": sum(not t.accepted for t in texts),
                      "rows": len(rows),
                      "prompt_tokens": sum(t.prompt_tokens for t in texts),
                      "completion_tokens": sum(t.completion_tokens for t in texts)})
    if unreachable:
        raise unreachable_failure(unreachable, len(table))
    texts = list(answers.texts.values())
    rejected = sum(row["rejected"] for row in table)
    # The first stage is a smoke test of the model too: its answers must parse. Some that
    # do not (cut off by a short length) is a warning; none that do is an error.
    smoke = dg.AssetCheckResult(
        passed=rejected == 0,
        severity=(dg.AssetCheckSeverity.ERROR if rejected == len(texts)
                  else dg.AssetCheckSeverity.WARN),
        metadata={"model": answers.usage.get("model", ""), "rejected": rejected,
                  "rejections": dg.MetadataValue.json(dict(quality.rejection_counts(texts)))})
    first = next((r for batch in requests.values() for r in batch), None)  # as sent
    return dg.MaterializeResult(
        metadata={
            "rows": sum(row["rows"] for row in table),
            "combinations": sum(row["combinations"] for row in table),
            "partitions": len(partitions),
            "examples": sum(row["examples"] for row in table),
            "rejected": rejected,
            "answers_from_journal": answers.from_journal,
            "per_partition": dg.MetadataValue.md(pd.DataFrame(table).to_markdown(index=False)),
            **{f"usage_{k}": v for k, v in answers.usage.items()},
            "first_prompt": dg.MetadataValue.md(first.prompt if first else ""),
        },
        check_results=[smoke],
    )
