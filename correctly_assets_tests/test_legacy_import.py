"""The legacy import against a real PostgreSQL database in the original Correctly's shape:
its two schemas (the DDL written here from the original's table definitions) and rows in
its formats, imported as partitions, twice without change, then split by train_split."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from correctly_assets.llm.offline_generator import generate_offline_answer
from correctly_assets.domain.models import GeneratedText
from correctly_assets.testing.databases import scratch_database

pytestmark = pytest.mark.integration

THEME = "일상적인 이야기를 일기처럼"
DAGSTER = str(Path(sys.executable).with_name("dagster"))

DDL = """
CREATE SCHEMA text_repository;
CREATE SCHEMA correction_script;
CREATE TABLE text_repository.form (id serial PRIMARY KEY, form varchar NOT NULL,
  description varchar NOT NULL, speaker_num integer NOT NULL);
CREATE TABLE text_repository.emotion (id serial PRIMARY KEY, emotion varchar NOT NULL);
CREATE TABLE text_repository.mapping_emotion_form (id serial PRIMARY KEY,
  emotion_id integer NOT NULL REFERENCES text_repository.emotion(id),
  form_id integer NOT NULL REFERENCES text_repository.form(id), tone varchar);
CREATE TABLE text_repository.system_prompt (id serial PRIMARY KEY, prompt text NOT NULL);
CREATE TABLE text_repository.generation_prompt (id serial PRIMARY KEY, prompt text NOT NULL);
CREATE TABLE text_repository.creativity (id serial PRIMARY KEY, degree double precision NOT NULL,
  description varchar NOT NULL);
CREATE TABLE text_repository.length (id serial PRIMARY KEY, length integer NOT NULL);
CREATE TABLE correction_script.correction_script_type (id serial PRIMARY KEY, type varchar NOT NULL);
CREATE TABLE correction_script.key_expression (id serial PRIMARY KEY, key_expression varchar NOT NULL);
CREATE TABLE correction_script.style (id serial PRIMARY KEY, style varchar NOT NULL);
CREATE TABLE correction_script.theme (id serial PRIMARY KEY, theme varchar NOT NULL);
CREATE TABLE correction_script.speaker (id serial PRIMARY KEY, speaker varchar NOT NULL);
CREATE TABLE correction_script.example (id serial PRIMARY KEY,
  creativity_id integer NOT NULL REFERENCES text_repository.creativity(id),
  length_id integer NOT NULL REFERENCES text_repository.length(id),
  system_prompt_id integer NOT NULL REFERENCES text_repository.system_prompt(id),
  generation_prompt_id integer NOT NULL REFERENCES text_repository.generation_prompt(id),
  form_id integer NOT NULL REFERENCES text_repository.form(id),
  mapping_emotion_form_id integer NOT NULL REFERENCES text_repository.mapping_emotion_form(id),
  style_id integer REFERENCES correction_script.style(id),
  theme_id integer REFERENCES correction_script.theme(id),
  key_expression_id integer REFERENCES correction_script.key_expression(id),
  speaker_id integer NOT NULL REFERENCES correction_script.speaker(id),
  etc text, example text NOT NULL, created_at timestamp, modified_at timestamp);
CREATE TABLE correction_script.generated_text (id serial PRIMARY KEY,
  creativity_id integer NOT NULL REFERENCES text_repository.creativity(id),
  length_id integer NOT NULL REFERENCES text_repository.length(id),
  example_id integer NOT NULL REFERENCES correction_script.example(id),
  etc text, generated_text text NOT NULL, created_at timestamp, modified_at timestamp);
CREATE TABLE correction_script.instruction_prompt (id serial PRIMARY KEY,
  type_id integer REFERENCES correction_script.correction_script_type(id), prompt text NOT NULL);
