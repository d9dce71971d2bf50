"""The main job on embedded defaults: the whole graph for one date, every theme.

    python -m correctly_assets.cli.demo --date 2026-11-23 [--jfleg-limit 100] [--data-only]

The data assets for every theme, then the tiny model trained on them (CPU), evaluated and
registered in MLflow. Runs are recorded in the Dagster instance under $DAGSTER_HOME, so
`make dev` shows them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import unicodedata

import dagster as dg

from ..definitions import build_resources, data_assets, model_assets
from ..settings import dagster_home, redacted, tracking_uri

PARTITIONED = ["prompt_examples", "generated_texts", "train_split"]
MODEL = ["fine_tuned_model", "model_evaluation", "registered_model"]
ALL_ASSETS = [*data_assets, *model_assets]
# Step-by-step events stay in the instance (make dev shows them); the console gets warnings.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _rows(result: dg.ExecuteInJobResult, asset: str) -> int:
    [materialization] = result.asset_materializations_for_node(asset)
    return materialization.metadata["rows"].value


def run_data(date: str, instance: dg.DagsterInstance, resources) -> dict[str, dict[str, int]]:
    """Rows written per theme and asset; raises if any run fails."""
    head = dg.materialize(
        ALL_ASSETS, selection=["raw_sheet", "yaml_spec"], instance=instance,
        resources=resources, run_config=QUIET,
    )
    report = {"*": {asset: _rows(head, asset) for asset in ("raw_sheet", "yaml_spec")}}
    for theme in instance.get_dynamic_partitions("theme"):
        result = dg.materialize(
            ALL_ASSETS, selection=PARTITIONED, partition_key=f"{date}|{theme}",
            instance=instance, resources=resources, run_config=QUIET,
        )
        report[theme] = {asset: _rows(result, asset) for asset in PARTITIONED}
    return report


def run_model(date: str, instance: dg.DagsterInstance, resources, jfleg_limit: int) -> dict:
    """The model trained on every theme's split up to `date`, evaluated and registered:
    the evaluation figures and the registry outcome."""
    result = dg.materialize(
        ALL_ASSETS, selection=MODEL, partition_key=date, instance=instance, resources=resources,
        run_config={**QUIET, "ops": {"model_evaluation": {"config": {"jfleg_limit": jfleg_limit}}}},
    )
    return {"model": result.output_for_node("fine_tuned_model"),
            "evaluation": result.output_for_node("model_evaluation"),
            "registered": result.output_for_node("registered_model")}


def _print_model(outcome: dict) -> None:
    evaluation, registered = outcome["evaluation"], outcome["registered"]
    print("\nModel:")
    print(f"  fine_tuned_model: {outcome['model']['model_dir']}  "
          f"(MLflow run {outcome['model']['mlflow_run_id']})")
    print(f"  {'model_evaluation':<18}{'model':>8}{'copy source':>13}")
    for split in ("validation", "jfleg"):
        if f"{split}_gleu" in evaluation:
            print(f"  {split + ' GLEU':<18}{evaluation[f'{split}_gleu']:>8.2f}"
                  f"{evaluation[f'{split}_gleu_copy']:>13.2f}")
    print(f"  validation replies: {evaluation['validation_parse_rate']:.0%} parsed, "
          f"{evaluation['validation_cut_off_rate']:.0%} cut off, "
          f"{evaluation['validation_fallback_rate']:.0%} fell back to the learner's text")
    state = ("promoted to alias production" if registered["promoted"]
             else "alias candidate; not promoted (see the promotion_gate check)")
    print(f"  registered_model: {registered['name']} version {registered['version']}, {state}")


def display_width(text: str) -> int:
    """Columns a terminal gives `text`: two for each wide character (Hangul, CJK)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", default=dt.date.today().isoformat(), help="partition date")
    parser.add_argument("--jfleg-limit", type=int, default=100,
                        help="JFLEG dev sentences to evaluate on (0: all 754)")
    parser.add_argument("--data-only", action="store_true", help="stop after train_split")
    args = parser.parse_args()
    instance = dg.DagsterInstance.get()
    resources = build_resources()
    report = run_data(args.date, instance, resources)
    print(f"\nMaterialised for {args.date}:")
    print(f"  raw_sheet: {report['*']['raw_sheet']} workbook rows; yaml_spec: {report['*']['yaml_spec']} theme specs")
    themes = [theme for theme in report if theme != "*"]
    width = max([14, *(display_width(theme) + 2 for theme in themes)])
    print(f"  {_pad('theme', width)}{'prompt_examples':>17}{'generated_texts':>17}{'train_split':>13}")
    for theme in themes:
        print(f"  {_pad(theme, width)}" + "".join(
            f"{report[theme][a]:>{w}}" for a, w in zip(PARTITIONED, (17, 17, 13))))
    if not args.data_only:
        _print_model(run_model(args.date, instance, resources, args.jfleg_limit))
    # Resources built from EnvVar fields only read the environment once initialised.
    artifacts, store = (resources[key].process_config_and_initialize()
                        for key in ("artifacts", "store"))
    print("\nResults:")
    print(f"  artifacts (YAML specs, JSONL, checkpoints, plots): {artifacts.path()}")
    print(f"  correction store: {store.describe()}")
    print(f"  MLflow: {redacted(tracking_uri())}")
    print(f"  Dagster instance: {dagster_home()}  (browse with: make dev)")


if __name__ == "__main__":
    main()
