"""Backfill the data assets over a date range through the Dagster webserver's GraphQL API,
the same call the UI's "Materialize selected" dialog makes, and wait for it.

    python -m correctly_assets.cli.backfill --url http://127.0.0.1:3000 \
        --start 2026-01-01 --end 2026-03-31 [--themes travel food]

Each partition is keyed by its own date, never by "now": a missed day is backfilled by
naming it. Themes default to every theme registered from the workbook.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from dataclasses import dataclass

import httpx

DATA_ASSETS = ("prompt_examples", "generated_texts", "train_split")
FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

_LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}"""

_BACKFILL = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { id status numPartitions runs { id status } }
    ... on Error { message }
  }
}"""

_REPOSITORIES = """{ repositoriesOrError { ... on RepositoryConnection {
  nodes { name location { name } } } } }"""

_THEMES = """
query($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode { partitionKeysByDimension { name partitionKeys } }
  }
}"""


class GraphQLError(RuntimeError):
    pass


class DagsterGraphQL:
    """A thin client for the calls Correctly's operators need."""

    def __init__(self, url: str, timeout_s: float = 60.0):
        self.endpoint = url.rstrip("/") + "/graphql"
        self.timeout_s = timeout_s

    def execute(self, query: str, variables: dict | None = None) -> dict:
        response = httpx.post(self.endpoint, json={"query": query, "variables": variables or {}},
                              timeout=self.timeout_s)
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise GraphQLError("; ".join(e.get("message", str(e)) for e in body["errors"]))
        return body["data"]

    def themes(self) -> list[str]:
        node = self.execute(_THEMES, {"path": ["prompt_examples"]})["assetNodeOrError"]
        dimensions = {d["name"]: d["partitionKeys"] for d in node["partitionKeysByDimension"]}
        return dimensions["theme"]

    def launch_backfill(self, partition_keys: list[str], assets=DATA_ASSETS,
                        title: str | None = None) -> str:
        params = {"assetSelection": [{"path": [a]} for a in assets],
                  "partitionNames": partition_keys, "fromFailure": False}
        if title:
            params["title"] = title
        return self._launched(self.execute(_LAUNCH_BACKFILL, {"params": params}))

    def launch_job_backfill(self, job_name: str, partition_keys: list[str]) -> str:
        """A backfill of a job's partitions, as a job page's "Launch backfill" makes it. Not
        the way to backfill the data assets: Dagster 1.13 tags the ranged runs of a
        multi-partitioned job with one partition's keys, and those runs fail
        (partitions_in_run); use `launch_backfill`."""
        [repository] = self.execute(_REPOSITORIES)["repositoriesOrError"]["nodes"]
        params = {"selector": {"partitionSetName": f"{job_name}_partition_set",
                               "repositorySelector": {
                                   "repositoryName": repository["name"],
                                   "repositoryLocationName": repository["location"]["name"]}},
                  "partitionNames": partition_keys, "fromFailure": False}
        return self._launched(self.execute(_LAUNCH_BACKFILL, {"params": params}))

    @staticmethod
    def _launched(result: dict) -> str:
        result = result["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise GraphQLError(f"backfill not launched: {result['__typename']}: "
                               f"{result.get('message', '')}")
        return result["backfillId"]

    def backfill(self, backfill_id: str) -> dict:
        result = self.execute(_BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]
        if result["__typename"] != "PartitionBackfill":
            raise GraphQLError(f"backfill {backfill_id}: {result.get('message', result)}")
        return result

    def wait_for_backfill(self, backfill_id: str, timeout_s: float = 3600.0,
                          poll_s: float = 2.0) -> dict:
        """The backfill once it has finished (successfully or not) and its runs have ended."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self.backfill(backfill_id)
            runs_done = all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED")
                            for r in state["runs"])
            if state["status"] in FINISHED and runs_done:
                return state
            time.sleep(poll_s)
        raise TimeoutError(f"backfill {backfill_id} not finished after {timeout_s:.0f} s")


@dataclass(frozen=True)
class BackfillOutcome:
    backfill_id: str
    status: str
    partitions: int
    runs: int
    failed_runs: int
    seconds: float

    @property
    def succeeded(self) -> bool:
        return self.status in ("COMPLETED", "COMPLETED_SUCCESS") and self.failed_runs == 0


def partition_keys(start: str, end: str, themes: list[str]) -> list[str]:
    """Every "<date>|<theme>" key from `start` to `end`, both included."""
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    if last < first:
        raise ValueError(f"end {end} is before start {start}")
    if not themes:
        raise ValueError("no themes: materialise raw_sheet first, or name --themes")
    days = [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    return [f"{day}|{theme}" for day in days for theme in themes]


def run_backfill(client: DagsterGraphQL, keys: list[str], timeout_s: float = 3600.0,
                 title: str | None = None) -> BackfillOutcome:
    started = time.perf_counter()
    backfill_id = client.launch_backfill(keys, title=title)
    state = client.wait_for_backfill(backfill_id, timeout_s)
    return BackfillOutcome(
        backfill_id=backfill_id, status=state["status"], partitions=len(keys),
        runs=len(state["runs"]),
        failed_runs=sum(r["status"] != "SUCCESS" for r in state["runs"]),
        seconds=time.perf_counter() - started,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:3000", help="the Dagster UI's URL")
    parser.add_argument("--start", required=True, help="first date, YYYY-MM-DD")
    parser.add_argument("--end", required=True, help="last date, YYYY-MM-DD (included)")
    parser.add_argument("--themes", nargs="*", help="default: every registered theme")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait")
    args = parser.parse_args(argv)
    client = DagsterGraphQL(args.url)
    keys = partition_keys(args.start, args.end, args.themes or client.themes())
    outcome = run_backfill(client, keys, args.timeout,
                           title=f"data assets {args.start}..{args.end}")
    print(f"backfill {outcome.backfill_id}: {outcome.status}; {outcome.partitions} partitions "
          f"in {outcome.runs} run(s), {outcome.failed_runs} failed; {outcome.seconds:.0f} s")
    return 0 if outcome.succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
