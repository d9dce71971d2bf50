import math

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from correctly_assets.domain.answer_format import format_answer, parse_answer
from correctly_assets.domain.chat_format import KOREAN_INSTRUCTION, to_messages
from correctly_assets.domain.models import (
    CorrectionPoint,
    ExampleSentence,
    GeneratedText,
    InstructionPrompt,
    KeyExpression,
    ParsedAnswer,
    PromptExample,
    ScriptType,
    Speaker,
    Style,
    Theme,
    TrainExample,
    Workbook,
)
from correctly_assets.resources.embedder import SentenceEmbedderResource
from correctly_assets.resources.store import CorrectionStoreResource
from correctly_assets.domain.splitting import TRAIN, VALIDATION
from correctly_assets.store import psycopg2_url
from correctly_assets.testing.databases import original_train_rows, reference_data

pytestmark = pytest.mark.integration

DAY, NEXT_DAY = "2026-01-01", "2026-01-02"


def _workbook(themes=("travel", "work")) -> Workbook:
    return Workbook(
        script_types=(ScriptType(name="diary", description="a diary entry"),),
        speakers=(Speaker(name="Minji", description="a student"),),
        styles=(Style(name="casual", description="relaxed"),
                Style(name="formal", description="polite")),
        themes=tuple(Theme(name=t, title=t.title(), description=f"about {t}") for t in themes),
        key_expressions=tuple(
            KeyExpression(theme=t, expression=f"{t} phrase", meaning="a meaning") for t in themes
        ),
        instruction_prompts=(
            InstructionPrompt(name="p1", script_type="diary", template="Write {theme}."),),
        examples=tuple(
            ExampleSentence(theme=t, text=f"A {t} passage.", korean="한국어 문장.") for t in themes),
    )


def _prompt(date: str, theme: str, index: int, passage: str = "We took the train.") -> PromptExample:
    return PromptExample(
        prompt_id=f"{date}|{theme}|{index:04d}", date=date, theme=theme, index=index,
        instruction_prompt="p1", script_type="diary", speaker="Minji", style="casual",
        key_expression="check in", passage=passage, passage_korean="우리는 기차를 탔다.",
        prompt=f"Rewrite: {passage}",
    )


def _generated(date: str, theme: str, index: int, after: str | None = "I went.") -> GeneratedText:
    parsed = None if after is None else ParsedAnswer(
        before="I go to school.", after=after, translation="나는 학교에 갔다.",
        points=(CorrectionPoint(number=1, before="go", after="went", explanation="past tense."),),
    )
    return GeneratedText(
        prompt_id=f"{date}|{theme}|{index:04d}", date=date, theme=theme, raw_answer="[Before]...",
        model="gpt-test", parsed=parsed, rejection_reason=None if parsed else "no [After] section",
        prompt_tokens=120, completion_tokens=80,
    )


def _train(date: str, theme: str, index: int, split: str = "train") -> TrainExample:
    return TrainExample(
        prompt_id=f"{date}|{theme}|{index:04d}", date=date, theme=theme, split=split,
        group=f"{date}|{theme}|{index:04d}",
        messages=({"role": "user", "content": "I go to school."},
                  {"role": "assistant", "content": "I went to school."}),
    )


def _unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=384).astype(np.float32)
    return vector / np.linalg.norm(vector)


def test_reference_data_round_trips_and_is_replaced(store):
    store.replace_reference_data(_workbook())
    assert reference_data(store) == _workbook()
    store.replace_reference_data(_workbook(themes=("food",)))
    assert reference_data(store) == _workbook(themes=("food",))
    assert store.count_rows("theme") == 1 and store.count_rows("example") == 1


def test_bad_reference_data_keeps_the_old_workbook(store):
    store.replace_reference_data(_workbook())
    orphan = _workbook().model_copy(update={"key_expressions": (
        KeyExpression(theme="no_such_theme", expression="x", meaning="y"),)})
    with pytest.raises(IntegrityError):
        store.replace_reference_data(orphan)
    assert reference_data(store) == _workbook()


def test_replacing_a_partition_twice_gives_the_same_rows(store):
    prompts = [_prompt(DAY, "travel", i) for i in range(3)]
    store.replace_prompt_examples(DAY, "travel", prompts)
    store.replace_prompt_examples(DAY, "travel", prompts)
    assert store.count_rows("prompt_example", DAY, "travel") == 3
    assert store.load_prompt_examples(DAY, "travel") == prompts

    changed = [_prompt(DAY, "travel", i, passage="We flew to Jeju.") for i in range(2)]
    store.replace_prompt_examples(DAY, "travel", changed)
    assert store.load_prompt_examples(DAY, "travel") == changed


