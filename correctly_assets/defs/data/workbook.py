"""raw_sheet and yaml_spec: the workbook, validated, and the per-theme YAML spec."""

import dagster as dg

from ...domain.models import ThemeSpec, Workbook
from ...domain.spec import build_theme_specs, remove_stale_specs, write_specs
from ...domain.workbook import read_workbook, workbook_to_dataframes
from ...partitions import theme_partitions
from ...resources.files import ArtifactStoreResource, WorkbookResource
from ...resources.store import CorrectionStoreResource


@dg.asset(group_name="data", kinds={"excel", "postgres"})
def raw_sheet(
    context: dg.AssetExecutionContext,
    workbook: WorkbookResource,
    store: CorrectionStoreResource,
) -> dg.MaterializeResult[Workbook]:
    """The workbook read and validated; its themes registered as partitions.

    A bad workbook fails here with every problem named by sheet, row and column, before
    anything is written.
    """
    book = read_workbook(workbook.path)
    store.get_store().replace_reference_data(book)
    known = set(context.instance.get_dynamic_partitions(theme_partitions.name))
    new_themes = [name for name in book.theme_names if name not in known]
    if new_themes:
        context.instance.add_dynamic_partitions(theme_partitions.name, new_themes)
    # A theme taken out of the workbook leaves the partitions, so no schedule or backfill
    # asks for it again; the rows it already has stay in the store (README, "The workbook").
    removed_themes = sorted(known - set(book.theme_names))
    for name in removed_themes:
        context.instance.delete_dynamic_partition(theme_partitions.name, name)
    if removed_themes:
        context.log.warning(f"themes no longer in the workbook, removed from the partitions: "
                            f"{', '.join(removed_themes)}")
    if book.hidden_sheets:
        context.log.warning(f"hidden sheets read as data: {', '.join(book.hidden_sheets)}")
    frames = workbook_to_dataframes(book)
    return dg.MaterializeResult(
        value=book,
        metadata={
            "workbook": dg.MetadataValue.path(workbook.path),
            "rows": sum(len(frame) for frame in frames.values()),
            "themes": dg.MetadataValue.json(book.theme_names),
            "new_themes": dg.MetadataValue.json(new_themes),
            "removed_themes": dg.MetadataValue.json(removed_themes),
            "hidden_sheets": dg.MetadataValue.json(list(book.hidden_sheets)),
            "ignored_sheets": dg.MetadataValue.json(list(book.ignored_sheets)),
            **{f"rows_{sheet}": len(frame) for sheet, frame in frames.items()},
            "preview_theme": dg.MetadataValue.md(frames["theme"].to_markdown(index=False)),
        },
    )


@dg.asset(group_name="data", kinds={"yaml"})
def yaml_spec(
    raw_sheet: Workbook, artifacts: ArtifactStoreResource
) -> dg.MaterializeResult[dict[str, ThemeSpec]]:
    """One validated YAML spec per theme: what that theme's prompts are built from."""
    specs = build_theme_specs(raw_sheet)
    directory = artifacts.path("yaml_spec")
    paths = write_specs(specs, directory)
    removed = remove_stale_specs(specs, directory)
    return dg.MaterializeResult(
        value=specs,
        metadata={
            "directory": dg.MetadataValue.path(str(directory)),
            "rows": len(paths),
            "themes": dg.MetadataValue.json(sorted(specs)),
            "removed_specs": dg.MetadataValue.json(removed),
        },
    )
