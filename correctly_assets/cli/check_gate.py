"""Fails when a run failed or one of its asset checks failed: the gate after
`dagster asset materialize` in CI (.github/workflows/ci.yml).

    python -m correctly_assets.cli.check_gate [--run-id ID]   # default: the instance's latest run

`dagster asset materialize` exits 0 when an asset check fails, since the checks do not
block (a failed check is for a person to read, and the run's other partitions are kept).
A gate on a change to the workbook or the prompts wants the opposite: exit 1, and say which
check failed on which partition. Checks of severity WARN are listed but do not fail the gate.
"""

from __future__ import annotations

import argparse
import sys

import dagster as dg


def failed_checks(instance: dg.DagsterInstance, run_id: str) -> tuple[list[str], list[str]]:
    """(failed ERROR checks, failed WARN checks) of the run, as `asset:check [partition]`."""
    errors, warnings = [], []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = record.dagster_event.event_specific_data
        if evaluation.passed:
            continue
        key = evaluation.asset_check_key
        where = f" [{evaluation.partition}]" if getattr(evaluation, "partition", None) else ""
        line = f"{key.asset_key.to_user_string()}:{key.name}{where}"
        severe = evaluation.severity == dg.AssetCheckSeverity.ERROR
        (errors if severe else warnings).append(line)
    return errors, warnings


def gate(instance: dg.DagsterInstance, run_id: str | None = None) -> tuple[int, str]:
    """(exit code, report) for the run, or the latest run."""
    if run_id is None:
        runs = instance.get_runs(limit=1)
        if not runs:
            return 1, "no run in this Dagster instance"
        run = runs[0]
    else:
        run = instance.get_run_by_id(run_id)
        if run is None:
            return 1, f"no run {run_id} in this Dagster instance"
    errors, warnings = failed_checks(instance, run.run_id)
    lines = [f"run {run.run_id} ({run.job_name}): {run.status.value}"]
    lines += [f"  failed check: {c}" for c in errors]
    lines += [f"  warning (does not fail the gate): {c}" for c in warnings]
    ok = run.status == dg.DagsterRunStatus.SUCCESS and not errors
    return (0 if ok else 1), "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-id", help="default: the latest run")
    args = parser.parse_args()
    with dg.DagsterInstance.get() as instance:
        code, report = gate(instance, args.run_id)
    print(report, file=sys.stdout if code == 0 else sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
