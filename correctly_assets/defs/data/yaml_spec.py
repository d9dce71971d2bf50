"""yaml_spec: one validated YAML spec per theme, what that theme's prompts are built from."""

import dagster as dg
import pandas as pd

from ...inputs.spec_files import remove_stale_specs, write_specs
from ...resources.files import ArtifactStoreResource
from ...llm.pricing import cost as priced
from ...resources.text_generator import TextGeneratorResource
from .raw_sheet import checked_specs


def _bound(text_generator: TextGeneratorResource, partition_cost: dict) -> dict:
    """The most one partition can cost with the generator's model, both ways (token bounds,
    inputs/original/spec.grid_cost); nothing when the model has no price."""
    figures = priced(text_generator.model, partition_cost["max_prompt_tokens"],
                     partition_cost["max_completion_tokens"], text_generator.prices)
    if "cost" in figures:
        return {}
    return {"max_usd_synchronous": round(figures["cost_usd_synchronous"], 4),
            "max_usd_batch": round(figures["cost_usd_batch"], 4)}


@dg.asset(group_name="data", kinds={"yaml"})
def yaml_spec(
    raw_sheet: object,  # an inputs.Input
    artifacts: ArtifactStoreResource,
    text_generator: TextGeneratorResource,
) -> dg.MaterializeResult[dict]:  # of Spec by theme
    """One validated YAML spec per theme. From the original's workbooks it holds their
    tables and the grid (`grid.yaml` beside them), and the metadata shows what one partition
    of each theme asks of the LLM before any answer: requests, token bounds, and the most
    it can cost with the text generator's model, synchronously and through the Batch API,
    so a backfill's cost is seen before it is launched."""
    specs, cost = checked_specs(raw_sheet)
    directory = artifacts.path("yaml_spec")
    paths = write_specs(specs, directory)
    removed = remove_stale_specs(specs, directory)
    per_partition = {}
    if cost:
        priced = {name: {**c, **_bound(text_generator, c)} for name, c in cost.items()}
        table = pd.DataFrame([{"theme": name, **c} for name, c in priced.items()])
        per_partition = {
            "grid_per_partition": dg.MetadataValue.md(table.to_markdown(index=False)),
            "grid_combinations_per_partition": max(c["combinations"] for c in cost.values()),
            "max_completion_tokens_per_partition": max(
                c["max_completion_tokens"] for c in cost.values()),
            "llm_model_priced": text_generator.model,
        }
        if all("max_usd_synchronous" in c for c in priced.values()):
            per_partition |= {f"max_usd_{mode}_per_day_of_every_theme": round(
                sum(c[f"max_usd_{mode}"] for c in priced.values()), 4)
                for mode in ("synchronous", "batch")}
    return dg.MaterializeResult(
        value=specs,
        metadata={
            "directory": dg.MetadataValue.path(str(directory)),
            "rows": len(paths),
            "themes": dg.MetadataValue.json(sorted(specs)),
            "removed_specs": dg.MetadataValue.json(removed),
            **per_partition,
        },
    )
