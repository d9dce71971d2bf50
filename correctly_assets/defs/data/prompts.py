"""prompt_examples: instruction prompts rendered per (date, theme), with an LLM smoke test."""

from typing import Literal

import dagster as dg

from ...domain.models import ThemeSpec
from ...domain.prompts import render_prompts
from ...partitions import data_backfill_policy, partitions_in_run, theme_date_partitions
from ...resources.store import CorrectionStoreResource
from ...resources.text_generator import TextGeneratorResource


class PromptConfig(dg.Config):
    prompts_per_partition: int = 6
    # The answer format the prompts ask for: "ko", the original's Korean sections, or "en".
    language: Literal["ko", "en"] = "ko"


@dg.asset(
    group_name="data",
    partitions_def=theme_date_partitions,
    backfill_policy=data_backfill_policy(),
    kinds={"python", "postgres"},
    check_specs=[dg.AssetCheckSpec("llm_smoke_test", asset="prompt_examples")],
)
def prompt_examples(
    context: dg.AssetExecutionContext,
    config: PromptConfig,
    yaml_spec: dict[str, ThemeSpec],
    store: CorrectionStoreResource,
    text_generator: TextGeneratorResource,
):  # MaterializeResult: asset checks are outputs, so no annotation
    """Each partition's prompts, deterministic for its date and theme, stored in the
    `example` table (downstream assets read them from there)."""
    partitions = partitions_in_run(context)
    missing = sorted({theme for _, theme in partitions} - set(yaml_spec))
    if missing:
        raise dg.Failure(
            f"partitions for theme(s) {', '.join(missing)}: not in the workbook's spec "
            f"(themes: {', '.join(sorted(yaml_spec))}); re-materialise raw_sheet"
        )
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
