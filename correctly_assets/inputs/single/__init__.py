"""This project's one workbook: script types, speakers, styles, themes, key expressions,
instruction prompts and example passages, each on its own sheet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ...domain.models import PromptExample, ThemeSpec, Workbook
from .prompts import render_prompts
from .spec import build_theme_specs
from .workbook import read_workbook, workbook_to_dataframes


@dataclass(frozen=True)
class SingleInput:
    book: Workbook
    layout = "single"

    @classmethod
    def read(cls, path: str | Path) -> SingleInput:
        return cls(read_workbook(path))

    @property
    def theme_names(self) -> list[str]:
        return [theme.name for theme in self.book.themes]

    @property
    def hidden_sheets(self) -> tuple[str, ...]:
        return self.book.hidden_sheets

    @property
    def ignored_sheets(self) -> tuple[str, ...]:
        return self.book.ignored_sheets

    def tables(self) -> dict[str, pd.DataFrame]:
        return workbook_to_dataframes(self.book)

    def reference(self) -> Workbook:
        return self.book

    def specs(self) -> dict[str, ThemeSpec]:
        return build_theme_specs(self.book)

    def costs(self, specs: dict) -> dict[str, dict[str, int]]:
        return {}  # its prompts are rendered, not asked of an LLM


@dataclass(frozen=True)
class RenderedPrompts:
    """Instruction prompts rendered around the theme's passages; no LLM call."""

    spec: ThemeSpec
    count: int
    language: str

    def requests(self, date: str) -> list[PromptExample]:
        return []

    def prompts(self, date: str, requests: list[PromptExample],
                answers: list) -> list[PromptExample]:
        return render_prompts(self.spec, date, self.count, self.language)
