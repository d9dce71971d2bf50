"""prompt_examples: instruction prompts rendered per (date, theme), with an LLM smoke test."""

import dagster as dg

from ..domain.models import ThemeSpec
from ..domain.prompts import render_prompts
from ..partitions import partition_date_and_theme, theme_date_partitions
from ..resources.store import CorrectionStoreResource
from ..resources.text_generator import TextGeneratorResource


class PromptConfig(dg.Config):
    prompts_per_partition: int = 6


@dg.asset(
    group_name="data",
    partitions_def=theme_date_partitions,
    kinds={"python", "postgres"},
    check_specs=[dg.AssetCheckSpec("llm_smoke_test", asset="prompt_examples")],
)
def prompt_examples(
    context: dg.AssetExecutionContext,
    config: PromptConfig,
    yaml_spec: dict[str, ThemeSpec],
    store: CorrectionStoreResource,
    text_generator: TextGeneratorResource,
):  # MaterializeResult[list[PromptExample]]: asset checks are outputs, so no annotation
    """The partition's prompts, deterministic for its date and theme."""
    date, theme = partition_date_and_theme(context)
    if theme not in yaml_spec:
        raise dg.Failure(
            f"partition {context.partition_key}: theme {theme!r} is not in the workbook's "
            f"spec (themes: {', '.join(sorted(yaml_spec))}); re-materialise raw_sheet"
        )
    prompts = render_prompts(yaml_spec[theme], date, config.prompts_per_partition)
    store.get_store().replace_prompt_examples(date, theme, prompts)

    # Smoke test: the configured model answers the first prompt in the parseable format.
    [answer], usage = text_generator.generate(context, prompts[:1])
    smoke = dg.AssetCheckResult(
        passed=answer.accepted,
        metadata={"model": usage["model"], "reason": answer.rejection_reason or "parsed"},
    )
    return dg.MaterializeResult(
        value=prompts,
        metadata={"rows": len(prompts), "first_prompt": dg.MetadataValue.md(prompts[0].prompt)},
        check_results=[smoke],
    )