CREATE TABLE correction_script.train (id serial PRIMARY KEY,
  instruction_prompt_id integer REFERENCES correction_script.instruction_prompt(id),
  input text NOT NULL, output text NOT NULL, rejected text,
  generated_text_id integer REFERENCES correction_script.generated_text(id),
  created_at timestamp, modified_at timestamp, etc text);
"""

PASSAGE = "Today I cooked dinner for my family. We talked about our plans for the summer."
KOREAN = "오늘 나는 가족을 위해 저녁을 요리했다. 우리는 여름 계획에 대해 이야기했다."


def _answer(seed: str) -> str:
    return generate_offline_answer(PASSAGE, KOREAN, seed=seed)


def _rows(conn):
    insert = lambda sql, **values: conn.execute(text(sql), values)  # noqa: E731
    insert("INSERT INTO text_repository.form (form, description, speaker_num) "
           "VALUES ('일기', '하루를 기록하는 글', 1)")
    insert("INSERT INTO text_repository.emotion (emotion) VALUES ('기쁨')")
    insert("INSERT INTO text_repository.mapping_emotion_form (emotion_id, form_id, tone) VALUES (1, 1, '밝은')")
    insert("INSERT INTO text_repository.system_prompt (prompt) VALUES ('You write English texts.')")
    insert("INSERT INTO text_repository.generation_prompt (prompt) VALUES "
           "('### 목적 ###\n{form_form} ({form_description}) 형태의 글을 {mapping_emotion_form_tone} 어조로 쓰세요.\n"
           "### 예시 ###\n{example_example}')")
    insert("INSERT INTO text_repository.creativity (degree, description) VALUES (0.7, '보통')")
    insert("INSERT INTO text_repository.length (length) VALUES (512)")
    insert("INSERT INTO correction_script.correction_script_type (type) VALUES ('교정')")
    insert("INSERT INTO correction_script.speaker (speaker) VALUES ('대학생')")
    insert("INSERT INTO correction_script.style (style) VALUES ('친근한')")
    insert("INSERT INTO correction_script.theme (theme) VALUES (:theme)", theme=THEME)
    insert("INSERT INTO correction_script.instruction_prompt (type_id, prompt) VALUES (1, '교정해 주세요')")
    example = ("INSERT INTO correction_script.example (creativity_id, length_id, system_prompt_id, "
               "generation_prompt_id, form_id, mapping_emotion_form_id, style_id, theme_id, "
               "key_expression_id, speaker_id, example, created_at) VALUES "
               "(1, 1, 1, 1, 1, 1, :style, :theme, NULL, 1, :example, :at)")
    insert(example, style=1, theme=1, example=PASSAGE, at="2025-05-08 09:00")
    insert(example, style=None, theme=None, example=PASSAGE, at="2025-05-09 09:00")
    generated = ("INSERT INTO correction_script.generated_text (creativity_id, length_id, example_id, "
                 "generated_text, created_at) VALUES (1, 1, :example, :text, :at)")
    insert(generated, example=1, text=_answer("a"), at="2025-05-08 10:00")
    insert(generated, example=1, text="Sorry, I cannot help with that.", at="2025-05-08 10:01")
    insert(generated, example=2, text=_answer("b"), at="2025-05-09 10:00")
    train = ("INSERT INTO correction_script.train (instruction_prompt_id, input, output, rejected, "
             "generated_text_id, created_at) VALUES (1, :input, :output, :rejected, :gt, :at)")
    first = _answer("a")
    insert(train, input=first.split("#####")[0], output=first, rejected=None, gt=1, at="2025-05-08 11:00")
    own = _answer("c")
    insert(train, input=own.split("#####")[0], output=own, rejected=None, gt=None, at="2025-05-10 11:00")
    insert(train, input="x", output="edited by hand", rejected="a worse answer", gt=3, at="2025-05-09 11:00")


@pytest.fixture
def legacy_url(pg_url):
    with scratch_database(pg_url, "legacy") as url:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text(DDL))
            _rows(conn)
        engine.dispose()
        yield url


def _import(env, *args, source="copy-a"):
    return subprocess.run([sys.executable, "-m", "correctly_assets.cli.legacy_import",
                           "--source", source, *args],
                          env=env, capture_output=True, text=True, timeout=300)


def test_an_original_database_is_imported_as_partitions_idempotently(legacy_url, cli_env, store, tmp_path):
    home = Path(cli_env["DAGSTER_HOME"])
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**cli_env, "CORRECTLY_LEGACY_DATABASE_URL": legacy_url}
    done = _import(env)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["partitions"] == [f"2025-05-08|{THEME}", "2025-05-09|no-theme", "2025-05-10|no-theme"]
    assert (summary["generated_texts"], summary["accepted"], summary["unparseable"]) == (4, 3, 1)
    assert summary["train_rows"] == 3 and summary["train_rows_output_differs"] == [3]
    assert summary["rejected_filled"] == 1 and summary["themes_registered"] is True
    assert "CORRECTLY_FIRST_PARTITION_DATE=2025-05-08" in done.stderr
    assert legacy_url not in done.stdout + done.stderr

    texts = store.load_generated_texts("2025-05-08", THEME)
    assert [t.prompt_id for t in texts] == ["legacy-copy-a-generated_text-1", "legacy-copy-a-generated_text-2"]
    assert texts[0].parsed.after and texts[0].model == "original-correctly"
    assert texts[1].parsed is None and texts[1].rejection_reason.startswith("unparseable answer")
    assert set(store.load_embeddings("2025-05-08", THEME)) == {"legacy-copy-a-generated_text-1"}
    prompt, _ = store.load_prompt_examples("2025-05-08", THEME)  # one per generated text
    assert (prompt.speaker, prompt.style, prompt.example) == ("대학생", "친근한", PASSAGE)
    assert (prompt.temperature, prompt.max_tokens) == (0.7, 512)
    assert store.load_generated_texts("2025-05-10", "no-theme")[0].prompt_id == "legacy-copy-a-train-2"
    assert summary["source"] == "copy-a" and "/legacy/copy-a/" in summary["reference"]
    reference = json.loads(Path(summary["reference"]).read_text())
    assert reference["correction_script.theme"] == [{"id": 1, "theme": THEME}]

    # Twice: the same rows, nothing doubled.
    dumped = [t.model_dump() for d, th in (("2025-05-08", THEME), ("2025-05-09", "no-theme"))
              for t in store.load_generated_texts(d, th)]
    again = _import(env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout)["generated_texts"] == 4
    assert store.count_rows("generated_text") == 4 and store.count_rows("prompt_example") == 3
    assert dumped == [t.model_dump() for d, th in (("2025-05-08", THEME), ("2025-05-09", "no-theme"))
                      for t in store.load_generated_texts(d, th)]

    # The imported partition goes on through the pipeline: train_split makes its train rows.
    partition_env = {**env, "CORRECTLY_FIRST_PARTITION_DATE": "2025-05-01"}
    split = subprocess.run([DAGSTER, "asset", "materialize", "-m", "correctly_assets.definitions",
                            "--select", "train_split", "--partition", f"2025-05-08|{THEME}"],
                           env=partition_env, capture_output=True, text=True, timeout=300)
    assert split.returncode == 0, split.stdout[-3000:] + split.stderr[-3000:]
    [row] = store.load_train_examples(partition=("2025-05-08", THEME))
    assert row.prompt_id == "legacy-copy-a-generated_text-1"

    # A partition holding this project's own rows is not overwritten unless asked.
    own = GeneratedText(prompt_id="own-1", date="2025-05-09", theme="no-theme", raw_answer="x",
                        model="m", rejection_reason="unparseable answer: x")
    store.replace_generated_texts("2025-05-09", "no-theme", [own])
    refused = _import(env)
    assert refused.returncode == 1 and "2025-05-09|no-theme (1 rows)" in refused.stderr
    assert [t.prompt_id for t in store.load_generated_texts("2025-05-09", "no-theme")] == ["own-1"]
    assert _import(env, "--replace").returncode == 0
    assert [t.prompt_id for t in store.load_generated_texts("2025-05-09", "no-theme")] == [
        "legacy-copy-a-generated_text-3"]


def test_a_database_of_another_shape_is_refused_naming_what_is_missing(pg_url, cli_env, store):
    with scratch_database(pg_url, "other") as url:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text(DDL.split("CREATE TABLE correction_script.correction_script_type")[0]))
            conn.execute(text("CREATE TABLE correction_script.theme (id serial PRIMARY KEY, name varchar)"))
        engine.dispose()
        refused = _import({**cli_env, "CORRECTLY_LEGACY_DATABASE_URL": url})
        assert refused.returncode == 1
        assert "not an original Correctly database" in refused.stderr
        assert "no table correction_script.train" in refused.stderr
        assert "no column correction_script.theme.theme" in refused.stderr
        assert store.count_rows("generated_text") == 0
        missing = _import({k: v for k, v in cli_env.items() if k != "CORRECTLY_LEGACY_DATABASE_URL"})
        assert missing.returncode == 2 and "CORRECTLY_LEGACY_DATABASE_URL" in missing.stderr


def test_a_connection_error_names_what_failed_without_the_password():
    from correctly_assets.store.legacy import read_legacy_database

    with pytest.raises(ConnectionError) as caught:
        read_legacy_database("postgresql://importer:s3cret-Pass-0123@127.0.0.1:9/text_generation")
    assert "reading the original database failed: OperationalError" in str(caught.value)
    assert "s3cret-Pass-0123" not in str(caught.value)


@pytest.mark.adversarial
def test_a_database_that_accepts_and_never_answers_fails_within_its_deadline():
    """A port that accepts connections and says nothing: the import and the store each give
    up within libpq's connect deadline, naming what failed, instead of hanging."""
    import socket
    import time

    from correctly_assets.store import CorrectionStore
    from correctly_assets.store.correction_store import CONNECT_TIMEOUT_S
    from correctly_assets.store.legacy import read_legacy_database

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nobody ever answers
        url = f"postgresql://importer:s3cret@127.0.0.1:{silent.getsockname()[1]}/text_generation"
        started = time.monotonic()
        with pytest.raises(ConnectionError, match="reading the original database failed") as caught:
            read_legacy_database(url)
        assert time.monotonic() - started < CONNECT_TIMEOUT_S + 10
        assert "s3cret" not in str(caught.value)
        store = CorrectionStore.connect(url)
        started = time.monotonic()
        with pytest.raises(Exception, match="timeout"):
            store.create_schema()
        assert time.monotonic() - started < CONNECT_TIMEOUT_S + 10
        store.dispose()


