"""preference_pairs: a rejected answer for each train row, for preference training (DPO)."""

from collections import Counter

import dagster as dg

from ...domain.chat_format import learner_text
from ...llm.judging import PartitionJudgeRequest, judge_prompt
from ...evaluation.gleu import sentence_gleu
from ...domain.preferences import (
    DEFAULT_MARGIN,
    POLICY_SOURCES,
    SOURCES,
    check_sources,
    chosen_first,
    pair_for,
    pair_report,
)
from ...evaluation.corrector import Corrector
from ..data.answering import waiting_observations
from ..partitions import data_backfill_policy, partitions_in_run, theme_date_partitions
from ...resources.files import ArtifactStoreResource
from ...resources.store import CorrectionStoreResource
from ...resources.text_generator import TextGeneratorResource
from ...training.sft import MODEL_DIR

CHECKS = ("no_identical_pairs", "source_shares", "length_bias")


class PreferencePairsConfig(dg.Config):
    # Where rejected answers come from, tried in this order for each train row (the first
    # that gives one wins): on_policy, llm_judged (both need the date's fine_tuned_model),
    # rule.
    sources: list[str] = list(SOURCES)
    margin: float = DEFAULT_MARGIN  # GLEU points an on_policy reply must lose by
    seed: str = "correctly"  # draws the rules and the judge's order
    # Of the model's replies: a reply it cuts off is not the model's answer, and is not used
    # (a cut-off rejected answer would teach length, not quality). 0: the model's budget,
    # from the longest answer it was trained on (evaluation/corrector.py).
    max_new_tokens: int = 0
    # source_shares fails (a warning) when a listed source gives fewer pairs than this share.
    min_source_share: float = 0.0
    # length_bias fails (a warning) when mean rejected length over mean chosen length is
    # above this or below its inverse: a model could learn length instead of quality.
    max_length_ratio: float = 1.5


# A multi_asset of one asset with can_subset, as the LLM stages: in batch mode a run may
# end with the judge's verdicts still in their batches, and nothing to materialise yet.
@dg.multi_asset(
    name="preference_pairs",
    specs=[dg.AssetSpec(
        "preference_pairs", group_name="model", kinds={"postgres"}, skippable=True,
        deps=["train_split", dg.AssetDep("fine_tuned_model",
                                         partition_mapping=dg.MultiToSingleDimensionPartitionMapping(
                                             partition_dimension_name="date"))],
        description="For each train row, its answer (chosen) and a worse one (rejected), the "
        "source of each recorded. Held-out pairs come from validation rows, so the split's "
        "leak-free grouping holds for pairs too. Stored beside the train rows (the original's "
        "`rejected` column). In batch mode the judge's verdicts come through the Batch API.")],
    partitions_def=theme_date_partitions,
    backfill_policy=data_backfill_policy(),
    check_specs=[dg.AssetCheckSpec(name, asset="preference_pairs") for name in CHECKS],
    can_subset=True,
)
def preference_pairs(
    context: dg.AssetExecutionContext,
    config: PreferencePairsConfig,
    store: CorrectionStoreResource,
    artifacts: ArtifactStoreResource,
    text_generator: TextGeneratorResource,
):
    try:
        check_sources(config.sources)
    except ValueError as err:
        raise dg.Failure(f"preference_pairs config: {err}") from None
    correction_store = store.get_store()
    correctors: dict[str, Corrector] = {}
    prepared, cut_off = {}, 0
    for date, theme in partitions_in_run(context):
        examples = correction_store.load_train_examples(partition=(date, theme))
        if not examples:
            raise dg.Failure(f"partition {date}|{theme}: no train_split rows; "
                             "materialise train_split for it first")
        replies = {}
        if any(s in POLICY_SOURCES for s in config.sources):
            if date not in correctors:
                correctors[date] = _corrector(artifacts, date, theme, config)
            answered = correctors[date].finished_replies(
                [learner_text(e.messages[1]["content"]) for e in examples])
            replies = {e.prompt_id: reply for e, (reply, ended) in zip(examples, answered) if ended}
            cut_off += sum(not ended for _, ended in answered)
        prepared[(date, theme)] = (examples, replies)

    judge_errors, verdicts, judged = Counter(), Counter(), {}
    if "llm_judged" in config.sources:
        asked = {partition: _judge_prompts(examples, replies, config.seed)
                 for partition, (examples, replies) in prepared.items()}
        for _, _, errors in asked.values():
            judge_errors.update(errors)
        ledger = correction_store.batch_ledger()
        if text_generator.mode == "batch" and text_generator.openai is not None:
            requests = {(date, theme): [PartitionJudgeRequest(prompt_id, date, theme, prompt)
                                        for (prompt_id, _), prompt in zip(pending, prompts)]
                        for (date, theme), (pending, prompts, _) in asked.items() if pending}
            round_ = text_generator.judge_in_batches(context, ledger, "preference_pairs", requests,
                                                     artifacts.path("llm_batches"))
            if round_.unread:
                raise dg.Failure(f"preference_pairs: {'; '.join(round_.unread)[:1500]}; "
                                 "materialise the partition again to read them")
            if round_.waiting:
                usage = {"batch_requests_submitted": round_.submitted,
                         "batches_created": round_.batches_created}
                yield from waiting_observations("preference_pairs", round_.waiting, usage, ledger)
                return
            judgements = round_.texts
        else:
            prompts = [prompt for pending, batch, _ in asked.values() for prompt in batch]
            ids = [prompt_id for pending, _, _ in asked.values() for prompt_id, _ in pending]
            judgements = dict(zip(ids, text_generator.judge(context, prompts)))
        for pending, _, _ in asked.values():
            j, errors, counted = _verdicts(pending, judgements)
            judged |= j
            judge_errors.update(errors)
            verdicts.update(counted)

    pairs, rows = [], 0
    for (date, theme), (examples, replies) in prepared.items():
        answers = {t.prompt_id: t.parsed for t in correction_store.load_generated_texts(date, theme)}
        made = [pair_for(e, config.sources, answer=answers.get(e.prompt_id),
                         policy_reply=replies.get(e.prompt_id),
                         judged_worse=judged.get(e.prompt_id), margin=config.margin,
                         seed=config.seed, score=sentence_gleu) for e in examples]
        made = [p for p in made if p is not None]
        correction_store.replace_preference_pairs(date, theme, made)
        if "llm_judged" in config.sources and text_generator.mode == "batch":
            correction_store.batch_ledger().mark_stored("preference_pairs", (date, theme))
        pairs += made
        rows += len(examples)
    if judge_errors:
        context.log.warning(f"{sum(judge_errors.values())} judgement(s) without a verdict: "
                            f"{dict(judge_errors.most_common(3))}")
    if cut_off:
        context.log.warning(f"{cut_off} model replies were cut off at their token limit "
                            f"(max_new_tokens {config.max_new_tokens or 'from the model'}) "
                            "and not used")
    yield _result(pairs, rows, cut_off, verdicts, judge_errors, config)


