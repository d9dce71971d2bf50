"""`dagster dev` for Correctly on loopback, with a DAGSTER_HOME of its own; `dg dev` as a
newcomer types it in a clone, with none.

Used by the UI and backfill tests and by `benchmarks/backfill.py`: the real webserver,
daemon (run queue, backfills, sensors) and code server, as a user runs them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

# Runs are processes that each load torch and the embedder: on a small machine, more than
# a few at once only thrash.
DEFAULT_MAX_CONCURRENT_RUNS = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_instance_config(home: Path, max_concurrent_runs: int) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        f"concurrency:\n  runs:\n    max_concurrent_runs: {max_concurrent_runs}\n"
    )


@contextmanager
def dagster_dev(
    home: Path,
    env: dict[str, str] | None = None,
    max_concurrent_runs: int = DEFAULT_MAX_CONCURRENT_RUNS,
    startup_timeout_s: float = 240.0,
) -> Iterator[str]:
    """The UI's root URL once the webserver answers and the code location has loaded.

    `dagster dev`'s output goes to `home/dagster-dev.log`, which an error here points at.
    """
    write_instance_config(home, max_concurrent_runs)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = home / "dagster-dev.log"
    command = [str(Path(sys.executable).with_name("dagster")), "dev",
               "-m", "correctly_assets.definitions", "-h", "127.0.0.1", "-p", str(port)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, env={**os.environ, "DAGSTER_HOME": str(home), **(env or {})},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        _wait_until_loaded(url, process, startup_timeout_s, log_path)
        yield url
    finally:
        _stop(process)


@contextmanager
def dg_dev(root: Path, env: dict[str, str], startup_timeout_s: float = 240.0) -> Iterator[str]:
    """`dg dev` in the project directory `root`, its environment exactly `env` (no
    DAGSTER_HOME: the root's dagster.yaml configures the instance); the UI's root URL once
    the code location has loaded. Its output goes to `root/dg-dev.log`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = root / "dg-dev.log"
    command = [str(Path(sys.executable).with_name("dg")), "dev", "--host", "127.0.0.1",
               "--port", str(port)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_loaded(url, process, startup_timeout_s, log_path)
        yield url
    finally:
        _stop(process)


def _wait_until_loaded(url: str, process: subprocess.Popen, timeout_s: float,
                       log_path: Path) -> None:
    query = "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus " \
            "locationOrLoadError { __typename } } } } }"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {process.returncode}; see {log_path}")
        try:
            body = httpx.post(f"{url}/graphql", json={"query": query}, timeout=10).json()
            entries = body["data"]["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                errors = [e for e in entries
                          if e["locationOrLoadError"]["__typename"] == "PythonError"]
                if errors:
                    raise RuntimeError(f"the code location failed to load; see {log_path}")
                return
        except (httpx.TransportError, KeyError, TypeError, ValueError):
            pass
        time.sleep(1.0)
    raise TimeoutError(f"dagster dev did not load in {timeout_s:.0f} s; see {log_path}")


def _stop(process: subprocess.Popen) -> None:
    # dagster dev stops its webserver, daemon and code server on SIGINT.
    try:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(30)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
