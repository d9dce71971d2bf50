"""DPO with TRL on rule-made pairs: on held-out pairs (passages never trained on), the model
prefers the chosen answer more after training than before, measured, not by construction."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from mlflow import MlflowClient

from correctly_assets.domain.answer_format import parse_answer
from correctly_assets.llm.offline_generator import generate_offline_answer
from correctly_assets.domain.chat_format import to_messages
from correctly_assets.domain.models import TrainExample
from correctly_assets.domain.preferences import pair_for
from correctly_assets.inputs.single.spec import build_theme_specs
from correctly_assets.inputs.single.workbook import read_workbook
from correctly_assets.resources.files import SAMPLE_WORKBOOK
from correctly_assets.training.dpo import PreferenceConfig, read_pairs, run_preference_training
from correctly_assets.training.tracking import last_complete_checkpoint
from correctly_assets.training.tiny_model import build_tiny_model

pytestmark = pytest.mark.integration


def _pairs(passages, seeds):
    """Rule-made pairs, in TRL's format, for the offline generator's answers."""
    pairs = []
    for passage in passages:
        for seed in seeds:
            chosen = parse_answer(generate_offline_answer(passage.text, passage.korean, seed=seed))
            example = TrainExample(prompt_id=f"{passage.text}|{seed}", date="2026-01-01",
                                   theme="t", split="train", group="g", messages=to_messages(chosen))
            pairs.append(pair_for(example, ["rule"], answer=chosen).as_trl())
    return pairs


def _write(path, pairs):
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")
    return str(path)


def test_dpo_moves_the_held_out_reward_margin_up(tmp_path):
    specs = build_theme_specs(read_workbook(SAMPLE_WORKBOOK)).values()
    held_out = [spec.examples[0] for spec in specs]
    trained_on = [example for spec in specs for example in spec.examples[1:]]
    config = PreferenceConfig(
        model_dir=str(build_tiny_model(tmp_path / "tiny")),
        train_file=_write(tmp_path / "train.jsonl", _pairs(trained_on, ["a", "b", "c", "d"])),
        validation_file=_write(tmp_path / "held_out.jsonl", _pairs(held_out, ["e", "f", "g", "h"])),
        output_dir=str(tmp_path / "out"), max_steps=30, learning_rate=1e-3, beta=0.1)
    result = run_preference_training(config)
    (margin_before, margin_after), (accuracy_before, accuracy_after) = result.margin, result.accuracy
    # before training the model is its own reference: no margin, no pair preferred
    assert margin_before == pytest.approx(0.0, abs=1e-6) and accuracy_before == 0.0
    assert margin_after > 0.5 and accuracy_after > 0.7, (result.margin, result.accuracy)
    assert (result.model_dir / "model.safetensors").exists()
    assert (result.model_dir / "chat_format.json").exists()


def test_pairs_that_are_not_preferences_are_refused(tmp_path):
    same = {"prompt": [{"role": "user", "content": "x"}],
            "chosen": [{"role": "assistant", "content": "y"}],
            "rejected": [{"role": "assistant", "content": "y"}]}
    with pytest.raises(ValueError, match="line 1: chosen and rejected are the same"):
        read_pairs(_write(tmp_path / "p.jsonl", [same]))
    with pytest.raises(ValueError, match="line 1: a pair needs non-empty prompt"):
        read_pairs(_write(tmp_path / "q.jsonl", [{**same, "rejected": []}]))
    with pytest.raises(ValueError, match="loss_type must be one of"):
        PreferenceConfig(model_dir="m", train_file="t", output_dir="o", loss_type="best")


def test_a_killed_dpo_training_resumes_from_its_checkpoint_into_the_same_run(tmp_path):
    specs = list(build_theme_specs(read_workbook(SAMPLE_WORKBOOK)).values())
    passages = [example for spec in specs for example in spec.examples]
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = {"model_dir": str(build_tiny_model(tmp_path / "tiny")),
            "train_file": _write(tmp_path / "train.jsonl", _pairs(passages[4:], ["a", "b"])),
            "validation_file": _write(tmp_path / "held_out.jsonl", _pairs(passages[:4], ["c"])),
            "output_dir": str(tmp_path / "out"), "max_steps": 40, "save_steps": 5,
            "logging_steps": 1, "per_device_batch_size": 2, "learning_rate": 1e-4,
            "mlflow_tracking_uri": tracking_uri}
    command = [sys.executable, "-m", "correctly_assets.training.dpo",
               *(f"--{k}={v}" for k, v in args.items())]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
    checkpoints, deadline = tmp_path / "out" / "checkpoints", time.monotonic() + 300
    while last_complete_checkpoint(checkpoints) is None:
        assert first.poll() is None, first.communicate()[0][-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)  # the lost process: no cleanup
    first.wait()
    killed_at = last_complete_checkpoint(checkpoints)
    run_id = (tmp_path / "out" / "mlflow_run_id").read_text().strip()
    assert int(killed_at.name.split("-")[1]) < 40

    result = run_preference_training(PreferenceConfig(**args))
    assert result.resumed_from_checkpoint == str(killed_at)
    assert result.mlflow_run_id == run_id and result.global_step == 40
    run = MlflowClient(tracking_uri).get_run(run_id)
    assert run.info.status == "FINISHED"
    # "before" is the first attempt's, read back from the run, not the resumed model's
    assert result.margin[0] == run.data.metrics["held_out_margin_before"] == pytest.approx(0, abs=1e-6)
    steps = [m.step for m in MlflowClient(tracking_uri).get_metric_history(run_id, "loss")]
    assert steps[0] < int(killed_at.name.split("-")[1]) < steps[-1] == 40
