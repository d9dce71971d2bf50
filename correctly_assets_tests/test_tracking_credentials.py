"""A password in MLFLOW_TRACKING_URI (http://user:PASSWORD@host) reaches no MLflow parameter
or tag, no log line, no file: a real MLflow server, the training entry point and the
Dagster resource in processes of their own, and serving given a malformed URI."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from correctly_assets.settings import redacted, without_credentials

from correctly_assets_tests.test_training import _write_chats

PASSWORD = "Pw-7fq2-NOT-FOR-LOGS"
pytestmark = [pytest.mark.integration, pytest.mark.adversarial]


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    """A real MLflow tracking server on loopback, its store and artifacts under tmp_path."""
    port = _port()
    store = tmp_path / "mlflow-server"
    store.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
         "--artifacts-destination", str(store / "artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(240):  # at most 60 s to start
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        else:
            pytest.fail("the MLflow server did not start within 60 s")
        yield port, store
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)


def _files_holding(root: Path, text: str) -> list[str]:
    needle = text.encode()
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_uri_credentials_are_split_off_and_redacted_without_raising(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    assert without_credentials(f"http://me:{PASSWORD}@mlflow:5000/x") == "http://mlflow:5000/x"
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "me"
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == PASSWORD
    assert without_credentials("sqlite:///a/b.db") == "sqlite:///a/b.db"
    # A malformed port made the old helper raise, printing the URI in its traceback.
    assert redacted(f"http://me:{PASSWORD}@mlflow:notaport/") == "http://me:***@mlflow:notaport/"


def test_the_password_reaches_no_param_tag_log_or_file(mlflow_server, tmp_path, monkeypatch):
    port, server_store = mlflow_server
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)  # what serving sets below is undone after
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"http://trainer:{PASSWORD}@127.0.0.1:{port}",
           "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        env.pop(name, None)
    (tmp_path / "dagster_home").mkdir()
    out = tmp_path / "out"
    train = subprocess.run(
        [sys.executable, "-m", "correctly_assets.training",
         "--train-file", str(_write_chats(tmp_path / "train.jsonl", 8)), "--output-dir", str(out),
         "--max-steps", "2", "--logging-steps", "1", "--save-steps", "1"],
        env=env, capture_output=True, text=True, timeout=300)
    assert train.returncode == 0, train.stderr[-3000:]
    assert PASSWORD not in train.stdout + train.stderr

    # dagster-mlflow's resource, from the same environment, in a process of its own.
    script = (
        "import dagster as dg\n"
        "from correctly_assets.resources.tracking import mlflow_resource\n"
        "@dg.asset(required_resource_keys={'mlflow'})\n"
        "def tracked(context):\n"
        "    context.resources.mlflow.log_params({'seen_uri': context.resources.mlflow.get_tracking_uri()})\n"
        "with dg.instance_for_test() as instance:\n"
        "    assert dg.materialize([tracked], instance=instance,\n"
        "                          resources={'mlflow': mlflow_resource()}).success\n")
    dagster = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                             text=True, timeout=300)
    assert dagster.returncode == 0, dagster.stderr[-3000:]
    assert PASSWORD not in dagster.stdout + dagster.stderr

    from mlflow import MlflowClient

    client = MlflowClient(f"http://127.0.0.1:{port}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 2
    for run in runs:
        for value in [*run.data.params.values(), *run.data.tags.values()]:
            assert PASSWORD not in value
    assert any(r.data.params.get("seen_uri") == f"http://127.0.0.1:{port}" for r in runs)
    for root in (server_store, out, tmp_path / "dagster_home"):
        assert _files_holding(root, PASSWORD) == [], root

    # Serving given a URI it cannot use: the error names the URI without the password.
    from correctly_assets.serving import ServingSettings, load_service

    with pytest.raises(Exception) as error:
        load_service(ServingSettings(tracking_uri=f"http://trainer:{PASSWORD}@127.0.0.1:notaport"))
    import traceback

    assert PASSWORD not in "".join(traceback.format_exception(error.value))