def test_partitions_are_isolated(store):
    store.replace_prompt_examples(DAY, "travel", [_prompt(DAY, "travel", i) for i in range(3)])
    store.replace_prompt_examples(DAY, "work", [_prompt(DAY, "work", i) for i in range(2)])
    store.replace_prompt_examples(NEXT_DAY, "travel", [_prompt(NEXT_DAY, "travel", 0)])
    store.replace_prompt_examples(DAY, "travel", [])
    assert store.count_rows("prompt_example", DAY, "travel") == 0
    assert store.count_rows("prompt_example", DAY, "work") == 2
    assert store.count_rows("prompt_example", NEXT_DAY) == 1
    assert store.count_rows("prompt_example", theme="travel") == 1
    assert store.count_rows("prompt_example") == 3


def test_failing_write_keeps_the_old_rows(store):
    texts = [_generated(DAY, "travel", i) for i in range(2)]
    store.replace_generated_texts(DAY, "travel", texts, [_unit(0), _unit(1)])
    duplicate = [_generated(DAY, "travel", 5, after="New.")] * 2
    with pytest.raises(IntegrityError):
        store.replace_generated_texts(DAY, "travel", duplicate)
    assert store.load_generated_texts(DAY, "travel") == texts


def test_records_outside_the_partition_are_refused(store):
    with pytest.raises(ValueError, match="do not belong to partition"):
        store.replace_prompt_examples(DAY, "travel", [_prompt(NEXT_DAY, "travel", 0)])
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        store.replace_train_examples("2026-1-1", "travel", [])
    with pytest.raises(ValueError, match="2 embeddings for 1 texts"):
        store.replace_generated_texts(DAY, "travel", [_generated(DAY, "travel", 0)],
                                      [_unit(0), _unit(1)])
    with pytest.raises(ValueError, match="384 finite numbers"):
        store.replace_generated_texts(DAY, "travel", [_generated(DAY, "travel", 0)],
                                      [np.ones(3)])
    with pytest.raises(ValueError, match="unknown table"):
        store.count_rows("generated_texts")
    with pytest.raises(ValueError, match="not partitioned"):
        store.count_rows("theme", date=DAY)


def test_generated_texts_round_trip_with_rejections(store):
    texts = [_generated(DAY, "travel", 0), _generated(DAY, "travel", 1, after=None)]
    store.replace_generated_texts(DAY, "travel", texts, [_unit(0), None])
    assert store.load_generated_texts(DAY, "travel") == texts
    # The rejected text has no embedding, so it is never anyone's near-duplicate.
    assert list(store.load_embeddings(DAY, "travel")) == [texts[0].prompt_id]


