"""Per-sequence attention over padding-free packed rows: `attn_implementation="varlen"`.

With packing, a row holds several chats back to back and `position_ids` restart at 0 for each;
TRL's collator also hands over the chats' boundaries as `cu_seq_lens_q` (cumulative lengths)
and `max_length_q`. Each token must attend only to earlier tokens of its own chat.

transformers' own "sdpa" gets this right by building a dense (row x row) boolean mask from
`position_ids` and running SDPA over the whole row: memory and work grow with the square of
the row, and almost all of that work is masked out. "varlen" instead hands the boundaries
to PyTorch's variable-length flash attention (`torch.nn.attention.varlen.varlen_attn`, part
of PyTorch, no extra package): each chat is attended to alone, in one kernel for the whole
row. Where that kernel cannot run (no CUDA, or fp32 inputs) the same boundaries build a
block-diagonal causal mask for SDPA: slower, same result, and what the CPU tests check.

Batches that carry a padding mask, and generation with a cache, are passed to transformers'
SDPA path unchanged, so a model set to "varlen" still works outside packed training.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch.nn.attention.varlen import varlen_attn
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import sdpa_mask

VARLEN = "varlen"
_HALF = (torch.float16, torch.bfloat16)


def sequence_boundaries(position_ids: Optional[torch.Tensor], batch: int, length: int,
                        device: torch.device) -> tuple[torch.Tensor, int]:
    """(cu_seqlens int32 of shape [chats + 1], longest chat) for the flattened batch: a chat
    starts at each row start and wherever the position does not follow the previous one
    (the rule transformers uses to detect packed rows). Reads the longest length back to the
    host; the collator's `cu_seq_lens_q` avoids this on the training path."""
    total = batch * length
    if position_ids is None:
        starts = torch.arange(0, total, length, device=device)
    else:
        positions = position_ids.expand(batch, -1)
        new_chat = torch.ones_like(positions, dtype=torch.bool)
        new_chat[:, 1:] = positions[:, 1:] != positions[:, :-1] + 1
        starts = new_chat.reshape(-1).nonzero().flatten()
    cu_seqlens = torch.cat([starts, starts.new_tensor([total])]).to(torch.int32)
    return cu_seqlens, int(cu_seqlens.diff().max())


def _block_causal_sdpa(query, key, value, cu_seqlens, scale):
    """The reference computation: SDPA over the flattened row with a causal mask that is
    also block-diagonal by chat. (total, heads, dim) in and out; O(total^2) memory."""
    total = query.shape[0]
    index = torch.arange(total, device=query.device)
    chat = torch.searchsorted(cu_seqlens.to(index.dtype), index, right=True)
    allowed = (chat[:, None] == chat[None, :]) & (index[:, None] >= index[None, :])
    out = F.scaled_dot_product_attention(
        query.transpose(0, 1)[None], key.transpose(0, 1)[None], value.transpose(0, 1)[None],
        attn_mask=allowed[None, None], scale=scale, enable_gqa=query.shape[1] != key.shape[1],
    )
    return out[0].transpose(0, 1)


def packed_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     cu_seqlens: torch.Tensor, max_seqlen: int,
                     scale: Optional[float] = None) -> torch.Tensor:
    """Causal attention within each chat of a flattened row.

    query (total, heads, dim), key/value (total, kv_heads, dim), cu_seqlens int32 (chats + 1).
    Flash varlen on CUDA in fp16/bf16; the block-diagonal SDPA otherwise."""
    if query.is_cuda and query.dtype in _HALF:
        # window (-1, 0) is what varlen_attn reads as causal; a list would not compare equal.
        return varlen_attn(query, key, value, cu_seqlens, cu_seqlens, max_seqlen, max_seqlen,
                           scale=scale, window_size=(-1, 0),
                           enable_gqa=query.shape[1] != key.shape[1])
    return _block_causal_sdpa(query, key, value, cu_seqlens, scale)


