"""train_split: train/validation JSONL in chat format, near-duplicates on one side only."""

from typing import Literal

import dagster as dg
import numpy as np

from ..automation_conditions import SPLIT_FOLLOWS_TEXTS
from ...domain import quality
from ...domain.chat_format import write_chats
from ...domain.splitting import TRAIN, VALIDATION, split_texts
from ..partitions import data_backfill_policy, partitions_in_run, theme_date_partitions
from ...store.schema import EMBEDDING_DIMENSIONS
from ...resources.files import ArtifactStoreResource
from ...resources.store import CorrectionStoreResource


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
    excluded = inherited = leaks = left_out = 0
    for date, theme in partitions_in_run(context):
        generated = correction_store.load_generated_texts(date, theme)
        if not generated:
            raise dg.Failure(f"partition {date}|{theme}: no generated_texts rows; "
                             "materialise generated_texts for it first")
        examples, prior, bridging, leaking = _split_partition(
            correction_store, date, theme, generated, config)
        directory = artifacts.path("train_split", date, theme)
        for split in (TRAIN, VALIDATION):
            write_chats(directory / f"{split}.jsonl", (e for e in examples if e.split == split))
            counts[split] += sum(e.split == split for e in examples)
        excluded += len(generated) - len(examples) - len(bridging)
        left_out += len(bridging)
        if bridging:
            context.log.warning(f"partition {date}|{theme}: left out {len(bridging)} text(s) "
                                f"near-duplicate to both train and validation texts: {bridging[:5]}")
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
            "excluded_bridging_both_sides": left_out,
            "inherited_from_other_partitions": inherited,
            "directory": dg.MetadataValue.path(str(artifacts.path("train_split"))),
        },
        check_results=[dg.AssetCheckResult(passed=leaks == 0, metadata={"leaking_pairs": leaks})],
    )


def _split_partition(correction_store, date, theme, generated, config):
    """(examples stored for the partition, their stored near-duplicates' sides, ids left out
    for bridging both sides, leaking pairs), under the split lock."""
    texts = [t for t in generated if quality.is_trainable(t)]
    stored_vectors = correction_store.load_embeddings(date, theme)
    # The embeddings generated_texts stored, rather than a second embedding pass.
    vectors = np.array([stored_vectors[t.prompt_id] for t in texts], dtype=np.float32)
    vectors = vectors.reshape(len(texts), EMBEDDING_DIMENSIONS)
    max_distance = 1.0 - config.near_duplicate_similarity
    with correction_store.split_lock():
        # Every stored near-duplicate of each text, with its side. Nothing else writes train
        # rows while the lock is held, so these are also what the check compares with.
        neighbours = {t.prompt_id: correction_store.split_near_duplicates(v, (date, theme), max_distance)
                      for t, v in zip(texts, vectors)}
        prior = {item_id: {side for _, side in found}
                 for item_id, found in neighbours.items() if found}
        examples, bridging = split_texts(
            texts, vectors, prior_sides=prior,
            validation_fraction=config.validation_fraction,
            min_similarity=config.near_duplicate_similarity,
            language=config.language,
        )
        correction_store.replace_train_examples(date, theme, examples)
        leaks = leaking_pairs(examples, dict(zip((t.prompt_id for t in texts), vectors)),
                              neighbours, config.near_duplicate_similarity)
    return examples, prior, bridging, leaks


def leaking_pairs(examples, by_id, neighbours, min_similarity) -> list[tuple[str, str]]:
    """Every near-duplicate pair on opposite sides of the split: inside the partition
    (`by_id`: prompt_id -> vector), and between it and other partitions' train rows
    (`neighbours`: prompt_id -> (prompt_id, side) of each stored near-duplicate, from the
    store's exact split_near_duplicates)."""
    kept = np.array([by_id[e.prompt_id] for e in examples], dtype=np.float32)
    inside = [
        (examples[i].prompt_id, examples[j].prompt_id)
        for i, j in quality.near_duplicate_pairs(kept, min_similarity)
        if examples[i].split != examples[j].split
    ]
    across = [(e.prompt_id, other) for e in examples
              for other, side in neighbours.get(e.prompt_id, ()) if side != e.split]
    return inside + across
