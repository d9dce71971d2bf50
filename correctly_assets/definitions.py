"""The one Definitions object of the Correctly code location: everything under defs/,
loaded as a `dg` project (pyproject.toml, [tool.dg]), so `dg dev`, `dg check defs` and
`dagster dev -m correctly_assets.definitions` see the same graph."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from .defs.data import generation, prompts, split, workbook
from .defs.model import dpo, evaluation, preferences, training
from .defs.resources import build_executor, build_resources

__all__ = ["build_executor", "build_resources", "data_assets", "defs", "model_assets"]

# The stages' assets by group, for code that materialises a part of the graph
# (make demo, the tests) with dg.materialize.
data_assets = dg.load_assets_from_modules([workbook, prompts, generation, split])
model_assets = dg.load_assets_from_modules([training, preferences, dpo, evaluation])

defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
