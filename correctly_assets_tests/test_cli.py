"""The README's command-line use: `dagster asset materialize` with a partition key."""

import pytest
import shutil
import subprocess
import sys
from pathlib import Path

from correctly_assets.store.correction_store import CorrectionStore

pytestmark = pytest.mark.integration

DAGSTER = str(Path(sys.executable).with_name("dagster"))


def _materialize(env, *args):
    done = subprocess.run(
        [DAGSTER, "asset", "materialize", "-m", "correctly_assets.definitions", *args],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_materialize_one_partition_from_the_cli(cli_env, database_url, tmp_path):
    env, home = cli_env, Path(cli_env["DAGSTER_HOME"])
    _materialize(env, "--select", "raw_sheet,yaml_spec")
    # As in production, where each run has a container of its own and shares only the
    # artifacts volume: nothing the first run left on its own disk is there for the next.
    shutil.rmtree(home / "storage", ignore_errors=True)
    _materialize(env, "--select", "prompt_examples,generated_texts,train_split",
                 "--partition", "2026-01-05|travel")

    store = CorrectionStore.connect(database_url)
    assert store.count_rows("generated_text", date="2026-01-05", theme="travel") == 6
    assert store.count_rows("train_split", date="2026-01-05", theme="travel") == 6
    assert (tmp_path / "artifacts" / "yaml_spec" / "travel.yaml").exists()
    assert (tmp_path / "artifacts" / "train_split" / "2026-01-05" / "travel" / "train.jsonl").exists()
    # prompt_examples' input came from the shared artifacts, where yaml_spec left it
    assert (tmp_path / "artifacts" / "io_manager" / "yaml_spec").exists()


def test_the_original_sample_from_the_cli_on_a_korean_partition(cli_env, database_url, tmp_path):
    from correctly_assets.inputs.original.sample import ORIGINAL_SAMPLE_PATH

    env = {**cli_env, "CORRECTLY_WORKBOOK": str(ORIGINAL_SAMPLE_PATH)}
    theme = "주말에 있었던 일을 일기처럼"
    _materialize(env, "--select", "raw_sheet,yaml_spec")
    _materialize(env, "--select", "prompt_examples,generated_texts,train_split",
                 "--partition", f"2026-01-05|{theme}")

    store = CorrectionStore.connect(database_url)
    # the sample's grid: 24 combinations, each example within its length, so all are used
    examples = store.load_prompt_examples("2026-01-05", theme, with_rejected=True)
    assert len(examples) == 24 and all(e.example_rejection is None for e in examples)
    assert {e.temperature for e in examples} == {0.4, 0.7}
    assert {e.max_tokens for e in examples} == {300, 600}
    assert store.count_rows("generated_text", date="2026-01-05", theme=theme) == 24
    assert store.count_rows("train_split", date="2026-01-05", theme=theme) == 24
    assert (tmp_path / "artifacts" / "yaml_spec" / f"{theme}.yaml").exists()
