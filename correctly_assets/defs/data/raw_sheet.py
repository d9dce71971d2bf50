"""raw_sheet and yaml_spec: the workbook, validated, and the per-theme YAML spec.

The input is this project's one workbook (a file), or the original Correctly's two with a
grid (a directory); each gives its own kind of spec, and prompt_examples works from either.
"""

from pathlib import Path

import dagster as dg
import pandas as pd

from ...inputs.original.grid import GRID_FILE, GridError, read_grid_file
from ...domain.models import Theme, Workbook
from ...inputs.original.spec import build_original_specs, grid_cost
from ...inputs.original.workbooks import OriginalWorkbooks, read_workbooks
from ...inputs.single.prompts import PromptTooLong
from ...inputs.single.spec import build_theme_specs, remove_stale_specs, write_specs
from ...inputs.single.workbook import workbook_to_dataframes
from ..partitions import theme_partitions
from ...resources.files import ArtifactStoreResource, WorkbookResource
from ...resources.store import CorrectionStoreResource


def _tables(book: Workbook | OriginalWorkbooks) -> dict[str, pd.DataFrame]:
    if isinstance(book, Workbook):
        return workbook_to_dataframes(book)
    return {field: pd.DataFrame([r.model_dump() for r in records])
            for field, records in book
            if field not in ("output_sheets", "ignored_sheets", "hidden_sheets")}


def _reference(book: Workbook | OriginalWorkbooks, themes: list[str]) -> Workbook:
    """What the store's reference tables hold: the workbook, or the original's themes (its
    other tables are in the spec, and its own database's are brought over by the legacy
    import)."""
    if isinstance(book, Workbook):
        return book
    return Workbook(script_types=(), speakers=(), styles=(), key_expressions=(),
                    instruction_prompts=(), examples=(),
                    themes=tuple(Theme(name=t, title=t, description="") for t in themes))


def _specs(book: Workbook | OriginalWorkbooks, path: str) -> dict:
    """The spec of each theme; the original's with the grid beside its workbooks."""
    if isinstance(book, Workbook):
        return build_theme_specs(book)
    try:
        return build_original_specs(book, read_grid_file(Path(path) / GRID_FILE))
    except GridError as error:
        raise dg.Failure(str(error)) from None


def _costs(specs: dict) -> dict:
    """What one partition of each original theme asks of the LLM (its prompts rendered,
    each within MAX_PROMPT_CHARS)."""
    try:
        return {name: grid_cost(spec) for name, spec in specs.items()}
    except PromptTooLong as error:
        raise dg.Failure(str(error)) from None


@dg.asset(group_name="data", kinds={"excel", "postgres"})
def raw_sheet(
    context: dg.AssetExecutionContext,
    workbook: WorkbookResource,
    store: CorrectionStoreResource,
) -> dg.MaterializeResult:  # of Workbook | OriginalWorkbooks (Dagster types no unions)
    """The workbook read and validated; its themes registered as partitions.

    A bad workbook (or grid) fails here with every problem named by file, sheet, row and
    column, before anything is written.
    """
    book = read_workbooks(workbook.path)
    themes = book.theme_names
    # Everything yaml_spec builds (the specs, the original's grid and prompts) is checked
    # before the store or the partitions change: a bad grid never leaves half a workbook.
    specs = _specs(book, workbook.path)
    if isinstance(book, OriginalWorkbooks):
        _costs(specs)
    store.get_store().replace_reference_data(_reference(book, themes))
    known = set(context.instance.get_dynamic_partitions(theme_partitions.name))
    new_themes = [name for name in themes if name not in known]
    if new_themes:
        context.instance.add_dynamic_partitions(theme_partitions.name, new_themes)
    # A theme taken out of the workbook leaves the partitions, so no schedule or backfill
    # asks for it again; the rows it already has stay in the store (README, "The workbook").
    removed_themes = sorted(known - set(themes))
    for name in removed_themes:
        context.instance.delete_dynamic_partition(theme_partitions.name, name)
    if removed_themes:
        context.log.warning(f"themes no longer in the workbook, removed from the partitions: "
                            f"{', '.join(removed_themes)}")
    hidden = book.hidden_sheets
    if hidden:
        context.log.warning(f"hidden sheets read as data: {', '.join(hidden)}")
    frames = _tables(book)
    return dg.MaterializeResult(
        value=book,
        metadata={
            "workbook": dg.MetadataValue.path(workbook.path),
            "layout": "original" if isinstance(book, OriginalWorkbooks) else "single",
            "rows": sum(len(frame) for frame in frames.values()),
            "themes": dg.MetadataValue.json(themes),
            "new_themes": dg.MetadataValue.json(new_themes),
            "removed_themes": dg.MetadataValue.json(removed_themes),
            "hidden_sheets": dg.MetadataValue.json(list(hidden)),
            "ignored_sheets": dg.MetadataValue.json(list(book.ignored_sheets)),
            **{f"rows_{sheet}": len(frame) for sheet, frame in frames.items()},
            "preview_theme": dg.MetadataValue.md(
                pd.DataFrame({"theme": themes}).to_markdown(index=False)
                if isinstance(book, OriginalWorkbooks)
                else frames["theme"].to_markdown(index=False)),
        },
    )


@dg.asset(group_name="data", kinds={"yaml"})
def yaml_spec(
    raw_sheet: object,  # Workbook | OriginalWorkbooks
    workbook: WorkbookResource,
    artifacts: ArtifactStoreResource,
) -> dg.MaterializeResult[dict]:  # of Spec by theme
    """One validated YAML spec per theme: what that theme's prompts are built from. From
    the original's workbooks it holds their tables and the grid (`grid.yaml` beside them),
    and the metadata shows what one partition of each theme asks of the LLM."""
    specs = _specs(raw_sheet, workbook.path)
    cost = {} if isinstance(raw_sheet, Workbook) else _costs(specs)
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
