"""A backfill in batch mode through `dagster dev` (webserver, daemon, sensors, run queue), with
the daemon restarted while its batches are live, against the local server's Batch API."""

import time
import uuid

import dagster as dg
import pytest
from dagster_graphql import DagsterGraphQLClient
from dagster_openai import OpenAIResource
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from correctly_assets.cli.backfill import FINISHED, DagsterGraphQL
from correctly_assets.definitions import data_assets
from correctly_assets.resources.store import CorrectionStoreResource
from correctly_assets.resources.text_generator import TextGeneratorResource
from correctly_assets.store import CorrectionStore
from correctly_assets.testing.batch_server import BatchFaults
from correctly_assets.testing.local_dagster import dagster_dev
from correctly_assets.testing.local_llm_server import serve_in_thread

pytestmark = pytest.mark.integration

KEY = "sk-backfill-batch-8d2f1a"
TABLES = ("prompt_example", "generated_text", "train_split")


def _wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(2)
    raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")


def _written(store: CorrectionStore) -> dict[tuple[str, str], tuple[int, ...]]:
    with store.engine.connect() as conn:
        counts = {}
        for index, table in enumerate(TABLES):
            for date, theme, count in conn.execute(text(
                    f"SELECT date, theme, count(*) FROM {table} GROUP BY date, theme")):
                row = counts.setdefault(f"{date.isoformat()}|{theme}", [0, 0, 0])
                row[index] = count
    return {key: tuple(row) for key, row in counts.items()}


def _rows(store, key):
    date, theme = key.split("|")
    return sorted((t.prompt_id, t.raw_answer, t.rejection_reason, t.prompt_tokens,
                   t.completion_tokens) for t in store.load_generated_texts(date, theme))


@pytest.fixture
def batch_database(pg_url):
    name = f"batch_{uuid.uuid4().hex}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_a_batch_mode_backfill_survives_a_daemon_restart_and_writes_exactly_its_partitions(
        batch_database, tmp_path, resources, instance):
    store = CorrectionStore.connect(batch_database)
    faults = BatchFaults(complete_after_s=45)
    with serve_in_thread(batch_faults=faults) as server:
        env = {"CORRECTLY_DATABASE_URL": batch_database,
               "CORRECTLY_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
               "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url,
               "CORRECTLY_LLM_MODEL": "gpt-4o-mini", "CORRECTLY_LLM_MODE": "batch"}
        home = tmp_path / "home"
        with dagster_dev(home, env) as url:
            client = DagsterGraphQLClient("127.0.0.1", port_number=int(url.rsplit(":", 1)[1]))
            graphql = DagsterGraphQL(url)
            run_id = client.submit_job_execution("workbook_job")
            _wait_for(lambda: client.get_run_status(run_id).value in ("SUCCESS", "FAILURE"),
                      300, "workbook_job")
            themes = graphql.themes()
            # Not a rectangle: two themes over two days, and a third theme on one day.
            keys = sorted([f"{day}|{theme}" for day in ("2026-06-01", "2026-06-02")
                           for theme in themes[:2]] + [f"2026-06-02|{themes[2]}"])
            backfill = graphql.launch_backfill(keys, title="batch mode")
            # The submitting runs end with every partition's batch live at the server.
            _wait_for(lambda: all(r["status"] in ("SUCCESS", "FAILURE")
                                  for r in graphql.backfill(backfill)["runs"])
                      and graphql.backfill(backfill)["runs"]
                      and server.batches.as_dict()["batches"] >= 1, 300, "the batches submitted")
            submitted = server.batches.as_dict()
            assert submitted["statuses"].keys() <= {"validating", "in_progress"}, submitted
        # The daemon is down while the batches run, then comes back on the same instance.
        with dagster_dev(home, env) as url:
            _wait_for(lambda: {k for k, counts in _written(store).items() if counts[1]} == set(keys)
                      and all(counts == (6, 6, 6) for counts in _written(store).values()),
                      420, "every partition collected")
            # The backfill's own runs only submitted, and succeeded; it launched none again
            # while its partitions waited. Dagster 1.13 ends it COMPLETED_FAILED, counting the
            # partitions its runs left to the sensor as not materialised by it.
            state = DagsterGraphQL(url).backfill(backfill)
            assert state["status"] in FINISHED, state
            assert 0 < len(state["runs"]) <= len(keys), state
            assert all(run["status"] == "SUCCESS" for run in state["runs"]), state
        stats = server.batches.as_dict()
        sync_calls = server.stats.requests
    written = _written(store)
    assert set(written) == set(keys), sorted(set(written) ^ set(keys))
    assert stats["answered_twice"] == 0 and stats["uploads"] == submitted["uploads"], stats
    assert stats["lines_answered"] == 6 * len(keys)
    # The only synchronous calls are prompt_examples' smoke tests, one per run.
    assert sync_calls <= len(keys)
    batch_rows = {key: _rows(store, key) for key in keys}
    assert all(len(rows) == 6 and all(r[2] is None for r in rows) for rows in batch_rows.values())

    # The same partitions answered synchronously store the same rows.
    with serve_in_thread() as server:
        resources["store"] = CorrectionStoreResource(database_url=batch_database)
        instance.add_dynamic_partitions("theme", themes[:3])
        resources["text_generator"] = TextGeneratorResource(
            openai=OpenAIResource(api_key=KEY, base_url=server.base_url), model="gpt-4o-mini")
        for key in keys:
            assert dg.materialize(data_assets, selection=["generated_texts"], partition_key=key,
                                  instance=instance, resources=resources).success
    assert {key: _rows(store, key) for key in keys} == batch_rows
    store.dispose()
