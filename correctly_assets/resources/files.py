"""Where inputs are read from and artifacts are written to."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import dagster as dg

from ..settings import artifacts_root

SAMPLE_WORKBOOK = Path(__file__).resolve().parent.parent / "data" / "sample_workbook.xlsx"


class WorkbookResource(dg.ConfigurableResource):
    """The Excel workbook the pipeline starts from (the shipped sample by default), or a
    directory holding the original Correctly's two workbooks and a grid.yaml."""

    path: str = str(SAMPLE_WORKBOOK)


class ArtifactStoreResource(dg.ConfigurableResource):
    """A directory for files people and later steps read: YAML specs, JSONL splits.

    Default: `$DAGSTER_HOME/correctly/artifacts`; in production a shared volume.
    """

    root: Optional[str] = None

    def path(self, *parts: str) -> Path:
        target = artifacts_root(self.root).joinpath(*parts)
        target.mkdir(parents=True, exist_ok=True)
        return target
