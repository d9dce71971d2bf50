"""The production form, for real: docker/compose.yaml on a Docker engine (`make test-deploy`).

The images are built (with local stand-ins for the public base images where Docker Hub is out
of reach), the deployment is brought up, and then it is driven only as a user drives it: the
webserver's GraphQL, the MLflow server's REST API and the serving API, all on 127.0.0.1. Runs
are launched by the daemon, each in its own container (DockerRunLauncher). What was written is
read back from the deployment's own Postgres. Every figure is printed.

Not part of `make test`: it needs a Docker engine and builds images (minutes).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from dagster_graphql import DagsterGraphQLClient

from correctly_assets.cli.backfill import DagsterGraphQL
from correctly_assets.testing.local_dagster import free_port

pytestmark = pytest.mark.deploy

REPO = Path(__file__).resolve().parents[1]
JFLEG = REPO.parent / "shared" / "benchmarks" / "jfleg-dev"
PROJECT = "correctly"
DAYS = ("2026-06-01", "2026-06-02", "2026-06-03")
FINISHED_RUN = ("SUCCESS", "FAILURE", "CANCELED")
TABLES = ("prompt_example", "generated_text", "train_split")
EXAMPLES_PER_PARTITION = 6  # the sample workbook's examples per theme
DAILY_DATA = ["prompt_examples", "generated_texts", "train_split"]


def figure(name: str, value: float, unit: str = "s") -> None:
    print(f"\nfigure: {name}: {value:.1f} {unit}", flush=True)


def wait_for(predicate, timeout_s: float, what: str, poll_s: float = 2.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")


def sh(*args: str, timeout_s: float = 600, env: dict | None = None, check: bool = True) -> str:
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=timeout_s,
                          env={**os.environ, **(env or {})})
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])} ... exited {done.returncode}:\n"
                           f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


class Deployment:
    def __init__(self, env_file: Path, ports: dict[str, int]):
        self.env_file = env_file
        self.ui = f"http://127.0.0.1:{ports['DAGSTER_UI_PORT']}"
        self.mlflow = f"http://127.0.0.1:{ports['MLFLOW_PORT']}"
        self.serving = f"http://127.0.0.1:{ports['SERVING_PORT']}"
        self.graphql = DagsterGraphQL(self.ui)
        self.client = DagsterGraphQLClient("127.0.0.1", port_number=ports["DAGSTER_UI_PORT"])

    def compose(self, *args: str, timeout_s: float = 600, check: bool = True,
                files: tuple[str, ...] = ("docker/compose.yaml",),
                env_file: Path | None = None) -> str:
        binary = Path(sys.executable).parent / "docker-compose"
        layered = [arg for file in files for arg in ("-f", file)]
        return sh(str(binary), "-p", PROJECT, *layered,
                  "--env-file", str(env_file or self.env_file), *args, timeout_s=timeout_s,
                  check=check)

    def sql(self, query: str) -> list[list[str]]:
        out = self.compose("exec", "-T", "postgres", "psql", "-U", "correctly", "-d", "correctly",
                           "-At", "-F", "|", "-c", query, timeout_s=60)
        return [line.split("|") for line in out.splitlines() if line]

    def rows_by_partition(self) -> dict[tuple[str, str, str], int]:
        counts = {}
        for table in TABLES:
            for date, theme, count in self.sql(
                    f"SELECT date, theme, count(*) FROM {table} GROUP BY date, theme"):
                counts[(table, date, theme)] = int(count)
        return counts

    def run(self, job: str, tags: dict | None = None, run_config: dict | None = None,
            assets: list[str] | None = None, timeout_s: float = 600) -> tuple[str, float]:
        """Launch through the webserver, wait for the daemon's container to finish it; the run
        id and its seconds from launch to the end."""
        started = time.perf_counter()
        run_id = self.client.submit_job_execution(
            job, tags=tags, run_config=run_config,
            asset_selection=[[a] for a in assets] if assets else None)
        status = wait_for(lambda: (s := self.client.get_run_status(run_id).value) in FINISHED_RUN
                          and s, timeout_s, f"run {run_id} of {job}")
        assert status == "SUCCESS", (job, status, self.failure_messages(run_id))
        return run_id, time.perf_counter() - started

    def failure_messages(self, run_id: str) -> list[str]:
        events = self.graphql.execute(_EVENTS, {"id": run_id})["runOrError"]
        return [e["message"] + " " + json.dumps(e.get("error") or {})[:800]
                for e in events["eventConnection"]["events"]
                if e["__typename"] in ("ExecutionStepFailureEvent", "RunFailureEvent",
                                       "EngineEvent")]

    def run_containers(self) -> list[str]:
        return sh("docker", "ps", "-a", "-q", "--filter", "label=dagster/run_id").split()


_EVENTS = """query($id: ID!) { runOrError(runId: $id) { ... on Run { eventConnection {
  events { __typename ... on MessageEvent { message }
    ... on ExecutionStepFailureEvent { error { message } }
    ... on LogsCapturedEvent { fileKey stepKeys } } } } } }"""
_LOGS = """query($key: [String!]!) { capturedLogs(logKey: $key) { stdout stderr } }"""


def _free_ports() -> dict[str, int]:
    return {name: free_port() for name in ("DAGSTER_UI_PORT", "MLFLOW_PORT", "SERVING_PORT")}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.fail("no Docker engine answers: run `make test-deploy`, which starts one")
    # A deployment of the same name on this engine would be replaced: refuse instead.
    existing = sh("docker", "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}")
    volumes = sh("docker", "volume", "ls", "-q", "--filter", "name=correctly-artifacts")
    if existing.strip() or volumes.strip():
        pytest.fail(f"a deployment named {PROJECT!r} exists on this engine; this test would "
                    "replace it. Run it on another engine, or take that one down first.")

    started = time.perf_counter()
    sh("bash", "docker/site.sh", env={"PIP": f"{sys.executable} -m pip"}, timeout_s=600)
    built = sh("bash", "docker/build-images.sh", timeout_s=1800).strip().splitlines()[-1]
    images = dict(item.split("=", 1) for item in built.split())
    figure("image build (base images, mlflow, dagster, user code)", time.perf_counter() - started)

    ports = _free_ports()
    env_file = tmp_path_factory.mktemp("deploy") / ".env"
    settings = {
        "POSTGRES_USER": "correctly", "POSTGRES_PASSWORD": secrets.token_urlsafe(18),
        # Offline: the sample workbook, the offline generator, the tiny model.
        "OPENAI_API_KEY": "", "OPENAI_BASE_URL": "", "CORRECTLY_LLM_MODEL": "",
        "CORRECTLY_BASE_MODEL": "", "HF_TOKEN": "",
        # The promotion gate need not pass for the tiny model: serve the newest version.
        "CORRECTLY_SERVING_ALIAS": "candidate",
        **images, **{name: str(port) for name, port in ports.items()},
    }
    env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    deployment = Deployment(env_file, ports)
    try:
        started = time.perf_counter()
        deployment.compose("up", "-d", "--no-build", "--wait", "--wait-timeout", "300",
                           timeout_s=420)
        figure("compose up, every service healthy", time.perf_counter() - started)
        # JFLEG on the artifacts volume, where CORRECTLY_JFLEG_DIR (compose.yaml) points.
        sh("docker", "run", "--rm", "--network", "none", "-v", "correctly-artifacts:/artifacts",
           "-v", f"{JFLEG}:/jfleg:ro", "correctly-user-code:latest", "sh", "-c",
           "mkdir -p /artifacts/benchmarks && cp -r /jfleg /artifacts/benchmarks/jfleg-dev")
        yield deployment
    finally:
        for service in ("daemon", "user_code", "serving"):
            print(f"\n--- {service} log (tail) ---\n" + deployment.compose(
                "logs", "--tail", "15", service, check=False, timeout_s=60))
        deployment.compose("down", "-v", "--remove-orphans", "--timeout", "20", check=False,
                           timeout_s=300)
        for container in sh("docker", "ps", "-a", "-q", "--filter", "label=dagster/run_id",
                            check=False).split():
            sh("docker", "rm", "-f", container, check=False)


@pytest.fixture(scope="module")
def themes(deployment) -> list[str]:
    _, seconds = deployment.run("workbook_job")
    figure("run latency, workbook_job (launch to end)", seconds)
    names = deployment.graphql.themes()
    assert len(names) >= 5, names
    return names




def _expect_exactly(deployment: Deployment, keys: set[str]) -> None:
    counts = deployment.rows_by_partition()
    written = {f"{date}|{theme}" for (_, date, theme) in counts}
    assert written == keys, (sorted(written - keys), sorted(keys - written))
    for (table, date, theme), count in counts.items():
        assert count == EXAMPLES_PER_PARTITION, (table, date, theme, count)


def test_one_partition_is_written_once_and_replaced_exactly(deployment, themes):
    key = f"2026-05-20|{themes[0]}"
    for attempt in ("first", "again"):
        _, seconds = deployment.run("__ASSET_JOB", tags={"dagster/partition": key},
                                    assets=DAILY_DATA)
        figure(f"run latency, the daily data assets, one partition ({attempt})", seconds)
        _expect_exactly(deployment, {key})


def test_asset_backfill_of_a_subset_survives_a_daemon_restart(deployment, themes):
    """3 of the themes over 3 days plus one more partition: not a rectangle. The daemon is
    restarted while the backfill is still creating runs."""
    keys = [f"{day}|{theme}" for day in DAYS for theme in themes[:3]] + [f"2026-06-04|{themes[4]}"]
    started = time.perf_counter()
    backfill_id = deployment.graphql.launch_backfill(keys, title="deployment test")
    wait_for(lambda: deployment.graphql.backfill(backfill_id)["runs"], 120,
             "the backfill's first run", poll_s=0.5)
    restarted = time.perf_counter()
    deployment.compose("restart", "daemon", timeout_s=120)
    figure("daemon restart", time.perf_counter() - restarted)
    state = deployment.graphql.wait_for_backfill(backfill_id, timeout_s=900)
    figure(f"asset backfill, {len(keys)} partitions in {len(state['runs'])} run(s), "
           "daemon restarted during it", time.perf_counter() - started)
    assert state["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), state
    assert all(r["status"] == "SUCCESS" for r in state["runs"]), state
    _expect_exactly(deployment, {f"2026-05-20|{themes[0]}", *keys})


def test_the_ui_offers_no_job_backfill_that_cannot_work(deployment):
    """A job page's "Launch backfill" of a multi-partitioned job cannot write its selection
    (Dagster 1.13 tags its ranged runs with one partition's keys): the webserver lists no
    such job, only the hidden ones the schedule and sensor target the assets through."""
    [repository] = deployment.graphql.execute(
        "{ repositoriesOrError { ... on RepositoryConnection { nodes { "
        "pipelines { name } partitionSets { pipelineName } } } } }")["repositoriesOrError"]["nodes"]
    assert {p["name"] for p in repository["pipelines"] if not p["name"].startswith("__")} == {
        "workbook_job"}
    assert all(s["pipelineName"].startswith("__") for s in repository["partitionSets"]), repository


def _first_answer(deployment: Deployment, timeout_s: float, what: str, poll_s: float):
    """The serving API's first 200 to a correction, asking until `timeout_s`."""
    def answer():
        try:
            response = httpx.post(deployment.serving + "/v1/corrections",
                                  json={"text": "I go to school yesterday."}, timeout=60)
        except httpx.TransportError:
            return None
        return response if response.status_code == 200 else None

    return wait_for(answer, timeout_s, what, poll_s=poll_s)


def test_model_is_trained_evaluated_registered_and_served(deployment, themes):
    date = DAYS[-1]
    run_config = {"ops": {"fine_tuned_model": {"config": {"max_steps": 20}},
                          "model_evaluation": {"config": {"jfleg_limit": 20}}}}
    run_id, seconds = deployment.run(
        "__ASSET_JOB", tags={"dagster/partition": date}, run_config=run_config,
        assets=["fine_tuned_model", "model_evaluation", "registered_model"], timeout_s=1200)
    figure(f"run latency, model assets for {date} (train, evaluate, register)", seconds)

    # MLflow over its REST API: the run and the registered version, under the alias served.
    api = deployment.mlflow + "/api/2.0/mlflow"
    experiments = httpx.post(f"{api}/experiments/search", json={"max_results": 100},
                             timeout=30).json()["experiments"]
    ids = [e["experiment_id"] for e in experiments]
    runs = httpx.post(f"{api}/runs/search", json={"experiment_ids": ids, "max_results": 100},
                      timeout=30).json()["runs"]
    assert any(r["info"]["status"] == "FINISHED" for r in runs), runs
    # The evaluation read JFLEG from the artifacts volume.
    metrics = {m["key"] for r in runs for m in r["data"].get("metrics", [])}
    assert {"jfleg_gleu", "jfleg_gleu_copy"} <= metrics, sorted(metrics)
    model = httpx.get(f"{api}/registered-models/get", params={"name": "correctly"},
                      timeout=30).json()["registered_model"]
    aliases = {a["alias"]: a["version"] for a in model.get("aliases", [])}
    assert "candidate" in aliases, model

    # The serving service picks the version up (it asks every 15 s) and answers.
    started = time.perf_counter()
    response = _first_answer(deployment, 300, "the serving API's first answer", poll_s=5)
    figure("serving: version registered to first answer", time.perf_counter() - started)
    body = response.json()
    assert body["model"]["version"] == int(aliases["candidate"]), body
    assert isinstance(body["corrected"], str), body


# compose.gpu.yaml's engine serving, with the test server in vLLM's place (no GPU, no image).
ENGINE_FILES = ("docker/compose.yaml", "docker/compose.gpu.yaml",
                "docker/compose.engine-stand-in.yaml")


def test_the_engine_serves_the_alias_behind_the_gateway(deployment, themes):
    """registry alias -> model-sync -> engine -> gateway -> answer, in containers. Needs the
    version the model test registered."""
    api = deployment.mlflow + "/api/2.0/mlflow"
    model = httpx.get(f"{api}/registered-models/get", params={"name": "correctly"},
                      timeout=30).json()["registered_model"]
    version = int({a["alias"]: a["version"] for a in model.get("aliases", [])}["candidate"])
    try:
        started = time.perf_counter()
        synced = deployment.compose("run", "--rm", "--no-deps", "model-sync", files=ENGINE_FILES,
                                    timeout_s=300)
        assert synced.strip().splitlines()[-1] == f"correctly-v{version}", synced
        deployment.compose("up", "-d", "--no-build", "--no-deps", "--wait", "--wait-timeout",
                           "240", "engine", "serving", files=ENGINE_FILES, timeout_s=300)
        body = _first_answer(deployment, 240, "the gateway's first answer from the engine",
                             poll_s=3).json()
        figure("engine serving: model-sync to first answer", time.perf_counter() - started)
        # The stand-in's correction, under the version the alias names.
        assert body["corrected"] == "I went to school yesterday.", body
        assert body["model"]["version"] == version and body["model"]["alias"] == "candidate"
        health = httpx.get(deployment.serving + "/healthz", timeout=30).json()
        assert health["backend"] == "engine", health
        with httpx.stream("POST", deployment.serving + "/v1/corrections/stream",
                          json={"text": "I go home."}, timeout=60) as streamed:
            events = "".join(streamed.iter_text())
        assert events.count("event: piece") > 3 and "event: done" in events, events[-500:]
    finally:
        print("\n--- engine log (tail) ---\n" + deployment.compose(
            "logs", "--tail", "15", "engine", check=False, timeout_s=60, files=ENGINE_FILES))
        deployment.compose("rm", "-sf", "engine", "model-sync", check=False, timeout_s=120,
                           files=ENGINE_FILES)
        deployment.compose("up", "-d", "--no-build", "--no-deps", "serving", check=False,
                           timeout_s=300)
        sh("docker", "volume", "rm", "-f", f"{PROJECT}_models", check=False)


def test_step_logs_are_visible_through_the_webserver(deployment, themes):
    runs = deployment.graphql.execute(
        """{ runsOrError(limit: 1, filter: {statuses: [SUCCESS], pipelineName: "__ASSET_JOB"})
           { ... on Runs { results { runId } } } }""")["runsOrError"]["results"]
    [run] = runs
    events = deployment.graphql.execute(_EVENTS, {"id": run["runId"]})["runOrError"]
    file_keys = {e["fileKey"] for e in events["eventConnection"]["events"]
                 if e["__typename"] == "LogsCapturedEvent"}
    assert file_keys, "the run captured no step logs"
    logs = [deployment.graphql.execute(_LOGS, {"key": [run["runId"], "compute_logs", key]})
            ["capturedLogs"] for key in file_keys]
    assert any((log["stdout"] or "") + (log["stderr"] or "") for log in logs), logs


# The original's sample in the user code image (WORKDIR /opt/correctly), chosen at launch.
ORIGINAL_SAMPLE = {"resources": {"workbook": {"config": {
    "path": "/opt/correctly/correctly_assets/data/original"}}}}


def test_the_original_workbooks_run_both_llm_stages_in_run_containers(deployment, themes):
    """The original's two workbooks: their Korean themes registered by a run container, both
    LLM stages of one Korean partition in another, then the sample workbook back."""
    try:
        deployment.run("workbook_job", run_config=ORIGINAL_SAMPLE)
        korean = deployment.graphql.themes()
        assert sorted(korean) == sorted(["주말에 있었던 일을 일기처럼", "여행 계획을 친구와 상의하듯이",
                                         "건강한 습관을 소개하는 설명문"]), korean
        key = f"2026-05-22|{korean[0]}"
        _, seconds = deployment.run("__ASSET_JOB", tags={"dagster/partition": key},
                                    assets=DAILY_DATA)
        figure("run latency, the daily data assets, one partition of the original's sample", seconds)
        counts = deployment.rows_by_partition()
        # the sample's grid: 24 examples per partition, each the one-shot of one answer
        assert {t: counts.get((t, "2026-05-22", korean[0])) for t in TABLES} == {
            t: 24 for t in TABLES}
        [[written, settings]] = deployment.sql(
            "SELECT count(example), count(DISTINCT (temperature, max_tokens)) FROM prompt_example "
            f"WHERE date = '2026-05-22' AND theme = '{korean[0]}' AND example_rejection IS NULL")
        assert (written, settings) == ("24", "4")
    finally:
        deployment.run("workbook_job")
    assert sorted(deployment.graphql.themes()) == sorted(themes)


LLM_FILES = ("docker/compose.yaml", "docker/compose.llm-stand-in.yaml")
DAGSTER_SERVICES = ("user_code", "webserver", "daemon")


def test_one_partition_in_batch_mode_through_the_run_containers(deployment, themes, tmp_path):
    """CORRECTLY_LLM_MODE=batch against the project's test server on the compose network: a
    run container submits the partition's batch, the daemon's batch sensor sees it end and
    launches the run container that collects it; the key reaches no row."""
    key = secrets.token_urlsafe(24)
    batch_env = tmp_path / ".env"
    batch_env.write_text(deployment.env_file.read_text() + (
        f"OPENAI_API_KEY=sk-{key}\nOPENAI_BASE_URL=http://llm:8001/v1\n"
        "CORRECTLY_LLM_MODEL=gpt-4o-mini\nCORRECTLY_LLM_MODE=batch\n"))
    partition = f"2026-05-24|{themes[2]}"
    date, theme = partition.split("|")
    try:
        deployment.compose("up", "-d", "--no-build", "--wait", "--wait-timeout", "240", "llm",
                           *DAGSTER_SERVICES, files=LLM_FILES, env_file=batch_env, timeout_s=300)
        started = time.perf_counter()
        deployment.run("__ASSET_JOB", tags={"dagster/partition": partition}, assets=DAILY_DATA)
        # Submitted: prompt_examples stored, generated_texts waiting for its batch.
        assert deployment.sql("SELECT count(*) FROM generated_text "
                              f"WHERE date = '{date}' AND theme = '{theme}'") == [["0"]]
        [[batches]] = deployment.sql("SELECT count(*) FROM llm_batch")
        assert batches == "1"
        wait_for(lambda: deployment.sql(
            "SELECT count(*) FROM train_split "
            f"WHERE date = '{date}' AND theme = '{theme}'") == [[str(EXAMPLES_PER_PARTITION)]]
            or None, 300, "the batch sensor's run collecting the partition")
        figure("batch mode: submit to collected, one partition", time.perf_counter() - started)
        rows = deployment.sql("SELECT count(*), count(after_text) FROM generated_text "
                              f"WHERE date = '{date}' AND theme = '{theme}'")
        assert rows == [[str(EXAMPLES_PER_PARTITION)] * 2], rows
        assert deployment.sql("SELECT status, bool_and(r.stored) FROM llm_batch b JOIN "
                              "llm_batch_request r ON r.batch = b.id GROUP BY status") == [
            ["completed", "t"]]
        leaked = deployment.sql(
            "SELECT (SELECT count(*) FROM generated_text WHERE raw_answer || "
            f"coalesce(rejection_reason, '') LIKE '%{key}%') + (SELECT count(*) FROM llm_batch "
            f"WHERE coalesce(error, '') LIKE '%{key}%')")
        assert leaked == [["0"]]
    finally:
        print("\n--- llm log (tail) ---\n" + deployment.compose(
            "logs", "--tail", "15", "llm", check=False, timeout_s=60, files=LLM_FILES))
        deployment.compose("rm", "-sf", "llm", check=False, timeout_s=120, files=LLM_FILES)
        deployment.compose("up", "-d", "--no-build", "--wait", "--wait-timeout", "240",
                           *DAGSTER_SERVICES, check=False, timeout_s=300)


def test_no_run_container_is_left_behind(deployment, themes):
    wait_for(lambda: not deployment.run_containers() or None, 60,
             "every run container removed")
