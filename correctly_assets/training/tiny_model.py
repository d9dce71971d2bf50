"""A tiny causal LM and tokenizer built on the spot, so training runs with no model hub.

The tokenizer is a byte-level BPE learned from a short built-in English and Korean text:
byte-level means any text round-trips, the merges keep sequences short. Its chat template
marks the assistant's turn, end-of-turn token included, with `{% generation %}` so that
the loss can be taken on the assistant's reply alone.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..domain.answer_format import KOREAN_HEADERS, SEPARATOR
from ..domain.chat_format import ENGLISH_INSTRUCTION, KOREAN_INSTRUCTION, POINTS_HEADER

PAD_TOKEN = "<|endoftext|>"
TURN_START = "<|im_start|>"
TURN_END = "<|im_end|>"  # also the eos token: a reply ends with it
VOCAB_SIZE = 1024
SEED = 0
# Its shape; benchmarks/demo_model.py tries larger ones.
HIDDEN_SIZE, LAYERS, HEADS = 64, 2, 4

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- generation %}{{- message['content'] + '<|im_end|>' }}{%- endgeneration %}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

_CORPUS = (
    KOREAN_INSTRUCTION,
    ENGLISH_INSTRUCTION,
    POINTS_HEADER,
    SEPARATOR,
    *(f"### {header} ###" for header in KOREAN_HEADERS.values()),
    '1. **시제**: "go" → "went": 지난 일이므로 과거형 "went"를 씁니다.',
    '2. **관사**: "hotel" → "the hotel": 여기서 "hotel" 앞에는 관사 "the"가 필요합니다.',
    '3. **주어-동사 일치**: "were" → "was": 주어에 맞는 동사 형태는 "was"입니다.',
    'Yesterday I go to the market with my friend. -> "go" -> "went": past tense.',
    "I have been studying English for three years, and I still make mistakes with articles.",
    "She doesn't like coffee, but she drinks tea every morning before work.",
    "We went to the library after school because we had a test on Friday.",
    "My family lives in Seoul. On weekends we usually eat dinner together.",
    "He is interested in music and wants to become a teacher someday.",
    "Could you tell me how to get to the airport? The plan changed at the last minute.",
    "The weather was really cold, so I stayed at home and read a book.",
    "어제 친구와 함께 시장에 갔어요. 날씨가 정말 추워서 집에 있었어요.",
    "저는 삼 년 동안 영어를 공부했지만 아직도 관사를 자주 틀려요.",
    "우리 가족은 서울에 살아요. 주말에는 보통 함께 저녁을 먹어요.",
    "그녀는 커피를 좋아하지 않지만 매일 아침 차를 마셔요.",
)


def is_complete(directory: str | Path) -> bool:
    directory = Path(directory)
    needed = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
    return all((directory / name).is_file() for name in needed)


def build_tokenizer(vocab_size: int = VOCAB_SIZE):
    """The tiny model's tokenizer; a `vocab_size` of 259 (the 256 bytes and the three
    special tokens) leaves no merges: every Hangul syllable is then three tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        _CORPUS,
        trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=[PAD_TOKEN, TURN_START, TURN_END],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token=TURN_END, pad_token=PAD_TOKEN, bos_token=None
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(directory: str | Path, vocab_size: int = VOCAB_SIZE,
                     context: int = 2048) -> Path:
    """Build (or reuse, if already complete) the tiny model and tokenizer in `directory`;
    `context`: the most positions it attends over."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    directory = Path(directory)
    if is_complete(directory):
        return directory
    tokenizer = build_tokenizer(vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN_SIZE,
        intermediate_size=4 * HIDDEN_SIZE,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=HEADS,
        max_position_embeddings=context,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(SEED)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id

    # Written beside the target and renamed into place, so a crash never leaves a half model.
    staging = directory.with_name(f"{directory.name}.building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    shutil.rmtree(directory, ignore_errors=True)
    directory.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, directory)
    return directory
