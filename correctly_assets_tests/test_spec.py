"""Per-theme specs built from the sample workbook, their YAML and the files written."""

import pytest
import yaml

from correctly_assets.domain.models import ThemeSpec
from correctly_assets.inputs.single.prompts import render_prompts
from correctly_assets.inputs.single.sample import SAMPLE_WORKBOOK_PATH
from correctly_assets.inputs.single.spec import build_theme_specs
from correctly_assets.inputs.spec_files import spec_from_yaml, spec_to_yaml, write_specs
from correctly_assets.inputs.single.workbook import read_workbook

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def specs() -> dict[str, ThemeSpec]:
    return build_theme_specs(read_workbook(SAMPLE_WORKBOOK_PATH))


def test_one_spec_per_theme_holding_only_its_theme(specs):
    assert list(specs) == ["travel", "food", "school_life", "work", "health",
                           "shopping", "hobbies", "family"]
    for name, spec in specs.items():
        assert spec.theme.name == name
        assert len(spec.key_expressions) == 3 and len(spec.examples) == 6
        assert {k.theme for k in spec.key_expressions} == {e.theme for e in spec.examples} == {name}
        assert (len(spec.script_types), len(spec.speakers), len(spec.styles),
                len(spec.instruction_prompts)) == (5, 4, 3, 4)
        assert ThemeSpec.model_validate(spec.model_dump()) == spec


def test_every_spec_renders_prompts(specs):
    for spec in specs.values():
        prompts = render_prompts(spec, "2026-03-14", 6)
        assert len({p.passage for p in prompts}) == 6
        assert all("{" not in p.prompt.split("\n")[0] for p in prompts)


def test_yaml_round_trip_is_exact_and_readable(specs):
    text = spec_to_yaml(specs["food"])
    assert spec_from_yaml(text) == specs["food"]
    assert list(yaml.safe_load(text)) == ["theme", "script_types", "speakers", "styles",
                                          "key_expressions", "instruction_prompts", "examples"]
    assert specs["food"].examples[0].korean in text  # Korean written as itself, not escaped
    assert "\\u" not in text


def test_spec_from_yaml_rejects_what_is_not_a_spec(specs):
    data = yaml.safe_load(spec_to_yaml(specs["travel"]))
    data["examples"] = []
    with pytest.raises(ValueError, match="examples"):
        spec_from_yaml(yaml.safe_dump(data))
    with pytest.raises(ValueError, match="not valid YAML"):
        spec_from_yaml("theme: [unclosed")
    with pytest.raises(ValueError, match="must be a mapping"):
        spec_from_yaml("- just\n- a list\n")


def test_write_specs_writes_one_file_per_theme(specs, tmp_path):
    directory = tmp_path / "yaml_spec"
    paths = write_specs(specs, directory)
    assert paths == [directory / f"{name}.yaml" for name in specs]
    assert sorted(p.name for p in directory.iterdir()) == sorted(f"{name}.yaml" for name in specs)
    for name, path in zip(specs, paths):
        assert spec_from_yaml(path.read_text(encoding="utf-8")) == specs[name]


def test_write_specs_replaces_existing_files(specs, tmp_path):
    (tmp_path / "travel.yaml").write_text("stale")
    write_specs({"travel": specs["travel"]}, tmp_path)
    assert spec_from_yaml((tmp_path / "travel.yaml").read_text(encoding="utf-8")) == specs["travel"]
    assert [p.name for p in tmp_path.iterdir()] == ["travel.yaml"]


def test_write_specs_refuses_a_misfiled_spec(specs, tmp_path):
    with pytest.raises(ValueError, match="is for theme 'food'"):
        write_specs({"travel": specs["food"]}, tmp_path)
    assert list(tmp_path.iterdir()) == []
