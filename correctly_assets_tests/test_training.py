"""Supervised fine-tuning with the tiny local model: building it, a short run tracked in
MLflow, and resuming the same run after the trainer is killed mid-way."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from correctly_assets.domain.chat_format import KOREAN_INSTRUCTION, read_chat_format, to_messages
from correctly_assets.domain.models import CorrectionPoint, Edit, ParsedAnswer
from correctly_assets.training import TrainingConfig, build_tiny_model, run_training
from correctly_assets.training.sft import read_chats
from correctly_assets.training.tracking import last_complete_checkpoint

pytestmark = pytest.mark.integration

_SUBJECTS = ("I", "We", "They", "My friend", "She", "He", "My sister", "Our teacher")
_PLACES = ("school", "the market", "the library", "church", "the park")


def _chat(i: int) -> dict:
    subject, place = _SUBJECTS[i % len(_SUBJECTS)], _PLACES[i % len(_PLACES)]
    answer = ParsedAnswer(
        before=f"Yesterday {subject} go to {place}.",
        after=f"Yesterday {subject} went to {place}.",
        translation="어제 학교에 갔어요.",
        points=(CorrectionPoint(number=1, label="시제", edits=(Edit(before="go", after="went"),),
                                explanation="어제 일이므로 과거형을 씁니다."),),
    )
    return {"messages": list(to_messages(answer))}


def _write_chats(path: Path, count: int, start: int = 0) -> Path:
    path.write_text("".join(json.dumps(_chat(i), ensure_ascii=False) + "\n" for i in range(start, start + count)))
    return path


def _tracking_uri(output_dir: Path) -> str:
    return f"sqlite:///{output_dir / 'mlflow.db'}"


def _mlflow_client(output_dir: Path):
    from mlflow import MlflowClient

    return MlflowClient(_tracking_uri(output_dir))


def test_tiny_model_builds_once_and_masks_only_the_assistant_reply(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    directory = build_tiny_model(tmp_path / "tiny")
    weights = directory / "model.safetensors"
    built_at = weights.stat().st_mtime_ns
    assert build_tiny_model(directory) == directory
    assert weights.stat().st_mtime_ns == built_at  # reused, not rebuilt

    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForCausalLM.from_pretrained(directory)
    assert model.config.num_hidden_layers == 2
    assert model.config.vocab_size >= len(tokenizer)
    for text in ("I goes to school yesterday.", "어제 친구와 시장에 갔어요."):
        assert tokenizer.decode(tokenizer(text)["input_ids"]) == text

    messages = _chat(0)["messages"]
    rendered = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids, mask = rendered["input_ids"], rendered["assistant_masks"]
    assistant_ids = [i for i, m in zip(ids, mask) if m]
    other_ids = [i for i, m in zip(ids, mask) if not m]
    assert tokenizer.decode(assistant_ids) == messages[2]["content"] + tokenizer.eos_token
    assert KOREAN_INSTRUCTION in tokenizer.decode(other_ids)
    assert messages[1]["content"] in tokenizer.decode(other_ids)
    assert messages[2]["content"] not in tokenizer.decode(other_ids)


def test_chat_files_are_validated_line_by_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(_chat(0)) + "\n" + json.dumps({"messages": [
        {"role": "user", "content": "Hi"}]}) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:2: the last message must be the assistant's"):
        read_chats(bad)
    bad.write_text("{not json\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: not JSON"):
        read_chats(bad)
    with pytest.raises(ValueError, match="per_device_batch_size must be positive"):
        TrainingConfig(train_file="t.jsonl", output_dir="out", per_device_batch_size=0)


def test_short_run_learns_and_is_tracked_in_mlflow(tmp_path):
    from transformers import AutoModelForCausalLM

    output_dir = tmp_path / "out"
    config = TrainingConfig(
        train_file=str(_write_chats(tmp_path / "train.jsonl", 40)),
        validation_file=str(_write_chats(tmp_path / "validation.jsonl", 8, start=40)),
        output_dir=str(output_dir),
        max_steps=20, logging_steps=1, save_steps=10, eval_steps=10,
        mlflow_tracking_uri=_tracking_uri(output_dir),
    )
    result = run_training(config, lineage={"partitions": ["2024-01-01|travel"], "rows": 48})

    assert result.resumed_from_checkpoint is None
    assert (result.global_step, result.train_rows, result.validation_rows) == (20, 40, 8)
    assert result.model_dir == output_dir / "model"
    assert AutoModelForCausalLM.from_pretrained(result.model_dir).config.num_hidden_layers == 2
    assert read_chat_format(result.model_dir) == "ko"  # the corrector asks it in Korean
    assert (output_dir / "mlflow_run_id").read_text() == result.mlflow_run_id

    client = _mlflow_client(output_dir)
    run = client.get_run(result.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["max_steps"] == "20"
    assert run.data.params["effective_learning_rate"] == "0.0005"
    assert run.data.tags["lineage.rows"] == "48"
    losses = client.get_metric_history(result.mlflow_run_id, "loss")
    assert [m.step for m in losses] == list(range(1, 21))
    assert losses[0].value > losses[-1].value
    assert run.data.metrics["eval_loss"] == pytest.approx(result.eval_loss)
    artifacts = {a.path for a in client.list_artifacts(result.mlflow_run_id)}
    assert {"model", "lineage.json"} <= artifacts
    model_files = {a.path for a in client.list_artifacts(result.mlflow_run_id, "model")}
    assert "model/model.safetensors" in model_files


def test_killed_run_resumes_from_its_last_checkpoint_in_the_same_mlflow_run(tmp_path):
    output_dir = tmp_path / "out"
    command = [
        sys.executable, "-m", "correctly_assets.training",
        "--train-file", str(_write_chats(tmp_path / "train.jsonl", 40)),
        "--output-dir", str(output_dir),
        "--max-steps", "60", "--save-steps", "5", "--logging-steps", "1",
        "--mlflow-tracking-uri", _tracking_uri(output_dir),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while last_complete_checkpoint(output_dir / "checkpoints") is None:
        assert first.poll() is None, "the first run ended before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint within 60 s"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    assert first.wait() == -signal.SIGKILL  # killed mid-run, not finished
    checkpoint = last_complete_checkpoint(output_dir / "checkpoints")
    killed_at = int(checkpoint.name.removeprefix("checkpoint-"))
    assert 5 <= killed_at < 60
    run_id = (output_dir / "mlflow_run_id").read_text()

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr[-3000:]
    result = json.loads(second.stdout.strip().splitlines()[-1])
    assert result["resumed_from_checkpoint"] == str(checkpoint)
    assert result["global_step"] == 60
    assert result["mlflow_run_id"] == run_id
    assert f"Resuming from checkpoint {checkpoint}" in second.stderr

    client = _mlflow_client(output_dir)
    runs = client.search_runs([client.get_experiment_by_name("correctly").experiment_id])
    assert [r.info.run_id for r in runs] == [run_id]
    assert runs[0].info.status == "FINISHED"
    steps = {m.step for m in client.get_metric_history(run_id, "loss")}
    assert steps == set(range(1, 61))  # before the kill and after the resume


@pytest.mark.parametrize("base_model", ["/no/such/model", str(Path(__file__).parent)])
def test_a_base_model_that_cannot_be_loaded_is_a_clear_error(tmp_path, base_model):
    config = TrainingConfig(
        train_file=str(_write_chats(tmp_path / "train.jsonl", 4)), output_dir=str(tmp_path / "out"),
        base_model=base_model, max_steps=1, mlflow_tracking_uri=_tracking_uri(tmp_path),
    )
    with pytest.raises(RuntimeError, match=f"base model '{base_model}' could not be loaded.*HF_TOKEN"):
        run_training(config)


@pytest.mark.parametrize(
    ("change", "what"),
    [({"max_steps": 6}, "settings"), ({"learning_rate": 1e-3}, "settings"), ({}, "data")],
)
def test_stale_checkpoints_are_not_resumed(tmp_path, change, what):
    """Checkpoints from other settings or other data start over in a new MLflow run."""
    import dataclasses

    output_dir = tmp_path / "out"
    config = TrainingConfig(
        train_file=str(_write_chats(tmp_path / "train.jsonl", 8)), output_dir=str(output_dir),
        max_steps=4, save_steps=2, logging_steps=1, mlflow_tracking_uri=_tracking_uri(output_dir),
    )
    first = run_training(config)
    assert last_complete_checkpoint(output_dir / "checkpoints") is not None

    same = run_training(config)  # same everything: resumes, same run
    assert same.resumed_from_checkpoint and same.mlflow_run_id == first.mlflow_run_id

    if what == "data":
        _write_chats(tmp_path / "train.jsonl", 8, start=100)
    changed = dataclasses.replace(config, **change)
    again = run_training(changed)
    assert again.resumed_from_checkpoint is None
    assert again.mlflow_run_id != first.mlflow_run_id
    assert again.global_step == changed.max_steps
    client = _mlflow_client(output_dir)
    new_run = client.get_run(again.mlflow_run_id)
    assert new_run.data.tags["restarted_because"].startswith(
        "the base model, training settings or data differ")
    assert new_run.data.params["max_steps"] == str(changed.max_steps)  # not the old run's
    assert client.get_run(first.mlflow_run_id).data.tags["superseded_by"] == again.mlflow_run_id


def test_the_tiny_model_learns_its_copy_curriculum_before_the_fine_tune(tmp_path):
    """With tiny_curriculum_steps, output_dir/base_model is the tiny model after those
    steps on passages recombined from the train chats (not the freshly built one), made
    once: a rerun reuses it, and nothing of the curriculum's scaffolding is left."""
    from transformers import AutoModelForCausalLM

    output_dir = tmp_path / "out"
    config = TrainingConfig(
        train_file=str(_write_chats(tmp_path / "train.jsonl", 16)), output_dir=str(output_dir),
        max_steps=2, save_steps=10, tiny_curriculum_chats=32, tiny_curriculum_steps=3,
        mlflow_tracking_uri=_tracking_uri(output_dir))
    run_training(config)
    base = output_dir / "base_model"
    fresh = build_tiny_model(tmp_path / "fresh")
    taught = AutoModelForCausalLM.from_pretrained(base).state_dict()
    untouched = AutoModelForCausalLM.from_pretrained(fresh).state_dict()
    assert any(not (taught[k] == untouched[k]).all() for k in untouched)
    assert sorted(p.name for p in output_dir.iterdir() if p.name.startswith("base_model")) == [
        "base_model"]
    built_at = (base / "model.safetensors").stat().st_mtime_ns
    run_training(config)  # resumed: the curriculum is not run again
    assert (base / "model.safetensors").stat().st_mtime_ns == built_at
