"""Tables of the correction store.

Reference tables hold the workbook as last read, in workbook order (`position`). The
partitioned tables hold one (date, theme) partition's rows each, replaced as a whole when
the partition is re-materialised; they carry no foreign keys to the reference tables so a
new workbook never has to delete history.
"""

from __future__ import annotations

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

EMBEDDING_DIMENSIONS = 384  # all-MiniLM-L6-v2

metadata = MetaData()


def _named_description(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("name", Text, primary_key=True),
        Column("description", Text, nullable=False),
        Column("position", Integer, nullable=False),
    )


script_type = _named_description("script_type")
speaker = _named_description("speaker")
style = _named_description("style")

theme = Table(
    "theme",
    metadata,
    Column("name", Text, primary_key=True),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("position", Integer, nullable=False),
)

key_expression = Table(
    "key_expression",
    metadata,
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("theme", Text, ForeignKey("theme.name"), nullable=False),
    Column("expression", Text, nullable=False),
    Column("meaning", Text, nullable=False),
)

instruction_prompt = Table(
    "instruction_prompt",
    metadata,
    Column("name", Text, primary_key=True),
    Column("script_type", Text, ForeignKey("script_type.name"), nullable=False),
    Column("template", Text, nullable=False),
    Column("position", Integer, nullable=False),
)

# The workbook's example sheet: clean passages, with their Korean translations.
example = Table(
    "example",
    metadata,
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("theme", Text, ForeignKey("theme.name"), nullable=False),
    Column("text", Text, nullable=False),
    Column("korean", Text, nullable=False),
)

# prompt_examples: the prompts rendered per partition.
prompt_example = Table(
    "prompt_example",
    metadata,
    Column("prompt_id", Text, primary_key=True),
    Column("date", Date, nullable=False),
    Column("theme", Text, nullable=False),
    Column("index", Integer, nullable=False),
    Column("instruction_prompt", Text, nullable=False),
    Column("script_type", Text, nullable=False),
    Column("speaker", Text, nullable=False),
    Column("style", Text, nullable=False),
    Column("key_expression", Text, nullable=False),
    Column("passage", Text, nullable=False),
    Column("passage_korean", Text, nullable=False),
    Column("prompt", Text, nullable=False),
    Column("temperature", Float),
    Column("max_tokens", Integer),
    Column("system_prompt", Text),
    Column("example", Text),
    Column("example_rejection", Text),
    Column("combination", JSONB(none_as_null=True)),
    UniqueConstraint("date", "theme", "index", name="uq_prompt_example_partition_index"),
    Index("ix_prompt_example_date_theme", "date", "theme"),
)

# A rejected answer keeps its raw text and reason; its parsed columns and embedding are NULL.
generated_text = Table(
    "generated_text",
    metadata,
    Column("prompt_id", Text, primary_key=True),
    Column("date", Date, nullable=False),
    Column("theme", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("raw_answer", Text, nullable=False),
    Column("before_text", Text),
    Column("after_text", Text),
    Column("translation", Text),
    Column("points", JSONB(none_as_null=True)),
    Column("rejection_reason", Text),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("embedding", Vector(EMBEDDING_DIMENSIONS)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(
        "(before_text IS NULL) = (after_text IS NULL) "
        "AND (before_text IS NULL) = (translation IS NULL) "
        "AND (before_text IS NULL) = (points IS NULL)",
        name="ck_generated_text_parsed_all_or_nothing",
    ),
    Index("ix_generated_text_date_theme", "date", "theme"),
)

# train_split: each trainable text's side and chat messages.
train_split = Table(
    "train_split",
    metadata,
    Column("prompt_id", Text, primary_key=True),
    Column("date", Date, nullable=False),
    Column("theme", Text, nullable=False),
    Column("split", Text, nullable=False),
    Column("near_duplicate_group", Text, nullable=False),
    Column("messages", JSONB, nullable=False),
    CheckConstraint("split IN ('train', 'validation')", name="ck_train_split"),
    Index("ix_train_split_date_theme", "date", "theme"),
)

# preference_pairs: the rejected answer of a train row (its chosen answer is the row's own);
# re-splitting a partition drops its pairs with its train rows.
preference_pair = Table(
    "preference_pair",
    metadata,
    Column("prompt_id", Text, ForeignKey("train_split.prompt_id", ondelete="CASCADE"),
           primary_key=True),
    Column("date", Date, nullable=False),
    Column("theme", Text, nullable=False),
    Column("rejected", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("source IN ('on_policy', 'llm_judged', 'rule')", name="ck_preference_pair_source"),
    Index("ix_preference_pair_date_theme", "date", "theme"),
)

# The Batch API's batches, so any run container can resume after a crash or redeploy: one
# row per batch (`id` is ours, written before the upload, so a submission cut short is
# found at the server by it), one row per request it holds. A partition's requests are
# `stored` once its rows are written from them; the next materialisation asks anew.
llm_batch = Table(
    "llm_batch",
    metadata,
    Column("id", Text, primary_key=True),
    Column("batch_id", Text, unique=True),
    Column("asset", Text, nullable=False),
    Column("generator", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("input_file_id", Text),
    Column("output_file_id", Text),
    Column("error_file_id", Text),
    Column("error", Text),
    # the assets downstream of this one in the run that submitted it, collected with it
    Column("downstream", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("ended_at", DateTime(timezone=True)),
    Index("ix_llm_batch_asset_status", "asset", "status"),
)

llm_batch_request = Table(
    "llm_batch_request",
    metadata,
    Column("batch", Text, ForeignKey("llm_batch.id", ondelete="CASCADE"), primary_key=True),
    Column("custom_id", Text, primary_key=True),
    Column("date", Date, nullable=False),
    Column("theme", Text, nullable=False),
    Column("stored", Boolean, nullable=False, server_default="false"),
    Index("ix_llm_batch_request_partition", "date", "theme", "stored"),
)

PARTITIONED_TABLES = (prompt_example, generated_text, train_split, preference_pair)

# The train rows in the original Correctly's shape, for tools written against its `train`
# table: `input` is the learner's section (### 교정 전 ###), `output` the whole sectioned
# answer. Exact for the Korean chat format
# (train_split's default), whose assistant turn is the answer after the `#####` separator;
# `rejected` is preference_pairs' rejected answer, when the row has one.
ORIGINAL_TRAIN_VIEW = "train_original"
ORIGINAL_TRAIN_VIEW_SQL = f"""
CREATE OR REPLACE VIEW {ORIGINAL_TRAIN_VIEW} AS
SELECT t.prompt_id AS generated_text_id,
       t.date,
       t.theme,
       t.split,
       t.messages -> 0 ->> 'content' AS instruction,
       t.messages -> 1 ->> 'content' AS input,
       (t.messages -> 1 ->> 'content') || E'\\n#####\\n' || (t.messages -> 2 ->> 'content') AS output,
       p.rejected,
       g.created_at
FROM train_split AS t
JOIN generated_text AS g USING (prompt_id)
LEFT JOIN preference_pair AS p USING (prompt_id)
"""
