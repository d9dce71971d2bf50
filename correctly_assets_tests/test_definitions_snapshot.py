"""The code location's graph as a reviewed text file: a change to an asset's key, deps,
group, kinds, partitions, policies or checks, or to a job, schedule or sensor, fails this
test until definitions.snapshot.txt is rewritten with it, so the change shows in review.

    CORRECTLY_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest correctly_assets_tests/test_definitions_snapshot.py
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

SNAPSHOT = Path(__file__).with_name("definitions.snapshot.txt")


def _partitions(definition) -> str:
    if definition is None:
        return "none"
    # Dagster's own description, on one line: "Daily, starting 2026-01-01 UTC ..."
    return " ".join(str(definition).split())


def render(defs: dg.Definitions) -> str:
    graph = defs.resolve_asset_graph()
    lines = ["# assets"]
    for key in sorted(graph.get_all_asset_keys()):
        node = graph.get(key)
        condition = node.automation_condition
        lines += [
            key.to_user_string(),
            f"  group: {node.group_name}",
            f"  kinds: {', '.join(sorted(node.kinds)) or 'none'}",
            f"  deps: {', '.join(sorted(k.to_user_string() for k in node.parent_keys)) or 'none'}",
            f"  partitions: {_partitions(node.partitions_def)}",
            f"  backfill policy: {node.backfill_policy or 'none'}",
            f"  automation condition: {condition.get_label() or type(condition).__name__ if condition else 'none'}",
            f"  checks: {', '.join(sorted(k.name for k in node.check_keys)) or 'none'}",
        ]
    lines.append("# jobs")
    for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue  # Dagster's implicit asset jobs
        lines += [job.name, f"  assets: {', '.join(sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys))}",
                  f"  partitions: {_partitions(job.partitions_def)}"]
    lines.append("# schedules")
    for schedule in sorted(defs.schedules or [], key=lambda s: s.name):
        lines += [schedule.name, f"  cron: {schedule.cron_schedule} {schedule.execution_timezone}",
                  f"  job: {schedule.job_name}"]
    lines.append("# sensors")
    for sensor in sorted(defs.sensors or [], key=lambda s: s.name):
        lines += [sensor.name, f"  jobs: {', '.join(sorted(j.name for j in sensor.jobs))}",
                  f"  minimum interval: {sensor.minimum_interval_seconds} s"]
    resources = sorted((defs.resources or {}).keys())
    lines += ["# resources", ", ".join(resources), "# executor", defs.executor.name, ""]
    return "\n".join(lines)


def test_definitions_match_the_reviewed_snapshot():
    from correctly_assets.definitions import defs

    rendered = render(defs)
    if os.environ.get("CORRECTLY_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(rendered, encoding="utf-8")
    assert rendered == SNAPSHOT.read_text(encoding="utf-8"), (
        "the definitions changed; review the diff and rewrite the snapshot with "
        "CORRECTLY_UPDATE_SNAPSHOT=1")


@pytest.mark.integration  # runs the dg CLI in a subprocess
def test_dg_cli_loads_the_same_definitions(tmp_path):
    """`dg check defs` passes and `dg list defs` lists what `dagster dev` loads (the
    definitions module above), so `dg dev` and `dagster dev` show the same graph."""
    from correctly_assets.definitions import defs

    dg_cli = str(Path(sys.executable).with_name("dg"))
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    root = Path(__file__).parents[1]
    check = subprocess.run([dg_cli, "check", "defs"], cwd=root, env=env, capture_output=True,
                           text=True, timeout=300)
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]
    assert "All definitions loaded successfully" in check.stdout + check.stderr
    listed = subprocess.run([dg_cli, "list", "defs", "--json"], cwd=root, env=env,
                            capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr[-3000:]
    found = json.loads(listed.stdout)
    graph = defs.resolve_asset_graph()
    assert {a["asset_key"] for a in found["assets"]} == {
        k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {c["key"] for c in found["asset_checks"]} == {
        f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys}
    assert {j["name"] for j in found["jobs"]} == {"workbook_job", "daily_data_job"}
    assert {s["name"] for s in found["schedules"]} == {s.name for s in defs.schedules}
    # dg also lists Dagster's own automation-condition sensor
    assert {s.name for s in defs.sensors} <= {s["name"] for s in found["sensors"]}
