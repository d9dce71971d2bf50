"""The model path at gemma-3-1b's published size, on this machine's CPU: the plan the GPU
run is checked against (`make bench-real-size`; not in CI, it takes about 15 minutes).

gemma-3-1b's published shapes (Gemma3ForCausalLM: 26 layers, hidden 1152, MLP 6912, 4
query heads and 1 key-value head of 256, a 262,144-token vocabulary, tied embeddings,
sliding windows of 512 in five layers of six), randomly initialised: no weights are
downloaded. The tokenizer is a stand-in: a byte-level BPE learned here from the chats, with
Gemma's special tokens and Gemma 3's own chat template (TRL's copy of it; TRL swaps in its
training variant for the assistant-only loss). Token counts are therefore this tokenizer's,
printed beside the characters.

The chats have the original's real answer lengths (1,356 to 2,707 characters, about a
quarter Hangul), in the Korean chat format. Each stage runs through the project's own
entry points, each in a process of its own so its peak memory is its own:

  sft-lora   run_training, LoRA, a few steps; the adapters merged and the model saved
  sft-full   run_training, full fine-tuning: only where its estimated memory fits
  dpo        run_preference_training from the SFT model, LoRA, a few steps
  registry   the model logged to an MLflow store and registered as a version
  serve      that version loaded by alias through serving's load_service; one answer

Printed: seconds per optimiser step, peak resident memory, the model's and checkpoints'
size on disk, and from these the A100 plan for one epoch of the original's data volume.

    .venv/bin/python benchmarks/real_size.py [--steps 2] [--batch 2] [--chats 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from correctly_assets.domain.chat_format import to_messages
from correctly_assets.domain.models import CorrectionPoint, Edit, ParsedAnswer

# gemma-3-1b's published configuration (its config.json), less its weights.
GEMMA3_1B = dict(vocab_size=262_144, hidden_size=1152, intermediate_size=6912,
                 num_hidden_layers=26, num_attention_heads=4, num_key_value_heads=1,
                 head_dim=256, max_position_embeddings=32_768, sliding_window=512,
                 query_pre_attn_scalar=256, tie_word_embeddings=True)
# --smoke: the same path at toy shapes, to check the script itself (the test suite runs it).
SMOKE = dict(GEMMA3_1B, vocab_size=8192, hidden_size=64, intermediate_size=128,
             num_hidden_layers=6, head_dim=16, max_position_embeddings=4096)
SLIDING_PATTERN = 6  # every sixth layer attends globally
SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
# The original's real answers (characters), and how much of the volume one epoch is: a
# 90-day backfill of the original's own grid, 45 combinations x 7 themes a day.
ANSWER_CHARS = (1356, 2707)
ORIGINAL_EPOCH_CHATS = 45 * 7 * 90
A100_BF16_PEAK = 312e12  # dense bf16 FLOP/s (NVIDIA's datasheet)
ASSUMED_MFU = 0.35  # the low end of published recipes at this scale; measured on a GPU later

_SENTENCES = (
    ("Yesterday I go to the market with my 친구.", "Yesterday I went to the market with my friend.",
     "go", "went", "어제 일어난 일이므로 과거형 went를 써야 합니다. 친구는 friend로 바꿉니다."),
    ("There was many people in the 도서관.", "There were many people in the library.",
     "was", "were", "주어 people이 복수이므로 동사도 복수형 were가 되어야 합니다."),
    ("I am interesting in music since long time.", "I have been interested in music for a long time.",
     "am interesting", "have been interested", "사람의 감정은 interested로 표현하고, 기간은 for와 현재완료로 나타냅니다."),
    ("We discussed about the plan before the 회의.", "We discussed the plan before the meeting.",
     "discussed about", "discussed", "discuss는 타동사이므로 about 없이 바로 목적어를 씁니다."),
    ("My teacher is very nice, but sometimes she is strict to us.",
     "My teacher is very nice, but sometimes she can be strict with us.",
     "strict to", "strict with", "strict는 사람에 대해 말할 때 with와 함께 씁니다."),
    ("After school I go home and I watch 드라마 until late.",
     "After school, I went home and watched dramas until late.",
     "go home and I watch", "went home and watched", "시제를 과거로 맞추고 반복되는 주어는 생략하면 자연스럽습니다."),
)
_TRANSLATION = "어제 나는 친구와 함께 시장에 갔고, 사람들이 정말 많았어요. 나는 오랫동안 음악에 관심이 있었어요."


def _answer(rng: random.Random, target_chars: int) -> ParsedAnswer:
    """A Korean-format answer of about `target_chars` characters (sections and all)."""
    picked, points = [], []
    while True:
        sentence = rng.choice(_SENTENCES)
        picked.append(sentence)
        points.append(CorrectionPoint(number=len(points) + 1, label="문법",
                                      edits=(Edit(before=sentence[2], after=sentence[3]),),
                                      explanation=sentence[4]))
        answer = ParsedAnswer(before=" ".join(s[0] for s in picked), after=" ".join(s[1] for s in picked),
                              translation=" ".join([_TRANSLATION] * (1 + len(picked) // 3)),
                              points=tuple(points))
        if len(_reply(answer)) >= target_chars:
            return answer


def _reply(answer: ParsedAnswer) -> str:
    return to_messages(answer)[-1]["content"]


def chats(count: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [{"messages": list(to_messages(_answer(rng, rng.randint(*ANSWER_CHARS))))}
            for _ in range(count)]


def build(workdir: Path, count: int, shapes: dict) -> dict:
    """The base model (random, gemma-3-1b's shapes, bf16 on disk as published), its stand-in
    tokenizer, the train chats and the preference pairs."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, PreTrainedTokenizerFast
    import trl

    rows = chats(count)
    corpus = [m["content"] for row in rows for m in row["messages"]]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=8192, special_tokens=SPECIALS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", eos_token="<eos>",
                                        bos_token="<bos>", unk_token="<unk>")
    tokenizer.chat_template = (Path(trl.__file__).parent / "chat_templates" / "gemma3.jinja").read_text()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIALS}
    layer_types = ["full_attention" if (i + 1) % SLIDING_PATTERN == 0 else "sliding_attention"
                   for i in range(shapes["num_hidden_layers"])]
    config = Gemma3TextConfig(**shapes, layer_types=layer_types, pad_token_id=ids["<pad>"],
                              eos_token_id=[ids["<eos>"], ids["<end_of_turn>"]],
                              bos_token_id=ids["<bos>"])
    torch.manual_seed(0)
    model = Gemma3ForCausalLM(config).to(torch.bfloat16)
    model.generation_config.eos_token_id = [ids["<eos>"], ids["<end_of_turn>"]]
    model.generation_config.pad_token_id = ids["<pad>"]
    base = workdir / "base"
    model.save_pretrained(base)
    tokenizer.save_pretrained(base)
    parameters = sum(p.numel() for p in model.parameters())

    train = workdir / "train.jsonl"
    train.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    # Rejected: the learner's text left uncorrected, the rest of the answer kept.
    pairs = []
    for row in rows:
        chosen = row["messages"][-1]["content"]
        corrected = chosen.split("### 교정 후 ###\n", 1)[1].split("\n", 1)[0]
        learner = row["messages"][1]["content"].split("\n", 1)[1]
        pairs.append({"prompt": row["messages"][:2], "chosen": [row["messages"][-1]],
                      "rejected": [{"role": "assistant", "content": chosen.replace(corrected, learner, 1)}]})
    (workdir / "pairs.jsonl").write_text(
        "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")

    answer_chars = [len(r["messages"][-1]["content"]) for r in rows]
    longest_tokens = max(len(tokenizer.apply_chat_template(r["messages"], tokenize=True,
                                                           return_dict=True)["input_ids"]) for r in rows)
    hangul = sum(sum("\uac00" <= ch <= "\ud7a3" for ch in r["messages"][-1]["content"]) for r in rows)
    return {"parameters": parameters, "chats": len(rows), "longest_tokens": longest_tokens,
            "answer_chars": [min(answer_chars), sorted(answer_chars)[len(rows) // 2], max(answer_chars)],
            "hangul_share": round(hangul / sum(answer_chars), 3),
            "chars_per_token": round(sum(answer_chars) / sum(
                len(tokenizer(r["messages"][-1]["content"])["input_ids"]) for r in rows), 2)}


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def _steps_seconds(tracking_uri: str, run_id: str, steps: int) -> float:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri).get_run(run_id).data.metrics["train_runtime"] / steps


def stage(name: str, workdir: Path, args) -> dict:
    """One stage, in this process (started by `measure`)."""
    tracking_uri = f"sqlite:///{workdir / 'mlflow.db'}"
    if name == "build":
        return build(workdir, args.chats, SMOKE if args.smoke else GEMMA3_1B)
    if name.startswith("sft"):
        from correctly_assets.training import TrainingConfig, run_training

        lora = name == "sft-lora"
        result = run_training(TrainingConfig(
            base_model=str(workdir / "base"), train_file=str(workdir / "train.jsonl"),
            output_dir=str(workdir / name), use_lora=lora, max_steps=args.steps,
            per_device_batch_size=args.batch, save_steps=args.steps, logging_steps=1,
            mlflow_tracking_uri=tracking_uri, run_name=name))
        return {"seconds_per_step": _steps_seconds(tracking_uri, result.mlflow_run_id, args.steps),
                "lengths": result.lengths, "max_answer_tokens": result.max_answer_tokens,
                "model_bytes": _size(result.model_dir),
                "checkpoint_bytes": _size(workdir / name / "checkpoints"),
                "run_id": result.mlflow_run_id}
    if name == "dpo":
        from correctly_assets.training.dpo import PreferenceConfig, run_preference_training

        result = run_preference_training(PreferenceConfig(
            model_dir=str(workdir / "sft-lora" / "model"), train_file=str(workdir / "pairs.jsonl"),
            output_dir=str(workdir / "dpo"), use_lora=True, max_steps=args.steps,
            per_device_batch_size=args.batch, save_steps=args.steps, logging_steps=1,
            mlflow_tracking_uri=tracking_uri, run_name="dpo"))
        return {"seconds_per_step": _steps_seconds(tracking_uri, result.mlflow_run_id, args.steps),
                "lengths": result.lengths, "model_bytes": _size(result.model_dir),
                "checkpoint_bytes": _size(workdir / "dpo" / "checkpoints")}
    if name == "registry":
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri)
        run_id = json.loads((workdir / "sft-lora.json").read_text())["run_id"]
        started = time.perf_counter()
        client.create_registered_model("correctly")
        version = client.create_model_version(
            "correctly", source=f"{client.get_run(run_id).info.artifact_uri}/model", run_id=run_id)
        client.set_registered_model_alias("correctly", "candidate", version.version)
        return {"seconds": time.perf_counter() - started, "version": int(version.version)}
    if name == "serve":
        from correctly_assets.evaluation.corrector import generation_budget
        from correctly_assets.serving.model_source import ServingSettings, load_service

        started = time.perf_counter()
        # One answer: a batch of one, the KV cache sized for it.
        service = load_service(ServingSettings(tracking_uri=tracking_uri, alias="candidate",
                                               max_new_tokens=args.new_tokens, max_active=1))
        loaded = time.perf_counter() - started
        started = time.perf_counter()

        async def answer():
            try:
                return await service.correct("Yesterday I go to the market with my 친구.")
            finally:
                await service.backend.close()

        reply = asyncio.run(answer())
        return {"load_seconds": loaded, "answer_seconds": time.perf_counter() - started,
                "new_tokens": args.new_tokens, "cut_off": reply.cut_off,
                "budget_from_model": generation_budget(workdir / "sft-lora" / "model")}
    raise ValueError(f"unknown stage {name!r}")


