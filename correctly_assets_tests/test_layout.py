"""The folder layout is the architecture: each package imports only the layers below it,
and everything below `resources/` is plain Python with no Dagster import."""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[1] / "correctly_assets"

# Lowest first. A module may import its own package and any package of a lower layer.
LAYERS = [
    {"domain"},              # the correction rules
    {"settings", "inputs"},  # what the environment says; the two inputs: workbooks, specs, prompt stages
    {"llm"},                 # the LLM client, journal, offline generator, judge
    {"store"},               # PostgreSQL + pgvector
    {"training"},            # SFT and DPO entry points
    {"evaluation"},          # scoring a trained model
    {"serving", "resources"},
    {"defs"},                # the assets, jobs, schedules, sensors
    {"definitions"},         # the one Definitions
    {"cli", "testing"},      # entry points and test servers
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
PLAIN_PYTHON = {name for name, rank in RANK.items() if rank < RANK["resources"]}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import of the package from `path`."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                found.append((node.lineno, ".".join(base + ([node.module] if node.module else []))))
            else:
                found.append((node.lineno, node.module or ""))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _modules():
    return sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


def test_every_package_has_a_layer():
    areas = {_area(".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)) for p in _modules()}
    assert areas - {"__init__"} <= set(RANK), areas - set(RANK)


def test_no_upward_import():
    upward = []
    for path in _modules():
        here = _area(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        for line, module in _imports(path):
            if not module.startswith("correctly_assets.") or here == "__init__":
                continue
            there = _area(module)
            if there != here and RANK[there] >= RANK[here]:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}")
    assert not upward, "\n".join(upward)


def test_below_resources_no_dagster_import():
    found = [f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
             for path in _modules()
             if _area(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)) in PLAIN_PYTHON
             for line, module in _imports(path) if module.split(".")[0].startswith("dagster")]
    assert not found, "\n".join(found)
