"""The main job on embedded defaults: the whole data graph for one date, every theme.

    python -m correctly_assets.demo --date 2026-11-23

Runs are recorded in the Dagster instance under $DAGSTER_HOME, so `make dev` shows them.
"""

from __future__ import annotations

import argparse
import datetime as dt

import dagster as dg

from .definitions import build_resources, data_assets
from .resources.files import dagster_home

PARTITIONED = ["prompt_examples", "generated_texts", "train_split"]
# Step-by-step events stay in the instance (make dev shows them); the console gets warnings.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _rows(result: dg.ExecuteInJobResult, asset: str) -> int:
    [materialization] = result.asset_materializations_for_node(asset)
    return materialization.metadata["rows"].value


def run_demo(date: str, instance: dg.DagsterInstance) -> dict[str, dict[str, int]]:
    """Rows written per theme and asset; raises if any run fails."""
    resources = build_resources()
    head = dg.materialize(
        data_assets, selection=["raw_sheet", "yaml_spec"], instance=instance,
        resources=resources, run_config=QUIET,
    )
    report = {"*": {asset: _rows(head, asset) for asset in ("raw_sheet", "yaml_spec")}}
    for theme in instance.get_dynamic_partitions("theme"):
        result = dg.materialize(
            data_assets, selection=PARTITIONED, partition_key=f"{date}|{theme}",
            instance=instance, resources=resources, run_config=QUIET,
        )
        report[theme] = {asset: _rows(result, asset) for asset in PARTITIONED}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", default=dt.date.today().isoformat(), help="partition date")
    args = parser.parse_args()
    instance = dg.DagsterInstance.get()
    report = run_demo(args.date, instance)
    resources = build_resources()
    print(f"\nMaterialised for {args.date}:")
    print(f"  raw_sheet: {report['*']['raw_sheet']} workbook rows; yaml_spec: {report['*']['yaml_spec']} theme specs")
    print(f"  {'theme':<14}{'prompt_examples':>17}{'generated_texts':>17}{'train_split':>13}")
    for theme, rows in report.items():
        if theme != "*":
            print(f"  {theme:<14}" + "".join(f"{rows[a]:>{w}}" for a, w in zip(PARTITIONED, (17, 17, 13))))
    print("\nResults:")
    print(f"  artifacts (YAML specs, train/validation JSONL): {resources['artifacts'].path()}")
    print(f"  correction store: {resources['store'].describe()}")
    print(f"  Dagster instance: {dagster_home()}  (browse with: make dev)")


if __name__ == "__main__":
    main()
