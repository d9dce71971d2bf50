"""yaml_spec: one validated YAML spec per theme, what that theme's prompts are built from."""

import dagster as dg
import pandas as pd

from ...inputs.spec_files import remove_stale_specs, write_specs
from ...resources.files import ArtifactStoreResource
from .raw_sheet import checked_specs


@dg.asset(group_name="data", kinds={"yaml"})
def yaml_spec(
    raw_sheet: object,  # an inputs.Input
    artifacts: ArtifactStoreResource,
) -> dg.MaterializeResult[dict]:  # of Spec by theme
    """One validated YAML spec per theme. From the original's workbooks it holds their
    tables and the grid (`grid.yaml` beside them), and the metadata shows what one partition
    of each theme asks of the LLM before any answer."""
    specs, cost = checked_specs(raw_sheet)
    directory = artifacts.path("yaml_spec")
    paths = write_specs(specs, directory)
    removed = remove_stale_specs(specs, directory)
    per_partition = {}
    if cost:
        table = pd.DataFrame([{"theme": name, **c} for name, c in cost.items()])
        per_partition = {
            "grid_per_partition": dg.MetadataValue.md(table.to_markdown(index=False)),
            "grid_combinations_per_partition": max(c["combinations"] for c in cost.values()),
            "max_completion_tokens_per_partition": max(
                c["max_completion_tokens"] for c in cost.values()),
        }
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
