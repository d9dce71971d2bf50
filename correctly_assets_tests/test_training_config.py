"""The training settings are declared once (training/config.py) and read alike by the CLI
(HfArgumentParser) and the fine_tuned_model asset's run config."""

import dataclasses

import pytest

from correctly_assets.defs.model.fine_tuned_model import FineTuneConfig, fine_tuned_model
from correctly_assets.training.__main__ import build_parser
from correctly_assets.training.config import TrainingConfig, TrainingSettings

pytestmark = pytest.mark.unit


def test_asset_config_has_every_setting_with_its_default_and_help():
    settings = {f.name: f for f in dataclasses.fields(TrainingSettings)}
    assert set(FineTuneConfig.model_fields) == set(settings)
    for name, model_field in FineTuneConfig.model_fields.items():
        assert model_field.default == settings[name].default, name
        assert model_field.description == settings[name].metadata.get("help"), name
    # and the UI shows them: the asset's config schema has the same fields
    schema_fields = fine_tuned_model.op.config_schema.as_field().config_type.fields
    assert set(schema_fields) == set(settings)


def test_cli_reads_the_same_fields_with_dashes_or_underscores():
    [config] = build_parser().parse_args_into_dataclasses(args=[
        "--train-file", "t.jsonl", "--output_dir", "out", "--use-lora", "--lora-r", "4",
        "--gradient-accumulation-steps", "2", "--bf16", "false", "--seed", "7"])
    assert isinstance(config, TrainingConfig)
    assert (config.use_lora, config.lora_r, config.gradient_accumulation_steps,
            config.bf16, config.seed) == (True, 4, 2, False, 7)
    cli_fields = {action.dest for action in build_parser()._actions} - {"help"}
    assert cli_fields == {f.name for f in dataclasses.fields(TrainingConfig)}


def test_asset_config_becomes_a_training_config_that_validates_it():
    config = FineTuneConfig(lora_r=0)
    with pytest.raises(ValueError, match="lora_r must be positive, got 0"):
        TrainingConfig(train_file="t.jsonl", output_dir="out", **config.model_dump())
