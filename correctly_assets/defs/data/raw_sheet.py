"""raw_sheet: the input (one workbook, or the original's two with their grid), validated,
and its themes registered as partitions."""

import dagster as dg
import pandas as pd

from ...inputs import INPUT_ERRORS, read_input
from ..partitions import theme_partitions
from ...resources.files import WorkbookResource
from ...resources.store import CorrectionStoreResource


def checked_specs(source) -> tuple[dict, dict]:
    """The input's specs and what one partition of each theme costs, or a Failure naming
    the grid key or template at fault."""
    try:
        specs = source.specs()
        return specs, source.costs(specs)
    except INPUT_ERRORS as error:
        raise dg.Failure(str(error)) from None


@dg.asset(group_name="data", kinds={"excel", "postgres"})
def raw_sheet(
    context: dg.AssetExecutionContext,
    workbook: WorkbookResource,
    store: CorrectionStoreResource,
) -> dg.MaterializeResult:  # of an inputs.Input
    """The workbook read and validated; its themes registered as partitions.

    A bad workbook (or grid) fails here with every problem named by file, sheet, row and
    column, before anything is written.
    """
    try:
        source = read_input(workbook.path)
    except INPUT_ERRORS as error:
        raise dg.Failure(str(error)) from None
    themes = source.theme_names
    # Everything yaml_spec builds (the specs, the original's grid and prompts) is checked
    # before the store or the partitions change: a bad grid never leaves half a workbook.
    checked_specs(source)
    store.get_store().replace_reference_data(source.reference())
    known = set(context.instance.get_dynamic_partitions(theme_partitions.name))
    new_themes = [name for name in themes if name not in known]
    if new_themes:
        context.instance.add_dynamic_partitions(theme_partitions.name, new_themes)
    # A theme taken out of the workbook leaves the partitions, so no schedule or backfill
    # asks for it again; the rows it already has stay in the store (docs/inputs.md).
    removed_themes = sorted(known - set(themes))
    for name in removed_themes:
        context.instance.delete_dynamic_partition(theme_partitions.name, name)
    if removed_themes:
        context.log.warning(f"themes no longer in the workbook, removed from the partitions: "
                            f"{', '.join(removed_themes)}")
    hidden = source.hidden_sheets
    if hidden:
        context.log.warning(f"hidden sheets read as data: {', '.join(hidden)}")
    frames = source.tables()
    preview = frames.get("theme", pd.DataFrame({"theme": themes}))
    return dg.MaterializeResult(
        value=source,
        metadata={
            "workbook": dg.MetadataValue.path(workbook.path),
            "layout": source.layout,
            "rows": sum(len(frame) for frame in frames.values()),
            "themes": dg.MetadataValue.json(themes),
            "new_themes": dg.MetadataValue.json(new_themes),
            "removed_themes": dg.MetadataValue.json(removed_themes),
            "hidden_sheets": dg.MetadataValue.json(list(hidden)),
            "ignored_sheets": dg.MetadataValue.json(list(source.ignored_sheets)),
            **{f"rows_{sheet}": len(frame) for sheet, frame in frames.items()},
            "preview_theme": dg.MetadataValue.md(preview.to_markdown(index=False)),
        },
    )
