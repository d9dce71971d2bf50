"""The two Dagster instances: the embedded one that `dg` and `dagster dev` use in a clone
(the root dagster.yaml, DAGSTER_HOME unset), and production's (docker/dagster.yaml), which
keeps runs in PostgreSQL. `dg check defs`, `dg list defs`, `dg launch` and `dg dev` run here
as a newcomer types them in a fresh clone."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from correctly_assets.testing.local_dagster import dg_dev

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
DG = str(Path(sys.executable).with_name("dg"))


@pytest.fixture
def clone(tmp_path) -> Path:
    """The repository's files as a fresh clone has them: tracked and new, nothing ignored."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    target = tmp_path / "clone"
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture
def newcomer_env(database_url) -> dict[str, str]:
    """A shell with no DAGSTER_HOME and none of the project's settings, but for the store's
    database (a scratch one on the test session's server, so no second server starts)."""
    env = {k: v for k, v in os.environ.items()
           if k != "DAGSTER_HOME" and not k.startswith(("CORRECTLY_", "MLFLOW_", "OPENAI_"))}
    return {**env, "CORRECTLY_DATABASE_URL": database_url}


def _dg(clone: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([DG, *args], cwd=clone, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_dg_check_and_list_load_the_same_definitions_from_a_clone(clone, newcomer_env):
    """`dg check defs` passes and `dg list defs` lists what `dagster dev -m
    correctly_assets.definitions` loads, so both show the same graph."""
    from correctly_assets.definitions import defs

    check = _dg(clone, newcomer_env, "check", "defs")
    assert "All definitions loaded successfully" in check.stdout + check.stderr
    found = json.loads(_dg(clone, newcomer_env, "list", "defs", "--json").stdout)
    graph = defs.resolve_asset_graph()
    assert {a["asset_key"] for a in found["assets"]} == {
        k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {c["key"] for c in found["asset_checks"]} == {
        f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys}
    assert {j["name"] for j in found["jobs"]} == {j.name for j in defs.jobs}
    assert {s["name"] for s in found["schedules"]} == {s.name for s in defs.schedules}
    # dg also lists Dagster's own automation-condition sensor
    assert {s.name for s in defs.sensors} <= {s["name"] for s in found["sensors"]}


def test_dg_launch_then_dg_dev_share_the_embedded_instance(clone, newcomer_env):
    """`dg launch` keeps its run in the clone's .dagster_home (not a temporary directory
    removed on exit), and `dg dev`, started afterwards, shows it."""
    _dg(clone, newcomer_env, "launch", "--assets", "raw_sheet,yaml_spec")
    assert (clone / ".dagster_home" / "history" / "runs.db").is_file()
    assert (clone / ".dagster_home" / "correctly" / "artifacts" / "yaml_spec").is_dir()
    query = "{ runsOrError { ... on Runs { results { status assetSelection { path } } } } }"
    with dg_dev(clone, newcomer_env) as url:
        runs = httpx.post(f"{url}/graphql", json={"query": query},
                          timeout=30).json()["data"]["runsOrError"]["results"]
    assert [run["status"] for run in runs] == ["SUCCESS"]
    assert {tuple(a["path"]) for a in runs[0]["assetSelection"]} == {("raw_sheet",), ("yaml_spec",)}


def test_production_dagster_yaml_loads_and_stores_runs_in_postgres(
    database_url, tmp_path, monkeypatch
):
    from dagster import AssetKey, AssetMaterialization, DagsterInstance, QueuedRunCoordinator
    from dagster._core.test_utils import create_run_for_test
    from dagster_docker import DockerRunLauncher
    from dagster_postgres import (
        PostgresEventLogStorage,
        PostgresRunStorage,
        PostgresScheduleStorage,
    )

    assert database_url.startswith("postgresql+psycopg2://")
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", database_url)
    shutil.copy(ROOT / "docker" / "dagster.yaml", tmp_path / "dagster.yaml")
    instance = DagsterInstance.from_config(str(tmp_path))
    try:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert isinstance(instance.run_launcher, DockerRunLauncher)  # built without an engine

        run = create_run_for_test(instance, job_name="deployment_check")
        assert instance.get_run_by_id(run.run_id).job_name == "deployment_check"
        instance.report_runless_asset_event(AssetMaterialization("deployment_check"))
        event = instance.get_latest_materialization_event(AssetKey("deployment_check"))
        assert event.asset_materialization.asset_key == AssetKey("deployment_check")
    finally:
        instance.dispose()


