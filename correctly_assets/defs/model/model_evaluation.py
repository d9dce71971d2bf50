"""model_evaluation: the candidates scored against the copy baseline and production, on
the validation set and JFLEG."""

import base64
import hashlib
import json
from pathlib import Path
from typing import Optional

import dagster as dg
from mlflow.exceptions import MlflowException

from ..automation_conditions import EVALUATION_FOLLOWS_MODEL
from ...domain.chat_format import learner_text, parse_reply
from ...domain.splitting import VALIDATION
from ...evaluation.corrector import Corrector, reply_rates
from ...evaluation.jfleg import detokenise, load_jfleg, tokenise
from ...evaluation.report import BASELINE, MODEL, evaluate_corrections, plot_loss_curve, plot_per_error_type
from ...evaluation.scoreboard import scoreboard
from ..partitions import daily_partitions
from ...resources.files import ArtifactStoreResource
from ...resources.store import CorrectionStoreResource
from ...resources.tracking import MLFLOW_HOOKS, MlFlow, dagster_run_mlflow_id
from ...settings import JFLEG_DIR, env


class EvaluationConfig(dg.Config):
    jfleg_dir: Optional[str] = None  # default: $CORRECTLY_JFLEG_DIR or ../shared/benchmarks/jfleg-dev
    jfleg_limit: int = 0  # evaluate the first N JFLEG sentences; 0: all 754
    # Tokens a reply may run to; 0: each model's own budget, its longest trained answer with
    # a 25% margin (evaluation/corrector.py). A reply cut off at it is counted.
    max_new_tokens: int = 0
    # The registry model whose `production` version is scored on the same validation set in
    # the same run, so the promotion gate compares like with like; registered_model's
    # model_name must agree.
    registry_model_name: str = "correctly"


def _image_md(path: Path) -> str:
    return f"![{path.stem}](data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()})"


def _set_digest(sources: list[str], references: list[list[str]]) -> str:
    """Which evaluation set this is: equal digests, equal sets."""
    return hashlib.sha256(json.dumps([sources, references], ensure_ascii=False).encode()).hexdigest()


def _production_version(mlflow: MlFlow, name: str):
    """The registry version under alias `production`, or None."""
    try:
        return mlflow.tracking_client.get_model_version_by_alias(name, "production")
    except MlflowException:
        return None


def _summary(name: str, report: dict) -> dict[str, float]:
    return {
        f"{name}_gleu": report["gleu"][MODEL], f"{name}_gleu_copy": report["gleu"][BASELINE],
        f"{name}_exact_match": report["exact_match"][MODEL],
        f"{name}_exact_match_copy": report["exact_match"][BASELINE],
        f"{name}_f0_5": report["edits"][MODEL]["overall"]["f0_5"],
        f"{name}_f0_5_copy": report["edits"][BASELINE]["overall"]["f0_5"],
        **{f"{name}_{rate}": value for rate, value in report["replies"].items()},
    }


def _summaries(reports: dict, prefix: str = "") -> dict[str, float]:
    return {key: value for name, report in reports.items()
            for key, value in _summary(prefix + name, report).items()}


def _rounded(figures: dict[str, float]) -> dict[str, float]:
    """Figures as the page shows them (MLflow keeps them whole)."""
    return {key: round(value, 4) for key, value in figures.items()}


