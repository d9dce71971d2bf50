"""Backfill wall time: single-run policy vs. a run per partition, side by side in one run.

Each side starts its own `dagster dev` (webserver, daemon, code server; at most
2 runs at once) on its own fresh database in one embedded PostgreSQL, materialises the
workbook through GraphQL, then backfills prompt_examples -> generated_texts -> train_split
for every theme over the date range through GraphQL, as the UI does, with the offline
generator. The single-run side is the default policy; the other sets
CORRECTLY_BACKFILL_PARTITIONS_PER_RUN=1. Both check one set of rows per partition.

A run per partition costs the same for every partition (a process that imports the
project, loads the embedder and connects to the store), so that side is timed on the
first --per-partition-days days and scaled to the whole range; the printout says so.

    .venv/bin/python benchmarks/backfill.py [--days 90] [--per-partition-days 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import uuid
from pathlib import Path

from dagster_graphql import DagsterGraphQLClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from correctly_assets.cli.backfill import DagsterGraphQL, partition_keys, run_backfill
from correctly_assets.settings import BACKFILL_PARTITIONS_PER_RUN
from correctly_assets.store import CorrectionStore, embedded_database_url

from correctly_assets.testing.local_dagster import dagster_dev

TARGET_SPEED_UP = 10.0
START = dt.date(2026, 1, 1)


def fresh_database(server_url: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:12]}"
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def timed_backfill(workdir: Path, server_url: str, days: int, env: dict[str, str]):
    """(outcome, rows per table, partitions) of one backfill on a fresh `dagster dev`."""
    database_url = fresh_database(server_url)
    env = {"CORRECTLY_DATABASE_URL": database_url,
           "CORRECTLY_ARTIFACTS_DIR": str(workdir / "artifacts"), **env}
    with dagster_dev(workdir / "home", env) as url:
        client = DagsterGraphQLClient("127.0.0.1", port_number=int(url.rsplit(":", 1)[1]))
        run_id = client.submit_job_execution("workbook_job")
        while (status := client.get_run_status(run_id).value) not in ("SUCCESS", "FAILURE"):
            time.sleep(1)
        if status != "SUCCESS":
            raise RuntimeError(f"workbook_job failed; see {workdir / 'home'}")
        graphql = DagsterGraphQL(url)
        end = (START + dt.timedelta(days=days - 1)).isoformat()
        keys = partition_keys(START.isoformat(), end, graphql.themes())
        outcome = run_backfill(graphql, keys, timeout_s=6 * 3600)
    store = CorrectionStore.connect(database_url)
    rows = {t: store.count_rows(t) for t in ("prompt_example", "generated_text", "train_split")}
    store.dispose()
    return outcome, rows, len(keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--per-partition-days", type=int, default=2,
                        help="days the run-per-partition side is timed on, then scaled")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="correctly-backfill-"))
    server_url = embedded_database_url(workdir / "postgres")

    single, single_rows, partitions = timed_backfill(workdir / "single", server_url,
                                                     args.days, {})
    per, per_rows, sample = timed_backfill(workdir / "per_partition", server_url,
                                           args.per_partition_days, {BACKFILL_PARTITIONS_PER_RUN: "1"})
    ok = True
    for name, outcome, rows, count in (("single-run policy", single, single_rows, partitions),
                                       ("run per partition", per, per_rows, sample)):
        exact = set(rows.values()) == {6 * count}
        ok &= outcome.succeeded and exact
        print(f"{name:<20}{count:>5} partitions  {outcome.runs:>4} runs  {outcome.seconds:>8.1f} s  "
              f"{outcome.status}; rows {rows} (one set per partition: {exact})")
    scaled = per.seconds * partitions / sample
    ratio = scaled / single.seconds
    print(f"run per partition scaled from {sample} to {partitions} partitions: {scaled:.0f} s")
    print(f"speed-up of the single-run policy: {ratio:.1f}x (target >= {TARGET_SPEED_UP:.0f}x: "
          f"{'met' if ratio >= TARGET_SPEED_UP else 'NOT met'})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