HOSTILE = """
ALTER TABLE correction_script.train DROP CONSTRAINT train_generated_text_id_fkey;
ALTER TABLE correction_script.generated_text DROP CONSTRAINT generated_text_pkey;
ALTER TABLE correction_script.generated_text ALTER COLUMN id DROP NOT NULL;
ALTER TABLE correction_script.generated_text ALTER COLUMN generated_text DROP NOT NULL;
ALTER TABLE text_repository.length ALTER COLUMN length TYPE bigint;
"""


@pytest.fixture
def hostile_legacy_url(pg_url):
    """A second original database, its constraints loosened, holding what the store cannot:
    a NULL text, a repeated id, a NULL id, a 5 MB answer, infinite dates, a bigint length.
    Its ids start at 1, as every published copy's do."""
    with scratch_database(pg_url, "legacy_b") as url:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text(DDL))
            _rows(conn)
            conn.execute(text(HOSTILE))
            conn.execute(text("INSERT INTO text_repository.length (length) VALUES (3000000000)"))
            generated = ("INSERT INTO correction_script.generated_text (id, creativity_id, "
                         "length_id, example_id, generated_text, created_at) VALUES "
                         "(:id, 1, :length, 1, :text, :at)")
            for row in ({"id": 4, "length": 1, "text": None, "at": "2025-05-08 12:00"},
                        {"id": 5, "length": 1, "text": _answer("d"), "at": "2025-05-08 12:00"},
                        {"id": 5, "length": 1, "text": _answer("e"), "at": "2025-05-08 12:00"},
                        {"id": None, "length": 1, "text": _answer("f"), "at": "2025-05-08 12:00"},
                        {"id": 6, "length": 1, "text": "x" * 5_100_000, "at": "2025-05-08 12:00"},
                        {"id": 7, "length": 1, "text": _answer("g"), "at": "infinity"},
                        {"id": 8, "length": 1, "text": _answer("h"), "at": "-infinity"},
                        {"id": 9, "length": 2, "text": _answer("i"), "at": "2025-05-08 12:00"}):
                conn.execute(text(generated), row)
        engine.dispose()
        yield url