def _corrector(artifacts: ArtifactStoreResource, date: str, theme: str,
               config: PreferencePairsConfig) -> Corrector:
    model_dir = artifacts.path("fine_tuned_model", date) / MODEL_DIR
    if not (model_dir / "config.json").is_file():
        raise dg.Failure(
            f"partition {date}|{theme}: sources {', '.join(s for s in config.sources if s in POLICY_SOURCES)} "
            f"need the model's replies, and fine_tuned_model has no model for {date} "
            f"({model_dir}); materialise fine_tuned_model for {date} first, or set sources: [rule]")
    return Corrector(model_dir, max_new_tokens=config.max_new_tokens or None)


def _judge_prompts(examples, replies, seed: str):
    """([(prompt id, whether the chosen answer is shown first)], the judge prompts, the
    errors), for the replies that differ from the chosen answer."""
    asked, prompts, errors = [], [], Counter()
    for e in examples:
        chosen, reply = e.messages[2]["content"], replies.get(e.prompt_id)
        if reply is None or reply.strip() == chosen.strip():
            continue
        first = chosen_first(seed, e.prompt_id)
        try:
            prompts.append(judge_prompt(learner_text(e.messages[1]["content"]),
                                        *((chosen, reply) if first else (reply, chosen))))
        except ValueError as err:
            errors[str(err)] += 1
            continue
        asked.append((e.prompt_id, first))
    return asked, prompts, errors


def _verdicts(asked, judgements: dict):
    """({prompt id: whether the judge marked the model's reply worse}, the errors, the
    verdicts as chosen/reply/same)."""
    judged, verdicts, errors = {}, Counter(), Counter()
    for prompt_id, first in asked:
        judgement = judgements[prompt_id]
        if judgement.verdict is None:
            errors[judgement.error] += 1
            continue
        # The verdict names the better correction: the reply is worse when it is the chosen.
        judged[prompt_id] = judgement.verdict == ("A" if first else "B")
        verdicts["same" if judgement.verdict == "SAME" else
                 "reply_worse" if judged[prompt_id] else "chosen_worse"] += 1
    return judged, errors, verdicts


def _result(pairs, rows: int, cut_off: int, verdicts: Counter, judge_errors: Counter,
            config: PreferencePairsConfig) -> dg.MaterializeResult:
    report = pair_report([(p.chosen, p.rejected, p.source) for p in pairs])
    shares = {s: report["source_share"].get(s, 0.0) for s in config.sources}
    ratio = report["length_ratio"]
    low_shares = {s: share for s, share in shares.items() if share < config.min_source_share}
    length_ok = bool(pairs) and 1 / config.max_length_ratio <= ratio <= config.max_length_ratio
    counts = Counter(p.source for p in pairs)
    held_out = sum(p.split == "validation" for p in pairs)
    return dg.MaterializeResult(
        metadata={
            "pairs": len(pairs), "train_rows": rows, "rows_without_pair": rows - len(pairs),
            "held_out_pairs": held_out, "train_pairs": len(pairs) - held_out,
            "pairs_per_source": dg.MetadataValue.json({s: counts.get(s, 0) for s in config.sources}),
            "rules": dg.MetadataValue.json(dict(Counter(p.detail for p in pairs if p.source == "rule"))),
            "judge_verdicts": dg.MetadataValue.json(dict(verdicts)),
            "judgements_without_verdict": sum(judge_errors.values()),
            "replies_cut_off": cut_off,
            "length_ratio": ratio,
        },
        check_results=[
            dg.AssetCheckResult(check_name="no_identical_pairs", passed=report["identical"] == 0,
                                metadata={"identical": report["identical"]}),
            dg.AssetCheckResult(check_name="source_shares", passed=not low_shares,
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"shares": dg.MetadataValue.json(shares),
                                          "min_source_share": config.min_source_share}),
            dg.AssetCheckResult(check_name="length_bias", passed=length_ok,
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"length_ratio": ratio,
                                          "max_length_ratio": config.max_length_ratio}),
        ],
    )
