"""train_split: train/validation JSONL in chat format, near-duplicates on one side only."""

from typing import Literal

import dagster as dg
import numpy as np

from ..automation_conditions import SPLIT_FOLLOWS_TEXTS
from ..domain import quality
from ..domain.chat_format import write_chats
from ..domain.splitting import TRAIN, VALIDATION, split_texts
from ..partitions import data_backfill_policy, partitions_in_run, theme_date_partitions
from ..store.schema import EMBEDDING_DIMENSIONS
from ..resources.files import ArtifactStoreResource
from ..resources.store import CorrectionStoreResource


class SplitConfig(dg.Config):
    validation_fraction: float = 0.2
    near_duplicate_similarity: float = 0.9
    # The chat the model learns: "ko", the original's (Korean instruction, the learner's
    # section in, 교정 후/해석/교정 지점 out), or "en" (corrected text and "Corrections:").
    language: Literal["ko", "en"] = "ko"


@dg.asset(
    group_name="data",
    partitions_def=theme_date_partitions,
    deps=["generated_texts"],
    backfill_policy=data_backfill_policy(),
    automation_condition=SPLIT_FOLLOWS_TEXTS,
    kinds={"jsonl", "postgres"},
    check_specs=[dg.AssetCheckSpec("no_split_leakage", asset="train_split")],
)
def train_split(
    context: dg.AssetExecutionContext,
    config: SplitConfig,
    store: CorrectionStoreResource,
    artifacts: ArtifactStoreResource,
):  # MaterializeResult: asset checks are outputs, so no annotation
    """Trainable texts only; a near-duplicate group keeps the side it has in other partitions.

    Partitions are split one after another in date order, so within a backfill a later
    day sees the sides an earlier day gave.
    """
    correction_store = store.get_store()
    counts = {TRAIN: 0, VALIDATION: 0}
    excluded = inherited = leaks = 0
    for date, theme in partitions_in_run(context):
        generated = correction_store.load_generated_texts(date, theme)
        if not generated:
            raise dg.Failure(f"partition {date}|{theme}: no generated_texts rows; "
                             "materialise generated_texts for it first")
        examples, prior, leaking = _split_partition(correction_store, date, theme, generated,
                                                    config)
        directory = artifacts.path("train_split", date, theme)
        for split in (TRAIN, VALIDATION):
            write_chats(directory / f"{split}.jsonl", (e for e in examples if e.split == split))
            counts[split] += sum(e.split == split for e in examples)
        excluded += len(generated) - len(examples)
        inherited += len(prior)
        leaks += len(leaking)
        if leaking:
            context.log.warning(f"partition {date}|{theme}: near-duplicates straddle the "
                                f"split: {leaking[:5]}")
    return dg.MaterializeResult(
        metadata={
            "rows": counts[TRAIN] + counts[VALIDATION],
            "train_rows": counts[TRAIN],
            "validation_rows": counts[VALIDATION],
            "excluded_untrainable": excluded,
            "inherited_from_other_partitions": inherited,
            "directory": dg.MetadataValue.path(str(artifacts.path("train_split"))),
        },
        check_results=[dg.AssetCheckResult(passed=leaks == 0, metadata={"leaking_pairs": leaks})],
    )


def _split_partition(correction_store, date, theme, generated, config):
    """(examples stored for the partition, sides inherited from other partitions, leaking pairs)."""
    texts = [t for t in generated if quality.is_trainable(t)]
    stored_vectors = correction_store.load_embeddings(date, theme)
    # The embeddings generated_texts stored, rather than a second embedding pass.
    vectors = np.array([stored_vectors[t.prompt_id] for t in texts], dtype=np.float32)
    vectors = vectors.reshape(len(texts), EMBEDDING_DIMENSIONS)
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
        language=config.language,
    )
    correction_store.replace_train_examples(date, theme, examples)
    leaks = _leaking_pairs(examples, vectors, config.near_duplicate_similarity, prior)
    return examples, prior, leaks


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
