"""generated_texts: the model's answers per (date, theme), parsed, embedded and stored."""

from collections import defaultdict

import dagster as dg
import numpy as np

from ...domain import quality
from ..partitions import data_backfill_policy, partitions_in_run, theme_date_partitions
from ...resources.embedder import SentenceEmbedderResource
from ...resources.files import ArtifactStoreResource
from ...resources.store import CorrectionStoreResource
from ...resources.text_generator import TextGeneratorResource
from .answering import answer_journaled, unreachable_failure, waiting_observations

CHECKS = ["schema", "no_empty_or_unchanged_corrections", "no_hangul_in_corrections", "duplicate_rate"]


class GenerationQualityConfig(dg.Config):
    # Near-duplicates: cosine similarity of the corrected texts' embeddings at or above this.
    near_duplicate_similarity: float = 0.9
    max_duplicate_rate: float = 0.2


DESCRIPTION = """Every prompt's answer; an unparseable answer is kept with its rejection reason.

All partitions of a run are answered as one batch (one bound on concurrent calls, one
embedding pass) and stored partition by partition. Each answer is journaled as it arrives
until its partition is stored: a retry after a failed store or a crash asks the model only
for the prompts without one. In batch mode a run submits, and materialises only once every
partition of the run has its answers (the batch sensor collects them)."""


# A multi_asset of one asset with can_subset: in batch mode a run may end with nothing to
# materialise yet, and its outputs (the asset's and its checks') must then be optional.
@dg.multi_asset(
    name="generated_texts",
    specs=[dg.AssetSpec("generated_texts", group_name="data", deps=["prompt_examples"],
                        kinds={"openai", "postgres", "pgvector"}, description=DESCRIPTION,
                        skippable=True)],
    partitions_def=theme_date_partitions,
    backfill_policy=data_backfill_policy(),
    check_specs=[dg.AssetCheckSpec(name, asset="generated_texts") for name in CHECKS],
    can_subset=True,
)
def generated_texts(
    context: dg.AssetExecutionContext,
    config: GenerationQualityConfig,
    text_generator: TextGeneratorResource,
    embedder: SentenceEmbedderResource,
    store: CorrectionStoreResource,
    artifacts: ArtifactStoreResource,
):
    correction_store = store.get_store()
    prompts_by_partition = {}
    for date, theme in partitions_in_run(context):
        prompts = correction_store.load_prompt_examples(date, theme)
        if not prompts:
            written = correction_store.load_prompt_examples(date, theme, with_rejected=True)
            reasons = sorted({p.example_rejection for p in written})
            raise dg.Failure(
                f"partition {date}|{theme}: none of its {len(written)} examples could be used "
                f"({'; '.join(reasons)[:500]}); see prompt_examples" if written else
                f"partition {date}|{theme}: no prompt_examples rows; "
                "materialise prompt_examples for it first")
        prompts_by_partition[(date, theme)] = prompts
    prompts = [p for batch in prompts_by_partition.values() for p in batch]

    ledger = correction_store.batch_ledger()
    answers = answer_journaled(context, text_generator, artifacts, "generated_texts",
                               prompts_by_partition, ledger)
    if answers.waiting:
        yield from waiting_observations("generated_texts", answers.waiting, answers.usage, ledger)
        return
    text_by_id, usage = answers.texts, answers.usage
    texts = [text_by_id[p.prompt_id] for p in prompts]
    accepted = [t for t in texts if t.accepted]
    vectors = embedder.embed([t.parsed.after for t in accepted])
    vector_by_id = dict(zip((t.prompt_id for t in accepted), vectors))
    texts_by_partition = defaultdict(list)
    for t in texts:
        texts_by_partition[(t.date, t.theme)].append(t)
    stored, unreachable = 0, {}
    for (date, theme), batch in texts_by_partition.items():
        if reason := answers.unreachable(prompts_by_partition[(date, theme)]):
            unreachable[(date, theme)] = reason
            answers.settled((date, theme))
            continue
        correction_store.replace_generated_texts(
            date, theme, batch, [vector_by_id.get(t.prompt_id) for t in batch]
        )
        answers.stored((date, theme))
        stored += correction_store.count_rows("generated_text", date=date, theme=theme)
    if unreachable:
        raise unreachable_failure(unreachable, len(texts_by_partition) - len(unreachable))

    problems = quality.problem_counts(texts)
    unchanged = problems["empty correction"] + problems["unchanged correction"]
    hangul = problems["Hangul left in corrected English"]
    incomplete = problems["empty translation"] + problems["no correction points"]
    # A separator, header or markup where text should be: the parse went wrong somewhere.
    garbled = (problems["separator or header left in a section"]
               + problems["markup left in an edit"])
    # Per partition, as for a single-partition run: across days a theme's texts may recur.
    dup_rates = {
        f"{date}|{theme}": quality.duplicate_rate(
            np.array([vector_by_id[t.prompt_id] for t in batch
                      if t.prompt_id in vector_by_id]),
            config.near_duplicate_similarity)
        for (date, theme), batch in texts_by_partition.items()
    }
    worst = max(dup_rates, key=dup_rates.get)
    checks = [
        dg.AssetCheckResult(
            check_name="schema",
            passed=incomplete == 0 and garbled == 0 and stored == len(prompts),
            metadata={"incomplete_answers": incomplete, "garbled_answers": garbled,
                      "prompts": len(prompts), "stored_rows": stored},
        ),
        dg.AssetCheckResult(
            check_name="no_empty_or_unchanged_corrections", passed=unchanged == 0,
            metadata={"empty_or_unchanged": unchanged},
        ),
        dg.AssetCheckResult(
            check_name="no_hangul_in_corrections", passed=hangul == 0,
            metadata={"hangul_in_after": hangul},
        ),
        dg.AssetCheckResult(
            check_name="duplicate_rate",
            passed=dup_rates[worst] <= config.max_duplicate_rate,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"duplicate_rate": dup_rates[worst], "partition": worst,
                      "max": config.max_duplicate_rate},
        ),
    ]
    yield dg.MaterializeResult(
        asset_key="generated_texts",
        metadata={
            "rows": len(texts),
            "partitions": len(prompts_by_partition),
            "accepted": len(accepted),
            "rejected": len(texts) - len(accepted),
            "answers_from_journal": answers.from_journal,
            "rejections": dg.MetadataValue.json(dict(quality.rejection_counts(texts))),
            **{f"usage_{k}": v for k, v in usage.items()},
            **text_generator.cost(usage),
            **({"cost_usd_per_partition": dg.MetadataValue.json(per_partition)}
               if (per_partition := text_generator.cost_by_partition(texts_by_partition)) else {}),
        },
        check_results=checks,
    )
