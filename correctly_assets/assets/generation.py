"""generated_texts: the model's answers per (date, theme), parsed, embedded and stored."""

import dagster as dg

from ..domain import quality
from ..domain.models import PromptExample
from ..partitions import partition_date_and_theme, theme_date_partitions
from ..resources.embedder import SentenceEmbedderResource
from ..resources.store import CorrectionStoreResource
from ..resources.text_generator import TextGeneratorResource

CHECKS = ["schema", "no_empty_or_unchanged_corrections", "no_hangul_in_corrections", "duplicate_rate"]


class GenerationQualityConfig(dg.Config):
    # Near-duplicates: cosine similarity of the corrected texts' embeddings at or above this.
    near_duplicate_similarity: float = 0.9
    max_duplicate_rate: float = 0.2


@dg.asset(
    group_name="data",
    partitions_def=theme_date_partitions,
    kinds={"openai", "postgres", "pgvector"},
    check_specs=[dg.AssetCheckSpec(name, asset="generated_texts") for name in CHECKS],
)
def generated_texts(
    context: dg.AssetExecutionContext,
    config: GenerationQualityConfig,
    prompt_examples: list[PromptExample],
    text_generator: TextGeneratorResource,
    embedder: SentenceEmbedderResource,
    store: CorrectionStoreResource,
):  # MaterializeResult[list[GeneratedText]]: asset checks are outputs, so no annotation
    """Every prompt's answer; an unparseable answer is kept with its rejection reason."""
    date, theme = partition_date_and_theme(context)
    texts, usage = text_generator.generate(context, prompt_examples)
    accepted = [t for t in texts if t.accepted]
    vectors = embedder.embed([t.parsed.after for t in accepted])
    by_id = dict(zip((t.prompt_id for t in accepted), vectors))
    correction_store = store.get_store()
    correction_store.replace_generated_texts(
        date, theme, texts, [by_id.get(t.prompt_id) for t in texts]
    )
    stored = correction_store.count_rows("generated_text", date=date, theme=theme)

    problems = quality.problem_counts(texts)
    unchanged = problems["empty correction"] + problems["unchanged correction"]
    hangul = problems["Hangul left in corrected English"]
    incomplete = problems["empty translation"] + problems["no correction points"]
    dup_rate = quality.duplicate_rate(vectors, config.near_duplicate_similarity)
    checks = [
        dg.AssetCheckResult(
            check_name="schema",
            passed=incomplete == 0 and stored == len(prompt_examples),
            metadata={"incomplete_answers": incomplete, "prompts": len(prompt_examples),
                      "stored_rows": stored},
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
            passed=dup_rate <= config.max_duplicate_rate,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"duplicate_rate": dup_rate, "max": config.max_duplicate_rate},
        ),
    ]
    return dg.MaterializeResult(
        value=texts,
        metadata={
            "rows": len(texts),
            "accepted": len(accepted),
            "rejected": len(texts) - len(accepted),
            "rejections": dg.MetadataValue.json(dict(quality.rejection_counts(texts))),
            **{f"usage_{k}": v for k, v in usage.items()},
        },
        check_results=checks,
    )
