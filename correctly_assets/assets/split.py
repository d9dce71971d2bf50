"""train_split: train/validation JSONL in chat format, near-duplicates on one side only."""

import dagster as dg
import numpy as np

from ..domain import quality
from ..domain.chat_format import write_chats
from ..domain.models import GeneratedText
from ..domain.splitting import TRAIN, VALIDATION, split_texts
from ..partitions import partition_date_and_theme, theme_date_partitions
from ..resources.embedder import SentenceEmbedderResource
from ..resources.files import ArtifactStoreResource
from ..resources.store import CorrectionStoreResource


class SplitConfig(dg.Config):
    validation_fraction: float = 0.2
    near_duplicate_similarity: float = 0.9


@dg.asset(
    group_name="data",
    partitions_def=theme_date_partitions,
    kinds={"jsonl", "postgres"},
    check_specs=[dg.AssetCheckSpec("no_split_leakage", asset="train_split")],
)
def train_split(
    context: dg.AssetExecutionContext,
    config: SplitConfig,
    generated_texts: list[GeneratedText],
    embedder: SentenceEmbedderResource,
    store: CorrectionStoreResource,
    artifacts: ArtifactStoreResource,
):  # MaterializeResult[list[TrainExample]]: asset checks are outputs, so no annotation
    """Trainable texts only; a near-duplicate group keeps the side it has in other partitions."""
    date, theme = partition_date_and_theme(context)
    correction_store = store.get_store()
    texts = [t for t in generated_texts if quality.is_trainable(t)]
    vectors = embedder.embed([t.parsed.after for t in texts])
    max_distance = 1.0 - config.near_duplicate_similarity
    neighbours = [
        correction_store.nearest_neighbours(v, limit=5, exclude_partition=(date, theme),
                                            max_cosine_distance=max_distance)
        for v in vectors
    ]
    known = correction_store.train_split_of(sorted({n[0] for ns in neighbours for n in ns}))
    prior = {}
    for text, ns in zip(texts, neighbours):
        sides = [known[n[0]] for n in ns if n[0] in known]
        if sides:
            prior[text.prompt_id] = sides[0]
    examples = split_texts(
        texts, vectors, prior_splits=prior,
        validation_fraction=config.validation_fraction,
        min_similarity=config.near_duplicate_similarity,
    )
    correction_store.replace_train_examples(date, theme, examples)

    directory = artifacts.path("train_split", date, theme)
    for split in (TRAIN, VALIDATION):
        write_chats(directory / f"{split}.jsonl", (e for e in examples if e.split == split))

    leaks = _leaking_pairs(examples, vectors, config.near_duplicate_similarity, prior)
    counts = {split: sum(e.split == split for e in examples) for split in (TRAIN, VALIDATION)}
    return dg.MaterializeResult(
        value=examples,
        metadata={
            "rows": len(examples),
            "train_rows": counts[TRAIN],
            "validation_rows": counts[VALIDATION],
            "excluded_untrainable": len(generated_texts) - len(texts),
            "inherited_from_other_partitions": len(prior),
            "directory": dg.MetadataValue.path(str(directory)),
        },
        check_results=[
            dg.AssetCheckResult(passed=not leaks, metadata={"leaking_pairs": len(leaks)})
        ],
    )


def _leaking_pairs(examples, vectors, min_similarity, prior) -> list[tuple[str, str]]:
    """Near-duplicate pairs on opposite sides, inside the partition or against the side a
    near-duplicate of the same text has in another partition."""
    inside = [
        (examples[i].prompt_id, examples[j].prompt_id)
        for i, j in quality.near_duplicate_pairs(np.asarray(vectors), min_similarity)
        if examples[i].split != examples[j].split
    ]
    across = [(e.prompt_id, "other partition") for e in examples
              if e.prompt_id in prior and prior[e.prompt_id] != e.split]
    return inside + across