def measure(name: str, workdir: Path, args) -> dict:
    """Runs a stage in a process of its own: its result, wall seconds and peak memory."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, __file__, "--stage", name, "--workdir", str(workdir),
                                "--steps", str(args.steps), "--batch", str(args.batch),
                                "--chats", str(args.chats), "--new-tokens", str(args.new_tokens),
                                *(["--smoke"] if args.smoke else [])])
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"stage {name} failed (exit {os.waitstatus_to_exitcode(status)})")
    result = json.loads((workdir / f"{name}.json").read_text())
    return {**result, "wall_seconds": time.perf_counter() - started,
            "peak_rss_gib": usage.ru_maxrss / 2**20}


def _full_fit(parameters: int, tokens: int, vocab: int) -> tuple[bool, float, float]:
    """(fits?, GiB needed, GiB available): fp32 weights, gradients and AdamW's two moments
    are 16 bytes a parameter; the logits of a batch over the whole vocabulary, with their
    log-softmax and gradient, 12 bytes a token and entry; other activations (recomputed)
    and the allocator's slack take the 30% margin."""
    needed = (parameters * 16 + tokens * vocab * 12) / 2**30
    available = next(int(line.split()[1]) for line in open("/proc/meminfo")
                     if line.startswith("MemAvailable")) / 2**20
    return needed * 1.3 < available, needed, available


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--chats", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=16,
                        help="the served answer's tokens (a random model never ends its turn)")
    parser.add_argument("--smoke", action="store_true", help="toy shapes: checks the script")
    parser.add_argument("--stage")
    parser.add_argument("--workdir")
    args = parser.parse_args()
    if args.stage:  # one stage, in a process of its own
        workdir = Path(args.workdir)
        (workdir / f"{args.stage}.json").write_text(json.dumps(stage(args.stage, workdir, args)))
        return

    with tempfile.TemporaryDirectory(prefix="correctly-real-size-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        # Built in a process of its own too: a child's peak memory starts from its parent's.
        data = measure("build", workdir, args)
        print(f"{'toy (--smoke)' if args.smoke else 'gemma-3-1b'} shapes, random: {data['parameters'] / 1e9:.2f} B parameters, "
              f"{_size(workdir / 'base') / 2**30:.2f} GiB in bf16 (built in "
              f"{time.perf_counter() - started:.0f} s)")
        print(f"{data['chats']} chats: answers of {data['answer_chars'][0]:,} / "
              f"{data['answer_chars'][1]:,} / {data['answer_chars'][2]:,} characters (min / "
              f"median / max), {data['hangul_share']:.0%} Hangul; the stand-in tokenizer reads "
              f"{data['chars_per_token']} characters a token", flush=True)
        results = {}
        shapes = SMOKE if args.smoke else GEMMA3_1B
        fits, needed, available = _full_fit(data["parameters"], args.batch * data["longest_tokens"],
                                            shapes["vocab_size"])
        stages = ["sft-lora", *(["sft-full"] if fits else []), "dpo", "registry", "serve"]
        for name in stages:
            results[name] = measure(name, workdir, args)
            print(f"  {name:<9} {json.dumps({k: (round(v, 2) if isinstance(v, float) else v) for k, v in results[name].items() if k != 'run_id'})}", flush=True)
        if not fits:
            print(f"  sft-full  not run: fp32 weights, gradients, AdamW moments and one batch's "
                  f"logits need {needed:.1f} GiB before other activations, and "
                  f"{available:.1f} GiB is available")
        sft = results["sft-lora"]
        lengths = sft["lengths"]
        tokens_per_chat = lengths["p50"]
        epoch_tokens = ORIGINAL_EPOCH_CHATS * tokens_per_chat
        # LoRA with activation checkpointing: forward, recomputed forward, and the backward's
        # activation gradients (no weight gradients for the frozen base): about 6N a token;
        # full fine-tuning adds the weight gradients: 8N.
        for label, flops_per_token in (("LoRA", 6), ("full", 8)):
            seconds = epoch_tokens * flops_per_token * data["parameters"] / (A100_BF16_PEAK * ASSUMED_MFU)
            print(f"A100 plan, {label}: one epoch of the original's volume ({ORIGINAL_EPOCH_CHATS:,} "
                  f"chats x {tokens_per_chat} tokens, the median here) = {epoch_tokens / 1e6:.1f} M "
                  f"tokens; at {ASSUMED_MFU:.0%} of 312 TFLOP/s: {seconds / 60:.0f} min")
        print(f"max_length sized from the data: {lengths['max_length']} (longest chat "
              f"{lengths['longest']}, p99 {lengths['p99']}); generation budget "
              f"{results['serve']['budget_from_model']} new tokens (longest answer "
              f"{sft['max_answer_tokens']} + 25%)")
        print(f"peak memory here (fp32 on CPU): SFT LoRA {sft['peak_rss_gib']:.1f} GiB, DPO "
              f"{results['dpo']['peak_rss_gib']:.1f} GiB: an A100 80GB holds either with room; "
              f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