@pytest.mark.adversarial
def test_every_row_is_checked_and_a_second_database_keeps_the_first(
        legacy_url, hostile_legacy_url, cli_env, store):
    assert _import({**cli_env, "CORRECTLY_LEGACY_DATABASE_URL": legacy_url}).returncode == 0
    first = {t.prompt_id for t in store.load_generated_texts("2025-05-08", THEME)}
    done = _import({**cli_env, "CORRECTLY_LEGACY_DATABASE_URL": hostile_legacy_url},
                   source="copy-b")
    assert done.returncode == 1, done.stderr[-3000:]  # imported, with problems named
    summary = json.loads(done.stdout)
    where = "correction_script.generated_text"
    for problem in (f"{where} id=4: generated_text is empty (NULL or blank); left out",
                    f"{where} id=5: the id appears 2 times; every row with it is left out",
                    f"{where}: a row with no id (NULL); left out",
                    f"{where} id=7: created_at 9999-12-31 is not a date",
                    f"{where} id=8: created_at 0001-01-01 is not a date",
                    f"{where} id=9: length 3000000000 is more than the store holds"):
        assert any(p.startswith(problem) for p in summary["problems"]), (problem, summary["problems"])
    assert not any(p.split("|")[0] in ("9999-12-31", "0001-01-01") for p in summary["partitions"])
    texts = {t.prompt_id: t for t in store.load_generated_texts("2025-05-08", THEME)}
    # The first database's rows stay beside the second's: the same ids, two namespaces.
    assert first <= set(texts)
    assert {"legacy-copy-b-generated_text-1", "legacy-copy-b-generated_text-6",
            "legacy-copy-b-generated_text-9"} <= set(texts)
    huge = texts["legacy-copy-b-generated_text-6"]
    assert len(huge.raw_answer) == 20_000 and "5,100,000 characters" in huge.rejection_reason
    [prompt] = [p for p in store.load_prompt_examples("2025-05-08", THEME, with_rejected=True)
                if p.prompt_id == "legacy-copy-b-generated_text-9"]
    assert prompt.max_tokens is None
    # Again: the same rows, the first database's still there.
    before = sorted(t.model_dump_json() for t in texts.values())
    assert _import({**cli_env, "CORRECTLY_LEGACY_DATABASE_URL": hostile_legacy_url},
                   source="copy-b").returncode == 1
    assert sorted(t.model_dump_json() for t in store.load_generated_texts("2025-05-08", THEME)) == before


@pytest.mark.adversarial
def test_a_url_of_another_database_is_refused_naming_the_original():
    from correctly_assets.store.legacy import read_legacy_database

    with pytest.raises(ValueError, match="the original database is PostgreSQL, got a 'sqlite' URL"):
        read_legacy_database("sqlite:///x.db")
