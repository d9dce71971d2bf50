"""The pipeline's two inputs behind one interface.

- `single/`: this project's one workbook (a file): its themes' passages rendered into
  instruction prompts, no LLM call before the answers.
- `original/`: the original Correctly's two workbooks and `grid.yaml` (a directory): a
  first LLM stage writes an example per combination of the grid, and the second stage's
  prompts carry it.

`raw_sheet`, `yaml_spec` and `prompt_examples` see only `Input` and `PromptStage`; this
module is the one place that tells the two apart.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

import pandas as pd

from ..domain.models import PromptExample, ThemeSpec, Workbook
from ..domain.prompt_format import PromptTooLong
from .excel import WorkbookError
from .original import GRID_FILE, OriginalInput, WrittenExamples
from .original.grid import GridError
from .original.spec import OriginalThemeSpec
from .original.workbooks import CORRECTION_SCRIPT, TEXT_REPOSITORY
from .single import RenderedPrompts, SingleInput
from .spec_files import Spec

# What reading an input or building its specs raises, each naming the file, sheet, row and
# column (or the grid key, or the template) at fault.
INPUT_ERRORS = (WorkbookError, GridError, PromptTooLong)


class Input(Protocol):
    layout: str  # "single" or "original", shown in raw_sheet's metadata
    theme_names: list[str]  # the theme partitions, in the input's order
    hidden_sheets: tuple[str, ...]  # read as data, but easy to miss in Excel
    ignored_sheets: tuple[str, ...]  # outside the layout, not read

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table read, for previews and row counts."""

    def reference(self) -> Workbook:
        """What the store's reference tables hold."""

    def specs(self) -> dict[str, Spec]:
        """One spec per theme, every prompt it renders checked (INPUT_ERRORS)."""

    def costs(self, specs: dict[str, Spec]) -> dict[str, dict[str, int]]:
        """What one partition of each theme asks of an LLM before the answers ({} if nothing)."""


class PromptStage(Protocol):
    """How a partition's prompts are made from its theme's spec."""

    def requests(self, date: str) -> list[PromptExample]:
        """What is asked of the LLM first ([] when the prompts need no LLM)."""

    def prompts(self, date: str, requests: list[PromptExample],
                answers: list) -> list[PromptExample]:
        """The partition's rows of the `prompt_example` table, from the requests' answers."""


def read_input(path: str | Path) -> Input:
    """The input at `path`: one workbook of this project's layout (a file), or a directory
    holding the original's two workbooks and its grid."""
    path = Path(path)
    return OriginalInput.read(path) if path.is_dir() else SingleInput.read(path)


def prompt_stage(spec: Spec, prompts_per_partition: int, language: str) -> PromptStage:
    """The prompt stage of a theme's spec. The single workbook's takes the batch size and the
    answer language from the run's config; the original's grid sets its own."""
    if isinstance(spec, OriginalThemeSpec):
        return WrittenExamples(spec)
    assert isinstance(spec, ThemeSpec), type(spec)
    return RenderedPrompts(spec, prompts_per_partition, language)


def input_digest(path: str | Path) -> str | None:
    """A digest of the input's bytes (for a directory, the two workbooks and the grid);
    None when something is missing."""
    path = Path(path)
    files = ([path / TEXT_REPOSITORY, path / CORRECTION_SCRIPT, path / GRID_FILE]
             if path.is_dir() else [path])
    digest = hashlib.sha256()
    for file in files:
        if not file.is_file():
            return None
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()
