"""`make demo`: the main job from a clean DAGSTER_HOME, data and model, as a user runs it."""

import pytest
import subprocess
import sys

from mlflow import MlflowClient

from correctly_assets.store.correction_store import CorrectionStore

pytestmark = pytest.mark.integration

DATE = "2026-06-01"


def test_demo_materialises_the_whole_graph_for_one_date(cli_env, database_url, tmp_path, tracking_uri):
    done = subprocess.run(
        [sys.executable, "-m", "correctly_assets.cli.demo", "--date", DATE, "--jfleg-limit", "8"],
        env=cli_env, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    store = CorrectionStore.connect(database_url)
    themes = store.count_rows("theme")
    assert themes == 8
    assert store.count_rows("generated_text", date=DATE) == 6 * themes
    # Every theme's row in the printed table, with the rows the store holds.
    table = [line.split() for line in done.stdout.splitlines() if line.strip()]
    printed = {cells[0]: cells[1:] for cells in table if len(cells) == 4 and cells[1].isdigit()}
    assert len(printed) == themes
    for theme, (prompts, texts, split) in printed.items():
        assert int(texts) == store.count_rows("generated_text", date=DATE, theme=theme)
        assert int(split) == store.count_rows("train_split", date=DATE, theme=theme)
    store.dispose()

    version = MlflowClient(tracking_uri).get_model_version_by_alias("correctly", "candidate")
    assert version.tags["date"] == DATE
    assert f"registered_model: correctly version {version.version}" in done.stdout
    assert "validation GLEU" in done.stdout and "jfleg GLEU" in done.stdout
    assert "validation replies: " in done.stdout and "fell back to the learner's text" in done.stdout


def test_demo_runs_the_original_sample_end_to_end(cli_env, database_url, tracking_uri):
    from correctly_assets.cli.demo import display_width
    from correctly_assets.inputs.original.sample import ORIGINAL_SAMPLE_PATH

    env = {**cli_env, "CORRECTLY_WORKBOOK": str(ORIGINAL_SAMPLE_PATH)}
    done = subprocess.run(
        [sys.executable, "-m", "correctly_assets.cli.demo", "--date", DATE, "--jfleg-limit", "8"],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    themes = ["주말에 있었던 일을 일기처럼", "여행 계획을 친구와 상의하듯이", "건강한 습관을 소개하는 설명문"]
    store = CorrectionStore.connect(database_url)
    # each theme's row, its counts aligned in the same columns whatever the theme's width
    rows = [line for line in done.stdout.splitlines() if line.strip().startswith(tuple(themes))]
    assert len(rows) == 3
    for line in rows:
        theme, *counts = line.strip().rsplit(maxsplit=3)
        assert counts == [str(store.count_rows(table, date=DATE, theme=theme))
                          for table in ("prompt_example", "generated_text", "train_split")]
        assert counts[0] == "24"
    assert len({display_width(line) for line in rows}) == 1
    store.dispose()
    version = MlflowClient(tracking_uri).get_model_version_by_alias("correctly", "candidate")
    assert version.tags["date"] == DATE

