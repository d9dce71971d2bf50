"""Packed training rows: each chat in a padding-free row must be computed exactly as if it
were alone, with the attention our fast training path uses (`attn_implementation="varlen"`);
and the training throughput benchmark runs end to end on a CPU."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from correctly_assets.training import TrainingConfig
from correctly_assets.training.packing import check_packed_attention, packed_attention
from correctly_assets.training.sft import prepare_model

pytestmark = pytest.mark.unit

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "train_throughput.py"
LENGTHS = (7, 30, 1, 19, 12)


def _tiny_qwen(attn_implementation: str):
    """Qwen2-shaped (grouped-query attention: 4 query heads share 2 key/value heads), tiny."""
    from transformers import AutoModelForCausalLM, Qwen2Config

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(Qwen2Config(
        vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        rope_theta=1e6, tie_word_embeddings=True))
    config = TrainingConfig(train_file="train.jsonl", output_dir="out",
                            attn_implementation=attn_implementation)
    return prepare_model(model, config).eval()


def _packed_batch(chats):
    """What TRL's collator gives our trainer for packed chats: one row, position_ids
    restarting per chat, the chats' boundaries, the first token of each chat unlabelled."""
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    return DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(
        [{"input_ids": chat} for chat in chats])


def _chats():
    generator = torch.Generator().manual_seed(1)
    return [torch.randint(0, 256, (n,), generator=generator).tolist() for n in LENGTHS]


def test_packed_attention_matches_causal_attention_over_each_chat_alone():
    errors = check_packed_attention(heads=4, kv_heads=2, head_dim=16, lengths=(5, 17, 1, 33, 2))
    assert max(errors.values()) < 1e-5, errors


def test_a_packed_row_gives_each_chat_the_logits_and_loss_it_has_alone():
    chats = _chats()
    batch = _packed_batch(chats)
    assert batch["cu_seq_lens_q"].tolist() == [0, 7, 37, 38, 57, 69]
    assert batch["position_ids"][0, 7:10].tolist() == [0, 1, 2]  # restarts per chat

    varlen, sdpa = _tiny_qwen("varlen"), _tiny_qwen("sdpa")
    with torch.no_grad():
        packed = varlen(**batch, use_cache=False)
        alone = [varlen(input_ids=torch.tensor([chat]), labels=torch.tensor([chat]), use_cache=False)
                 for chat in chats]
        alone_sdpa = torch.cat([sdpa(input_ids=torch.tensor([chat])).logits[0] for chat in chats])
        # The same row read as one long chat: what packing without per-chat attention does.
        contaminated = varlen(input_ids=batch["input_ids"], use_cache=False).logits[0]

    alone_logits = torch.cat([out.logits[0] for out in alone])
    torch.testing.assert_close(packed.logits[0], alone_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(packed.logits[0], alone_sdpa, atol=1e-5, rtol=1e-5)
    # A chat of n tokens predicts n - 1 of its own; the packed loss is the mean over all chats'.
    alone_loss = (sum(out.loss * (n - 1) for out, n in zip(alone, LENGTHS) if n > 1)
                  / (sum(LENGTHS) - len(LENGTHS)))
    torch.testing.assert_close(packed.loss, alone_loss, atol=1e-5, rtol=1e-5)
    # The check has teeth: every chat after the first is changed by seeing the others.
    first = LENGTHS[0]
    assert torch.allclose(contaminated[:first], alone_logits[:first], atol=1e-5)
    assert (contaminated[first:] - alone_logits[first:]).abs().max() > 1e-2


def test_padding_and_cached_generation_fall_back_to_sdpa():
    varlen, sdpa = _tiny_qwen("varlen"), _tiny_qwen("sdpa")
    input_ids = torch.tensor([[5, 6, 7, 8, 9], [0, 0, 3, 4, 5]])
    attention_mask = torch.tensor([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]])  # left padding
    with torch.no_grad():
        got = varlen(input_ids=input_ids, attention_mask=attention_mask).logits
        want = sdpa(input_ids=input_ids, attention_mask=attention_mask).logits
    torch.testing.assert_close(got[attention_mask.bool()], want[attention_mask.bool()])
    prompt = torch.tensor([[5, 6, 7]])
    assert varlen.generate(prompt, max_new_tokens=4, do_sample=False).tolist() == \
        sdpa.generate(prompt, max_new_tokens=4, do_sample=False).tolist()


def test_on_cuda_the_packed_row_goes_to_pytorchs_flash_varlen_kernel():
    """No GPU here: the CUDA branch is run on fake tensors, which checks that the kernel
    accepts our arguments (layout, int32 boundaries, grouped-query heads) and its output shape."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode(allow_non_fake_inputs=True):
        query = torch.empty(69, 14, 64, dtype=torch.bfloat16, device="cuda")
        key, value = (torch.empty(69, 2, 64, dtype=torch.bfloat16, device="cuda") for _ in "kv")
        cu_seqlens = torch.empty(6, dtype=torch.int32, device="cuda")
        out = packed_attention(query, key, value, cu_seqlens, 30, scale=0.125)
        assert (tuple(out.shape), out.dtype, out.device.type) == ((69, 14, 64), torch.bfloat16, "cuda")


def test_throughput_benchmark_runs_both_paths_on_cpu(capsys):
    spec = importlib.util.spec_from_file_location("train_throughput", BENCHMARK)
    benchmark = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = benchmark  # dataclasses look their module up there
    spec.loader.exec_module(benchmark)
    code = benchmark.main(["--shape", "tiny", "--steps", "1", "--warmup", "1",
                           "--min-tokens", "150", "--max-tokens", "300",
                           "--tokens-per-batch", "600", "--trl-batch-size", "2"])
    output = capsys.readouterr().out
    assert code == 0, output
    assert "packed vs per-chat attention" in output and "-> ok" in output
    assert "our training path" in output and "TRL SFTTrainer defaults" in output
    assert "ratio ours / TRL defaults" in output


@pytest.mark.parametrize("name", ["flash_attention_3", "Varlen"])
def test_unknown_attention_implementations_are_refused(name):
    with pytest.raises(ValueError, match="attn_implementation must be one of"):
        TrainingConfig(train_file="t.jsonl", output_dir="out", attn_implementation=name)
