"""The per-theme YAML spec on disk: everything one theme's prompts are built from, in one file.

A spec is readable and reviewable on its own, and reading it back gives the same
validated ThemeSpec (or, from the original's workbooks, OriginalThemeSpec) the prompt
stage works from.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml
from pydantic import ValidationError

from ..domain.models import ThemeSpec
from .original.spec import OriginalThemeSpec

Spec = ThemeSpec | OriginalThemeSpec


class _SpecDumper(yaml.SafeDumper):
    """Writes text of several lines (the original's prompts) as a literal block, as it reads
    in the workbook; PyYAML quotes it instead where a block cannot hold it exactly."""


_SpecDumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


def spec_to_yaml(spec: Spec) -> str:
    # Korean stays readable, fields keep the model's order and a passage stays on one line.
    return yaml.dump(spec.model_dump(mode="json"), Dumper=_SpecDumper, allow_unicode=True,
                     sort_keys=False, width=1000)


def spec_from_yaml(text: str) -> Spec:
    """The spec a YAML document holds; ValueError when it is not valid YAML or not a spec."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"theme spec is not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise ValueError(f"theme spec must be a mapping, got {type(data).__name__}")
    try:
        return (OriginalThemeSpec if "grid" in data else ThemeSpec).model_validate(data)
    except ValidationError as error:
        raise ValueError(f"theme spec is invalid: {error}") from error


def write_specs(specs: dict[str, Spec], directory: str | Path) -> list[Path]:
    """Write `<theme>.yaml` for each spec; a reader never sees a half-written file."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, spec in specs.items():
        if name != spec.theme.name:
            raise ValueError(f"spec filed under {name!r} is for theme {spec.theme.name!r}")
        target = directory / f"{name}.yaml"
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(spec_to_yaml(spec))
            os.chmod(temporary, 0o644)  # mkstemp makes it private; specs are for people to read
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        paths.append(target)
    return paths


def remove_stale_specs(specs: dict[str, Spec], directory: str | Path) -> list[str]:
    """Delete the spec of every theme no longer in the workbook; the themes removed."""
    stale = sorted(path for path in Path(directory).glob("*.yaml") if path.stem not in specs)
    for path in stale:
        path.unlink(missing_ok=True)
    return [path.stem for path in stale]