def test_the_hnsw_index_of_older_databases_is_dropped(store):
    """Older databases have an HNSW index on the embeddings, which no query uses any more
    and every insert pays for: opening the store drops it, rows kept."""
    store.replace_generated_texts(DAY, "travel", [_generated(DAY, "travel", 0)], [_unit(0)])
    with store.engine.begin() as conn:
        conn.execute(text("CREATE INDEX ix_generated_text_embedding_hnsw ON generated_text "
                          "USING hnsw (embedding vector_cosine_ops)"))
    store.create_schema()
    with store.engine.connect() as conn:
        indexes = set(conn.execute(text(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'generated_text'")).scalars())
    assert "ix_generated_text_embedding_hnsw" not in indexes
    assert list(store.load_embeddings(DAY, "travel")) == [f"{DAY}|travel|0000"]


def test_train_examples_splits_and_history(store):
    store.replace_train_examples(NEXT_DAY, "travel", [_train(NEXT_DAY, "travel", 0, "validation")])
    store.replace_train_examples(DAY, "work", [_train(DAY, "work", 1), _train(DAY, "work", 0)])
    store.replace_train_examples(DAY, "travel", [_train(DAY, "travel", 0)])

    assert [e.prompt_id for e in store.load_train_examples()] == [
        f"{DAY}|travel|0000", f"{DAY}|work|0000", f"{DAY}|work|0001", f"{NEXT_DAY}|travel|0000"]
    assert store.load_train_examples(up_to_date=DAY) == [
        _train(DAY, "travel", 0), _train(DAY, "work", 0), _train(DAY, "work", 1)]


def test_resource_masks_the_password_and_creates_the_schema(pg_url):
    with_password = make_url(pg_url).set(password="s3cret").render_as_string(hide_password=False)
    resource = CorrectionStoreResource(database_url=with_password.replace("+psycopg2", ""))
    assert "s3cret" not in resource.describe()
    correction_store = resource.get_store()
    assert correction_store is resource.get_store()
    assert correction_store.count_rows("train_split") >= 0


def test_only_postgresql_urls_are_accepted():
    assert psycopg2_url("postgresql://u:p@db:5432/correctly").startswith("postgresql+psycopg2://u:p@db")
    with pytest.raises(ValueError, match="PostgreSQL"):
        psycopg2_url("sqlite:///correctly.db")


def test_embedder_gives_unit_vectors_where_paraphrases_are_closest():
    embedder = SentenceEmbedderResource()
    vectors = embedder.embed([
        "I went to the museum with my friends last weekend.",
        "Last weekend my friends and I visited the museum.",
        "The quarterly report is due on Friday.",
    ])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > 0.8 > 0.3 > similarity[0, 2]
    assert embedder.embed([]).shape == (0, 384)
    with pytest.raises(TypeError):
        embedder.embed("not a list")


def test_train_rows_in_the_original_shape(store):
    """The `train_original` view: the learner's section in, the whole answer out."""
    generated = _generated(DAY, "travel", 0)
    store.replace_generated_texts(DAY, "travel", [generated], [_unit(0)])
    example = TrainExample(prompt_id=generated.prompt_id, date=DAY, theme="travel", split="train",
                           group=generated.prompt_id, messages=to_messages(generated.parsed))
    store.replace_train_examples(DAY, "travel", [example])

    [row] = original_train_rows(store)
    assert row["generated_text_id"] == generated.prompt_id
    assert row["instruction"] == KOREAN_INSTRUCTION
    assert row["input"] == "### 교정 전 ###\nI go to school."
    assert row["output"] == format_answer(generated.parsed)  # the whole Korean answer
    assert parse_answer(row["output"]) == generated.parsed
    assert row["rejected"] is None and row["created_at"] is not None


def _basis(*weights: tuple[int, float]) -> np.ndarray:
    vector = np.zeros(384, dtype=np.float32)
    for axis, weight in weights:
        vector[axis] = weight
    return vector / np.linalg.norm(vector)


def _stored_partition(store, date, vectors, theme="travel"):
    texts = [_generated(date, theme, i, after=f"Text {date} {i}.") for i in range(len(vectors))]
    store.replace_generated_texts(date, theme, texts, list(vectors))
    return texts


def test_near_duplicate_chains_never_straddle_the_split_across_partitions(store):
    """x1 and x2 are not near-duplicates (cosine 0.643), x3 is one of both (0.906): with
    x1 in validation and x2 in train elsewhere, x3 cannot go anywhere without a leak."""
    from correctly_assets.defs.data.train_split import SplitConfig, _split_partition, leaking_pairs

    x1 = _basis((0, 1.0))
    x2 = _basis((0, 0.643), (1, math.sqrt(1 - 0.643 ** 2)))
    x3 = (x1 + x2) / np.linalg.norm(x1 + x2)
    assert float(x1 @ x2) == pytest.approx(0.643, abs=1e-3)
    assert float(x3 @ x1) == pytest.approx(0.906, abs=1e-3) and float(x3 @ x2) > 0.9
    days = ("2026-02-01", "2026-02-02", "2026-02-03")
    for day, x, side, filler in zip(days[:2], (x1, x2), (VALIDATION, TRAIN), (5, 6)):
        texts = _stored_partition(store, day, [x, _basis((filler, 1.0))])
        store.replace_train_examples(day, "travel", [
            _train(day, "travel", 0, side), _train(day, "travel", 1, TRAIN)])
    texts = _stored_partition(store, days[2], [x3, _basis((7, 1.0))])

    config = SplitConfig(near_duplicate_similarity=0.9)
    examples, prior, bridging, leaks = _split_partition(store, days[2], "travel", texts, config)
    assert bridging == [texts[0].prompt_id] and leaks == []
    assert prior[texts[0].prompt_id] == {TRAIN, VALIDATION}
    assert [e.prompt_id for e in examples] == [texts[1].prompt_id]
    assert store.count_rows("train_split", date=days[2], theme="travel") == 1

    # The check compares with every stored near-duplicate, exactly: x3 in validation leaks
    # against x2, in train against x1.
    stored = {texts[0].prompt_id: store.split_near_duplicates(x3, (days[2], "travel"), 0.1)}
    for side, other in ((VALIDATION, days[1]), (TRAIN, days[0])):
        placed = [_train(days[2], "travel", 0, side)]
        assert leaking_pairs(placed, {placed[0].prompt_id: x3}, stored, 0.9) == [
            (placed[0].prompt_id, f"{other}|travel|0000")]


def test_concurrent_splits_of_partitions_sharing_near_duplicates_agree(store):
    """Two runs split two partitions whose texts are near-duplicates of each other at the
    same time: the split lock makes the second see the first's sides."""
    from concurrent.futures import ThreadPoolExecutor

    from correctly_assets.defs.data.train_split import SplitConfig, _split_partition, leaking_pairs

    bases = [_basis((axis, 1.0)) for axis in range(10, 16)]
    config = SplitConfig(validation_fraction=0.34, near_duplicate_similarity=0.9)
    partitions = {}
    for day, noise_axis in (("2026-03-01", 20), ("2026-03-02", 21)):
        vectors = [(b + 0.05 * _basis((noise_axis, 1.0))) for b in bases]
        vectors = [v / np.linalg.norm(v) for v in vectors]
        partitions[day] = (_stored_partition(store, day, vectors), vectors)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(
            lambda day: _split_partition(store, day, "travel", partitions[day][0], config),
            partitions))
    assert all(leaks == [] and bridging == [] for _, _, bridging, leaks in results)
    sides = [{e.prompt_id.rsplit("|", 1)[1]: e.split for e in examples}
             for examples, _, _, _ in results]
    assert sides[0] == sides[1] and VALIDATION in sides[0].values()
    for day, (texts, vectors) in partitions.items():
        stored = [e for e in store.load_train_examples() if e.date == day]
        by_id = {t.prompt_id: v for t, v in zip(texts, vectors)}
        around = {t.prompt_id: store.split_near_duplicates(v, (day, "travel"), 0.1)
                  for t, v in zip(texts, vectors)}
        assert leaking_pairs(stored, by_id, around, 0.9) == []


def test_a_database_with_the_old_table_names_is_renamed_and_keeps_its_rows(store, database_url):
    """Before the tables took their assets' names they were sentence (the example sheet),
    example (prompt_examples) and train (train_split): opening such a store renames them."""
    from correctly_assets.store import CorrectionStore
    from correctly_assets.store.migrations import LEGACY_RENAMES

    store.replace_reference_data(_workbook())
    prompts = [_prompt(DAY, "travel", i) for i in range(3)]
    store.replace_prompt_examples(DAY, "travel", prompts)
    with store.engine.begin() as conn:  # back to the old names, as such a database has them
        for kind, old, new in reversed(LEGACY_RENAMES):
            if kind == "TABLE":
                conn.execute(text(f'ALTER TABLE "{new}" RENAME TO "{old}"'))
            elif kind == "INDEX":
                conn.execute(text(f'ALTER INDEX "{new}" RENAME TO "{old}"'))
            else:
                conn.execute(text(f'ALTER TABLE "{kind.split()[1]}" RENAME CONSTRAINT "{new}" TO "{old}"'))
        tables = {r[0] for r in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))}
    assert {"sentence", "example", "train"} <= tables and "prompt_example" not in tables

    reopened = CorrectionStore.connect(database_url)
    reopened.create_schema()
    reopened.create_schema()  # twice: the second finds nothing to rename
    with reopened.engine.connect() as conn:
        tables = {r[0] for r in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))}
        indexes = {r[0] for r in conn.execute(text(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"))}
    assert {"example", "prompt_example", "train_split"} <= tables
    assert not {"sentence", "train"} & tables
    assert {"ix_prompt_example_date_theme", "uq_prompt_example_partition_index",
            "ix_train_split_date_theme", "example_pkey", "train_split_pkey"} <= indexes
    assert reference_data(reopened) == _workbook()
    assert reopened.load_prompt_examples(DAY, "travel") == prompts
    assert reopened.count_rows("example") == 2
    reopened.dispose()


def test_columns_added_since_a_database_was_made_are_added_in_place(store):
    old = _prompt("2026-05-01", "travel", 0)
    store.replace_prompt_examples("2026-05-01", "travel", [old])
    with store.engine.begin() as conn:  # the table as an older version made it
        conn.execute(text("ALTER TABLE prompt_example DROP COLUMN temperature, DROP COLUMN max_tokens"))
    store.create_schema()
    own = _prompt("2026-05-01", "travel", 1).model_copy(update={"temperature": 1.3, "max_tokens": 400})
    store.replace_prompt_examples("2026-05-01", "travel", [old, own])
    loaded = store.load_prompt_examples("2026-05-01", "travel")
    assert loaded == [old, own] and (loaded[1].temperature, loaded[1].max_tokens) == (1.3, 400)
