"""The model in this process, batched continuously by transformers.

Requests that wait together are generated together: transformers' continuous batching
(`model.init_continuous_batching`) runs one generation loop on a thread of its own, adds a
request to the running batch at the next step, drops it the step after it ends, and keeps
each request's own token limit and end tokens in a paged cache. Greedy decoding gives each
request the answer it would get alone (test_serving checks it token for token).

The cache is sized from what is served, not from the memory that happens to be free
(transformers' default takes 90% of it: 14 GB on a 24 GB CPU machine for a 1 MB model):
`max_active` requests, each with the longest prompt the API accepts and the model's answer
budget.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from .backends import End, EngineUnavailable, Piece

if TYPE_CHECKING:
    from ..evaluation.corrector import Corrector

logger = logging.getLogger(__name__)

# transformers' page: tokens per page of the paged KV cache.
PAGE_SIZE = 256
# A learner's text at the API's character limit, for sizing the cache: the longest prompt
# in the model's own tokens. English learner text, as the API is for.
_PROBE_SENTENCE = "Yesterday I go to the market with my friend and we buys some apple. "


def _longest_prompt_tokens(corrector: Corrector, max_chars: int) -> int:
    probe = (_PROBE_SENTENCE * (max_chars // len(_PROBE_SENTENCE) + 1))[:max_chars]
    return len(corrector.prompt_ids(probe))


class InProcessBackend:
    name = "in-process"

    def __init__(self, corrector: Corrector, max_active: int, max_text_chars: int,
                 max_batch: int | None = None):
        """`max_batch`: the most requests generated in one step (default `max_active`); 1
        generates one request at a time, the others waiting, as a baseline to measure
        batching against."""
        from transformers import GenerationConfig
        from transformers.generation.configuration_utils import ContinuousBatchingConfig

        self.corrector = corrector
        self.max_new_tokens = corrector.max_new_tokens
        self._end_ids = set(corrector.end_ids)
        longest = _longest_prompt_tokens(corrector, max_text_chars) + self.max_new_tokens
        self.cache_pages = max_active * math.ceil(longest / PAGE_SIZE)
        generation = GenerationConfig(
            max_new_tokens=self.max_new_tokens, do_sample=False,
            eos_token_id=corrector.end_ids, pad_token_id=corrector.tokenizer.pad_token_id)
        batching = ContinuousBatchingConfig(
            page_size=PAGE_SIZE, num_blocks=self.cache_pages,
            max_requests_per_batch=max(1, max_batch or max_active))
        self._manager = corrector.model.init_continuous_batching(
            generation_config=generation, continuous_batching_config=batching)
        self._manager.start()
        self.cancelled = 0  # generations stopped before their end
        logger.info("Continuous batching: up to %d requests a step, a KV cache of %d pages of "
                    "%d tokens", max(1, max_batch or max_active), self.cache_pages, PAGE_SIZE)

    def _decode(self, tokens: list[int]) -> str:
        return self.corrector.tokenizer.decode(tokens, skip_special_tokens=True)

    def _new_text(self, tokens: list[int], prefix: int, read: int,
                  finished: bool) -> tuple[str, int, int]:
        """The text `tokens[read:]` adds, and the next (prefix, read) offsets. Incremental
        detokenisation, as vLLM does it: only a window from `prefix`, a few tokens before the
        new ones, is decoded, so a step costs its new tokens rather than the whole reply,
        and a tokenizer that spells a word's leading space from its context still reads it
        right. A multi-byte character split across tokens decodes as U+FFFD until its last
        byte comes: it is held back until then, or until the reply ends."""
        before = self._decode(tokens[prefix:read])
        after = self._decode(tokens[prefix:])
        if len(after) > len(before) and (finished or not after.endswith("\ufffd")):
            return after[len(before):], read, len(tokens)
        return "", prefix, read

    async def stream(self, text: str) -> AsyncIterator[Piece | End]:
        request_id = uuid.uuid4().hex
        outputs: asyncio.Queue = asyncio.Queue()
        self._manager.register_result_handler(request_id, outputs.put_nowait)
        finished, prefix, read = False, 0, 0
        try:
            self._manager.add_request(self.corrector.prompt_ids(text), request_id=request_id,
                                      max_new_tokens=self.max_new_tokens, streaming=True)
            while not finished:
                output = await outputs.get()
                while not outputs.empty():  # the loop ran ahead: take the newest
                    output = outputs.get_nowait()
                if output.error:
                    finished = True
                    raise EngineUnavailable(f"the in-process model failed: {output.error}",
                                            retry_after_s=5)
                finished = output.is_finished()
                tokens = output.generated_tokens
                piece, prefix, read = self._new_text(tokens, prefix, read, finished)
                if piece:
                    yield Piece(piece)
            yield End(ended=any(token in self._end_ids for token in tokens))
        finally:
            if not finished:
                # The client went away or its deadline passed: the request leaves the batch
                # at the loop's next step, and its pages are freed.
                self._manager.cancel_request(request_id)
                self.cancelled += 1
                with self._manager.output_router._lock:  # no public way to unregister
                    self._manager.output_router.result_handlers.pop(request_id, None)

    def running(self) -> int:
        """Requests the generation loop still holds, waiting or being generated."""
        processor = self._manager.batch_processor
        if processor is None:
            return 0
        scheduler = processor.scheduler
        return len(scheduler.active_requests) + len(scheduler.waiting_requests)

    async def check(self) -> None:
        if not self._manager.is_running():
            raise EngineUnavailable("the in-process model's generation loop has stopped",
                                    retry_after_s=30)

    async def close(self) -> None:
        """Stops the generation loop: its thread is not a daemon, and a process with one
        left running does not exit."""
        if self._manager.is_running():
            self._manager.stop(block=True, timeout=10)
