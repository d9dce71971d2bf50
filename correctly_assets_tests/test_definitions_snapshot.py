"""The code location's graph as a reviewed text file: a change to an asset's key, deps,
group, kinds, partitions, policies or checks, or to a job, schedule or sensor, fails this
test until definitions.snapshot.txt is rewritten with it, so the change shows in review.

    CORRECTLY_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest correctly_assets_tests/test_definitions_snapshot.py
"""

import os
from pathlib import Path

import dagster as dg
import pytest

pytestmark = pytest.mark.unit

SNAPSHOT = Path(__file__).with_name("definitions.snapshot.txt")


def _partitions(definition) -> str:
    if definition is None:
        return "none"
    # Dagster's own description, on one line: "Daily, starting 2026-01-01 UTC ..."
    return " ".join(str(definition).split())


def _target(defs: dg.Definitions, job_name: str) -> str:
    """A job by its name; the job Dagster makes for a schedule or sensor that targets
    assets (hidden in the UI) by those assets."""
    if not job_name.startswith("__"):
        return job_name
    job = defs.resolve_job_def(job_name)
    return "assets " + ", ".join(sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys))


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
                  f"  target: {_target(defs, schedule.job_name)}"]
    lines.append("# sensors")
    for sensor in sorted(defs.sensors or [], key=lambda s: s.name):
        targets = sorted(_target(defs, t.job_name) for t in sensor.targets)
        lines += [sensor.name, f"  target: {'; '.join(targets)}",
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