def varlen_attention_forward(module, query, key, value, attention_mask, dropout=0.0,
                             scaling=None, sliding_window=None, **kwargs):
    """transformers attention function: (batch, heads, seq, dim) in, (batch, seq, heads, dim) out."""
    batch, _, length, _ = query.shape
    if attention_mask is not None or key.shape[2] != length:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, sliding_window=sliding_window, **kwargs)
    if sliding_window is not None:
        raise ValueError("varlen attention does not implement sliding windows; use sdpa")
    if dropout:
        raise ValueError("varlen attention does not implement attention dropout; use sdpa")

    cu_seqlens, max_seqlen = kwargs.get("cu_seq_lens_q"), kwargs.get("max_length_q")
    if cu_seqlens is None or batch != 1:
        cu_seqlens, max_seqlen = sequence_boundaries(kwargs.get("position_ids"), batch, length,
                                                     query.device)
    elif max_seqlen is None:
        max_seqlen = int(cu_seqlens.diff().max())
    # With fp32 master weights under bf16 autocast, v comes out of its projection in bf16
    # while the fp32 rotary tables promote q and k to fp32; the kernel wants one dtype.
    dtype = value.dtype
    if scaling is None:
        scaling = 1.0 / math.sqrt(query.shape[-1])
    flat = [t.transpose(1, 2).reshape(batch * length, t.shape[1], t.shape[3]).to(dtype)
            for t in (query, key, value)]
    # max_seqlen stays as given: under torch.compile it is a symbolic int, and int() would
    # pin the compiled graph to one value.
    out = packed_attention(*flat, cu_seqlens.to(device=query.device, dtype=torch.int32),
                           max_seqlen, scale=scaling)
    return out.view(batch, length, query.shape[1], query.shape[3]), None


def varlen_mask(batch_size, q_length, kv_length, attention_mask=None, **kwargs):
    """No mask to build when a row attends within its chats only (the attention function
    finds the chats); the usual SDPA mask when there is padding or a cache."""
    if attention_mask is None and q_length == kv_length:
        return None
    return sdpa_mask(batch_size=batch_size, q_length=q_length, kv_length=kv_length,
                     attention_mask=attention_mask, **kwargs)


def register() -> None:
    """Make "varlen" a valid `attn_implementation` (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(VARLEN, varlen_attention_forward)
    AttentionMaskInterface.register(VARLEN, varlen_mask)


def check_packed_attention(device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                           heads: int = 4, kv_heads: int = 2, head_dim: int = 16,
                           lengths: tuple[int, ...] = (5, 17, 1, 33), seed: int = 0) -> dict[str, float]:
    """Largest differences, forward and gradients, between `packed_attention` over one
    flattened row and causal SDPA over each chat alone (in fp32): the check that no chat sees
    another. Returns {"out": ..., "dq": ..., "dk": ..., "dv": ...}, each relative to the
    reference's largest magnitude."""
    generator = torch.Generator().manual_seed(seed)
    total = sum(lengths)

    def leaf(n_heads):
        return torch.randn(total, n_heads, head_dim, generator=generator).to(device, dtype).requires_grad_()

    q, k, v = leaf(heads), leaf(kv_heads), leaf(kv_heads)
    grad_out = torch.randn(total, heads, head_dim, generator=generator).to(device, dtype)
    cu_seqlens = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32,
                              device=device)
    out = packed_attention(q, k, v, cu_seqlens, max(lengths))
    dq, dk, dv = torch.autograd.grad(out, (q, k, v), grad_out)

    rq, rk, rv = (t.detach().float().requires_grad_() for t in (q, k, v))
    pieces = []
    for start, end in zip(cu_seqlens[:-1].tolist(), cu_seqlens[1:].tolist()):
        pieces.append(F.scaled_dot_product_attention(
            *(t[start:end].transpose(0, 1)[None] for t in (rq, rk, rv)),
            is_causal=True, enable_gqa=heads != kv_heads)[0].transpose(0, 1))
    reference = torch.cat(pieces)
    rdq, rdk, rdv = torch.autograd.grad(reference, (rq, rk, rv), grad_out.float())

    def error(got, want):
        got, want = got.detach().float(), want.detach()
        return float((got - want).abs().max() / want.abs().max().clamp(min=1e-6))

    return {"out": error(out, reference), "dq": error(dq, rdq), "dk": error(dk, rdk),
            "dv": error(dv, rdv)}
