"""The original Correctly's input: `text_repository.xlsx` and `correction_script.xlsx`, with
`grid.yaml` beside them, read together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ...domain.models import GeneratedText, PromptExample, Theme, Workbook
from .grid import GRID_FILE, GridConfig, read_grid_file
from .spec import OriginalThemeSpec, build_original_specs, example_requests, grid_cost, one_shot_prompts
from .workbooks import OriginalWorkbooks, read_original_workbooks

_NOT_TABLES = ("output_sheets", "ignored_sheets", "hidden_sheets")


@dataclass(frozen=True)
class OriginalInput:
    books: OriginalWorkbooks
    grid: GridConfig
    layout = "original"

    @classmethod
    def read(cls, directory: str | Path) -> OriginalInput:
        books = read_original_workbooks(directory)
        return cls(books, read_grid_file(Path(directory) / GRID_FILE))

    @property
    def theme_names(self) -> list[str]:
        return self.books.theme_names

    @property
    def hidden_sheets(self) -> tuple[str, ...]:
        return self.books.hidden_sheets

    @property
    def ignored_sheets(self) -> tuple[str, ...]:
        return self.books.ignored_sheets

    def tables(self) -> dict[str, pd.DataFrame]:
        return {field: pd.DataFrame([r.model_dump() for r in records])
                for field, records in self.books if field not in _NOT_TABLES}

    def reference(self) -> Workbook:
        """The themes alone: the other tables are in the spec, and the original database's
        own are brought over by the legacy import."""
        return Workbook(script_types=(), speakers=(), styles=(), key_expressions=(),
                        instruction_prompts=(), examples=(),
                        themes=tuple(Theme(name=t, title=t, description="")
                                     for t in self.theme_names))

    def specs(self) -> dict[str, OriginalThemeSpec]:
        return build_original_specs(self.books, self.grid)

    def costs(self, specs: dict) -> dict[str, dict[str, int]]:
        return {name: grid_cost(spec) for name, spec in specs.items()}


@dataclass(frozen=True)
class WrittenExamples:
    """The original's first LLM stage: an example written per combination of the grid,
    then filled into the second stage's prompt as its one-shot."""

    spec: OriginalThemeSpec

    def requests(self, date: str) -> list[PromptExample]:
        return example_requests(self.spec, date)

    def prompts(self, date: str, requests: list[PromptExample],
                answers: list[GeneratedText]) -> list[PromptExample]:
        return one_shot_prompts(self.spec, requests, answers)
