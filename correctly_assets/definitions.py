"""The one Definitions object of the Correctly code location: everything under defs/,
loaded as a `dg` project (pyproject.toml, [tool.dg]), so `dg dev`, `dg check defs` and
`dagster dev -m correctly_assets.definitions` see the same graph."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from .defs.resources import build_executor, build_resources

__all__ = ["assets_in", "build_executor", "build_resources", "data_assets", "defs", "model_assets"]

defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)


def assets_in(group: str) -> list[dg.AssetsDefinition]:
    """The assets (with their checks) of one group of `defs`, for code that materialises a
    part of the graph with dg.materialize: make demo and the tests."""
    return [asset for asset in defs.assets or []
            if isinstance(asset, dg.AssetsDefinition)
            and group in asset.group_names_by_key.values()]


data_assets = assets_in("data")
model_assets = assets_in("model")