def _dpo_candidate(context: dg.AssetExecutionContext, date: str, fine_tuned_model: dict):
    """dpo_model's latest model for this date, when it was trained from this
    fine_tuned_model and is still on disk; None otherwise (said in the log)."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("dpo_model"), asset_partitions=[date]),
        limit=1).records
    if not records:
        return None
    metadata = records[0].asset_materialization.metadata
    started_from = metadata["fine_tuned_run_id"].value
    if started_from != fine_tuned_model["mlflow_run_id"]:
        context.log.warning(f"dpo_model for {date} was trained from fine-tuning run {started_from}, "
                            f"not the current {fine_tuned_model['mlflow_run_id']}: not scored; "
                            "materialise dpo_model again")
        return None
    model_dir = metadata["model_dir"].value
    if not (Path(model_dir) / "config.json").is_file():
        context.log.warning(f"dpo_model for {date}: no model at {model_dir}; not scored")
        return None
    return {"model_dir": model_dir, "mlflow_run_id": metadata["mlflow_run_id"].value, "date": date}


def _score(corrector: Corrector, sources, references, jfleg, config: EvaluationConfig) -> dict:
    """The model's reports on the validation set and, when given, JFLEG: the scores, and
    what its replies came to (parsed, cut off, fallen back to the learner's text)."""
    corrections = corrector.corrections(sources)
    reports = {"validation": {
        **evaluate_corrections(sources, [c.corrected for c in corrections], references),
        "replies": reply_rates(corrections)}}
    if jfleg is not None:
        jfleg_sources, jfleg_references = jfleg
        limit = config.jfleg_limit or len(jfleg_sources)
        jfleg_sources, jfleg_references = jfleg_sources[:limit], jfleg_references[:limit]
        # The model reads natural text and its answer is tokenised as JFLEG is for scoring.
        corrections = corrector.corrections([detokenise(s) for s in jfleg_sources])
        corrected = tokenise([c.corrected for c in corrections])
        reports["jfleg"] = {
            **evaluate_corrections(jfleg_sources, corrected, jfleg_references, tokenise=False),
            "replies": reply_rates(corrections)}
    return reports


def _corrector(model_dir: str, config: EvaluationConfig) -> Corrector:
    return Corrector(model_dir, max_new_tokens=config.max_new_tokens or None)


def _log_to_run(client, run_id: str, reports: dict, directory: Path) -> tuple[dict, list[Path]]:
    """A model's figures and plots, logged on its training run (which a registry version
    points at); returns the figures and the plots."""
    directory.mkdir(parents=True, exist_ok=True)
    history = client.get_metric_history(run_id, "loss")
    plots = [plot_per_error_type(report, directory / f"{name}_error_types.png")
             for name, report in reports.items()]
    if history:
        plots.append(plot_loss_curve([m.step for m in history], [m.value for m in history],
                                     directory / "loss_curve.png"))
    summary = _summaries(reports)
    (directory / "report.json").write_text(json.dumps(reports, indent=2))
    for key, value in summary.items():
        client.log_metric(run_id, key, value)
    for path in [*plots, directory / "report.json"]:
        client.log_artifact(run_id, str(path), "evaluation")
    return summary, plots


@dg.asset(group_name="model", partitions_def=daily_partitions, kinds={"mlflow"}, hooks=MLFLOW_HOOKS,
          deps=["dpo_model"], automation_condition=EVALUATION_FOLLOWS_MODEL)
def model_evaluation(
    context: dg.AssetExecutionContext,
    config: EvaluationConfig,
    fine_tuned_model: dict,
    store: CorrectionStoreResource,
    artifacts: ArtifactStoreResource,
    mlflow: dg.ResourceParam[MlFlow],
) -> dg.MaterializeResult[dict]:
    """GLEU, exact match and ERRANT edit P/R/F0.5 per error type on the validation split and
    on JFLEG dev (Napoles et al., EACL 2017), each beside the copy-source baseline.

    The fine-tuned model is scored, and the date's dpo_model when one was trained from it,
    on the same sets; the one with the higher validation GLEU (the SFT model on a tie) is
    the candidate registered_model registers."""
    date = context.partition_key
    # JFLEG first: a deployment that configured it and lacks it fails before any work.
    try:
        jfleg = load_jfleg(config.jfleg_dir)
    except FileNotFoundError as err:
        if config.jfleg_dir or env(JFLEG_DIR):
            raise dg.Failure(f"partition {date}: JFLEG was configured but is missing: {err}") from None
        context.log.warning(f"JFLEG not evaluated: {err}")
        jfleg = None
    validation = [e for e in store.get_store().load_train_examples(up_to_date=date)
                  if e.split == VALIDATION]
    if not validation:
        raise dg.Failure(f"partition {date}: no validation rows up to this date")
    sources = [learner_text(e.messages[1]["content"]) for e in validation]
    references = [[parse_reply(e.messages[2]["content"]).corrected] for e in validation]
    evaluation_set = {"name": f"validation up to {date}", "rows": len(sources),
                      "sha256": _set_digest(sources, references)}
    candidates = {"fine_tuned_model": fine_tuned_model}
    dpo = _dpo_candidate(context, date, fine_tuned_model)
    if dpo is not None:
        candidates["dpo_model"] = dpo
    client = mlflow.tracking_client
    directory = artifacts.path("model_evaluation", date)
    scored = {}
    for name, model in candidates.items():
        corrector = _corrector(model["model_dir"], config)
        reports = _score(corrector, sources, references, jfleg, config)
        summary, plots = _log_to_run(client, model["mlflow_run_id"], reports, directory / name)
        client.set_tag(model["mlflow_run_id"], "evaluation_set_sha256", evaluation_set["sha256"])
        context.log.info(f"{name}: {len(sources)} validation texts, replies of at most "
                         f"{corrector.max_new_tokens} tokens")
        scored[name] = (reports, summary, plots)
    # max keeps the first of equals: the SFT model on a tie.
    selected = max(scored, key=lambda name: scored[name][1]["validation_gleu"])
    _, summary, plots = scored[selected]
    board = {(f"{name} (selected)" if name == selected else name): scored[name][0] for name in scored}
    production = _production_version(mlflow, config.registry_model_name)
    production_row = None
    if production is not None:
        production_corrector = Corrector.from_registry(production.source, mlflow.tracking_uri,
                                                       config.max_new_tokens or None)
        production_reports = _score(production_corrector, sources, references, jfleg, config)
        production_row = f"production v{production.version}"
        board[production_row] = production_reports
        summary = {**summary, **_summaries(production_reports, prefix="production_")}
        context.log.info(f"production version {production.version} re-scored on the same "
                         f"{len(sources)} validation rows")
    table = scoreboard(board, production_row)
    (directory / "scoreboard.md").write_text(table + "\n", encoding="utf-8")
    candidate_gleu = {name: scored[name][1]["validation_gleu"] for name in scored}
    compared = {"evaluation_set": evaluation_set, "registry_model_name": config.registry_model_name,
                "production_version": int(production.version) if production else None,
                "model": selected, "candidates_validation_gleu": candidate_gleu}
    mlflow.log_metrics({**summary, **{f"{name}_validation_gleu": v for name, v in candidate_gleu.items()}})
    # The scoreboard beside the figures, on the Dagster run's MLflow run and each model's.
    for run_id in {dagster_run_mlflow_id(mlflow), *(m["mlflow_run_id"] for m in candidates.values())}:
        client.log_artifact(run_id, str(directory / "scoreboard.md"), "evaluation")
    mlflow.set_tags({"evaluation_set_sha256": evaluation_set["sha256"], "selected_model": selected,
                     "production_version_scored": str(compared["production_version"])})
    return dg.MaterializeResult(
        value={**candidates[selected], **summary, **compared},
        metadata={"scoreboard": dg.MetadataValue.md(
                      table + "\n\n" + "\n\n".join(_image_md(p) for p in plots)),
                  **_rounded(summary), "validation_sentences": len(sources), "model": selected,
                  "candidates_validation_gleu": dg.MetadataValue.json(_rounded(candidate_gleu)),
                  "evaluation_set": dg.MetadataValue.json(evaluation_set),
                  "production_version_scored": str(compared["production_version"]),
                  "report": dg.MetadataValue.path(str(directory / selected / "report.json"))},
    )
