"""Continuous batching: many requests decode together on one resident model.

`BatchedBackend` implements `backend.Backend`. `start()` queues a request and returns a
`BatchedStream`; ONE scheduler thread runs this loop:

1. evict: sequences whose request was cancelled leave the batch;
2. admit: waiting requests join while there are free rows. Those waiting together are
   prefilled in one forward pass (left-padded, padding masked, up to `PREFILL_TOKENS` padded
   tokens), each draft's first token is chosen, and their KV cache is left-padded to the
   batch's length and concatenated on the batch dimension;
3. decode one step for every row at once: the last token of each row, a 2D attention mask
   that hides each row's left padding, and explicit position ids (each row counts its own
   tokens, so padding never shifts positions);
4. each row's `RowSampler` picks its token (own settings, own seeded generator); finished
   rows (eos, stop string, token limit) leave at once and their cache rows are dropped.

The KV cache is a transformers `DynamicCache` whose layers hold (rows, kv_heads, T, head_dim)
tensors. Row b's real tokens are the last `lengths[b]` of the T columns; columns that are
padding for every row are cut when rows leave, so memory follows the live batch.

Why not transformers' own continuous batching (`generate_batch`, `init_continuous_batching`)?
In 5.24 it runs on CPU, but per-request settings cover only temperature/top-k/top-p: there is
no per-request seed (one generator for all), repetition penalty, no-repeat n-gram or number
of drafts, which this app needs.

Greedy equality: a request's tokens are the same alone or in a batch (and equal to
`model.generate`'s), on the condition that no step has its two best logits closer than float
rounding. Logits themselves cannot be bit-identical across batch sizes with stock kernels: on
CPU a (1, d) x (d, n) matmul takes a GEMV path and an (8, d) one a GEMM path that sums in
another order (measured: |difference| ~1e-5 for one fp32 linear layer, ~5e-7 on final logits
of the tiny and teacher-shaped models). Padded cache columns are masked out and contribute
exact zeros; positions come from each row's own length. So: fp32 on CPU, token equality
(tested on mixed-length prompts, with and without penalties), not logit bit-equality. In bf16
on GPU the rounding is ~1e-2, so near-ties, and thus rare divergences, are more likely.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import DynamicCache

from .alternatives import AlternativesJob, AlternativesQueue, prepared_ids
from .backend import (
    Alternative,
    BackendInfo,
    BusyError,
    GenerationError,
    Prompt,
)
from .batch_request import BatchedStream, BatchRequest
from .config import DEFAULT_MAX_NEW_TOKENS_CAP, AppConfig, GenerationSettings
from .decoding import (
    DraftDecoder,
    PromptPreparer,
    device_label,
    end_ids,
)
from .kvcache import Batch, check_cache_supported, new_cache, padded_forward
from .models import LoadedModel
from .sampling import RowSampler, choose_tokens

BUSY_MESSAGE = "The server is busy, try again in a moment"
_IDLE_WAIT_S = 1.0  # how long the idle scheduler sleeps before re-checking (it is also woken up)
# padded prompt tokens one joint prefill may hold: bounds its attention scores' memory
# (rows x heads x L x L) and the compute spent on padding when short and long prompts arrive together
PREFILL_TOKENS = 2048


@dataclass
class _Row:
    """One sequence in the batch: a draft of a request."""

    request: BatchRequest
    draft: int
    sampler: RowSampler
    next_token: int = 0  # chosen, not yet in the cache
    length: int = 0  # tokens of this row in the cache (= the next position id)

    @property
    def decoder(self) -> DraftDecoder:
        """This draft's incremental text decoder."""
        return self.request.decoders[self.draft]


class BatchedBackend:
    """A `Backend` that serves all sessions from one model with continuous batching.

    `max_batch_size` bounds the rows (drafts) decoding at once; `max_queue` bounds requests
    waiting for a row (beyond it `start()` raises `BusyError`). Requests are capped at
    `max_new_tokens_cap` tokens; a stream raises `GenerationTimeout` after `timeout_s`
    without a token. The scheduler thread starts with the first request; `close()` stops it.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        max_batch_size: int = 16,
        max_queue: int = 64,
        max_new_tokens_cap: int = DEFAULT_MAX_NEW_TOKENS_CAP,
        timeout_s: float = 300.0,
        eos_token_ids: Sequence[int] | None = None,
    ) -> None:
        check_cache_supported(loaded.model)
        self.loaded = loaded
        self.max_batch_size = max_batch_size
        self.max_queue = max_queue
        self.max_new_tokens_cap = max_new_tokens_cap
        self.timeout_s = timeout_s
        self.eos_ids = end_ids(loaded, eos_token_ids)
        # the same prompt encoding and window fitting as generation.LocalBackend (decoding.py)
        self._preparer = PromptPreparer(loaded, max_new_tokens_cap)
        self._info = BackendInfo(
            loaded.name, f"{device_label(loaded, False)}, batched", loaded.context_window, loaded.chat
        )
        self._wake = threading.Condition()  # guards _waiting, _thread, _closed
        self._waiting: deque[BatchRequest] = deque()
        self._jobs = AlternativesQueue()  # run between decode steps (see `AlternativesJob` for why)
        self._batch = Batch()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.steps = 0  # decode steps run so far (for tests and benchmarks)
        self.peak_rows = 0  # the most rows one decode step has run

    @classmethod
    def from_config(cls, loaded: LoadedModel, config: AppConfig) -> BatchedBackend:
        """The engine for the app's start-up options."""
        return cls(
            loaded,
            max_batch_size=config.max_batch_size,
            max_queue=config.max_queue,
            max_new_tokens_cap=config.max_new_tokens_cap,
            timeout_s=config.request_timeout_s,
        )

    @property
    def info(self) -> BackendInfo:
        """Model name, device (with dtype and engine), context window and chat flag."""
        return self._info

    def count_tokens(self, text: str) -> int:
        """How many tokens `text` takes (without special tokens)."""
        return len(self.loaded.tokenizer(text, add_special_tokens=False)["input_ids"])

    def start(self, prompt: Prompt, settings: GenerationSettings) -> BatchedStream:
        """Queue a request; raises `BusyError` when the queue is full, `GenerationError` if it can't run."""
        request = self._prepare(prompt, settings)
        with self._wake:
            if self._closed:
                raise GenerationError("the generation engine was shut down")
            if len(self._waiting) >= self.max_queue:
                raise BusyError(BUSY_MESSAGE)
            self._waiting.append(request)
            self._ensure_thread()
            self._wake.notify_all()
        return BatchedStream(request, self.timeout_s, self._wake)

    def alternatives(self, prompt: Prompt, k: int) -> list[Alternative]:
        """The `k` likeliest next tokens after `prompt` (prepared like `start`), run by the scheduler."""
        job = AlternativesJob(prepared_ids(self._preparer, prompt), k)
        with self._wake:
            if self._closed:
                raise GenerationError("the generation engine was shut down")
            self._jobs.add(job)
            self._ensure_thread()
            self._wake.notify_all()
        return job.wait(self.timeout_s)

    def stats(self) -> dict[str, int]:
        """A snapshot: rows decoding, requests waiting, cache columns, steps and peak rows, thread alive."""
        with self._wake:
            alive = int(self._thread is not None and self._thread.is_alive())
            return {
                "rows": len(self._batch.rows),
                "waiting": len(self._waiting),
                "cache_columns": self._batch.width,
                "steps": self.steps,
                "peak_rows": self.peak_rows,
                "thread_alive": alive,
            }

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the scheduler: running and waiting requests end with a `GenerationError`."""
        with self._wake:
            self._closed = True
            thread = self._thread
            self._wake.notify_all()
        if thread is not None:
            thread.join(timeout=timeout_s)

    # --- request preparation (caller's thread) -------------------------------------------

    def _prepare(self, prompt: Prompt, settings: GenerationSettings) -> BatchRequest:
        """Encode and fit the prompt, cap the settings and resolve the seed."""
        settings = settings.capped(self.max_new_tokens_cap)
        if settings.num_drafts > self.max_batch_size:
            raise GenerationError(
                f"num_drafts is {settings.num_drafts} but this server decodes at most "
                f"{self.max_batch_size} sequences at once; ask for fewer drafts"
            )
        prepared = self._preparer.prepare(prompt, settings)
        return BatchRequest(prepared, prepared.draft_decoders(self.loaded.tokenizer, prompt.stop))

    def _ensure_thread(self) -> None:
        """Start the scheduler thread on first use, or again if it died (caller holds `_wake`)."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="nlg-batch-scheduler", daemon=True)
            self._thread.start()

    # --- scheduler thread ------------------------------------------------------------------

    def _run(self) -> None:
        """The scheduler loop; one iteration = evict, admit, one decode step for all rows."""
        with torch.inference_mode():
            while not self._closed:
                try:
                    self._iterate()
                except Exception as error:  # a bug outside the guarded steps: fail the batch, live on
                    self._fail_batch(error)
        self._fail_everything(GenerationError("the generation engine was shut down"))

    def _iterate(self) -> None:
        """One scheduler iteration: evict, admit, then decode one step (or sleep when idle)."""
        self._evict_cancelled()
        self._admit_waiting()
        self._jobs.run_all(self.loaded.model, self.loaded.tokenizer)
        if not self._batch.rows:
            self._idle()
            return
        self._decode_step()

    def _idle(self) -> None:
        """Sleep until a request arrives, a stream is cancelled or the engine closes."""
        with self._wake:
            if not self._waiting and not self._jobs and not self._closed:
                self._wake.wait(timeout=_IDLE_WAIT_S)

    def _evict_cancelled(self) -> None:
        """Cancelled requests leave the queue and the batch; their streams end as 'stopped'."""
        with self._wake:
            gone = [request for request in self._waiting if request.cancelled.is_set()]
            if gone:
                self._waiting = deque(r for r in self._waiting if not r.cancelled.is_set())
        for request in gone:
            self._end_request(request, "stopped")
        rows = self._batch.rows
        if not any(row.request.cancelled.is_set() for row in rows):
            return
        for row in rows:
            if row.request.cancelled.is_set():
                self._finish_row(row, "stopped")
        self._batch.keep([i for i, row in enumerate(rows) if not row.decoder.done])

    def _admit_waiting(self) -> None:
        """Prefill the waiting requests that fit in the free rows, oldest first, together where possible."""
        for group in _prefill_groups(self._take_arrivals(), PREFILL_TOKENS):
            self._admit(group)

    def _take_arrivals(self) -> list[BatchRequest]:
        """Pop waiting requests, oldest first, while their drafts fit in the free rows; end cancelled ones."""
        taken: list[BatchRequest] = []
        free = self.max_batch_size - len(self._batch.rows)
        with self._wake:
            while self._waiting and not self._closed:
                head = self._waiting[0]
                if not head.cancelled.is_set():
                    if head.settings.num_drafts > free:
                        break  # first come, first served: wait for rows to free up
                    free -= head.settings.num_drafts
                taken.append(self._waiting.popleft())
        live: list[BatchRequest] = []
        for request in taken:  # one read of each flag: a request cancelled after it is evicted later
            if request.cancelled.is_set():
                self._end_request(request, "stopped")
            else:
                live.append(request)
        return live

    def _admit(self, requests: list[BatchRequest]) -> None:
        """Prefill `requests` in one forward pass, choose each draft's first token, merge live drafts.

        If the joint prefill fails, each request is prefilled alone, so only a request whose own
        prompt fails gets the error.
        """
        try:
            logits, cache = self._prefill([request.ids for request in requests])  # (R, vocab)
        except Exception as error:
            if len(requests) == 1:
                requests[0].end(error)
                return
            for request in requests:  # alone, each fails only if its own prompt does
                self._admit([request])
            return
        rows: list[_Row] = []
        sources: list[int] = []  # the cache row each live draft continues from
        for index, request in enumerate(requests):
            try:
                live = self._first_tokens(request, logits[index])
            except Exception as error:  # e.g. a tokenizer error: only this request fails
                request.end(error)
                continue
            rows += live
            sources += [index] * len(live)
        if rows:
            self._merge(rows, sources, cache)

    def _merge(self, rows: list[_Row], sources: list[int], cache: DynamicCache) -> None:
        """Add arriving `rows` to the batch; row i continues from row `sources[i]` of their `cache`.

        If this fails (e.g. out of memory), the batch may be half-merged: the arrivals and the
        batch fail with the error, so no stream waits for tokens that will not come.
        """
        try:
            if sources != list(range(cache.layers[0].keys.shape[0])):  # drafts repeat a row, ended go
                cache.batch_select_indices(torch.tensor(sources, device=cache.layers[0].keys.device))
            self._batch.add(rows, cache)
        except Exception as error:
            for row in rows:
                row.request.end(error)
            self._fail_batch(error)

    def _prefill(self, prompts: list[list[int]]) -> tuple[torch.Tensor, DynamicCache]:
        """Next-token logits (R, vocab) as float32 and the cache (R, kv_heads, L, head_dim) of `prompts`.

        Several prompts are left-padded to the longest, L (see `padded_forward`); one runs unpadded.
        """
        model = self.loaded.model
        cache = new_cache(model)
        if len(prompts) == 1:
            ids = torch.tensor(prompts, device=model.device)  # (1, L)
            out = model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
        else:
            out = padded_forward(model, prompts, cache)
        return out.logits[:, -1, :].float(), cache

    def _first_tokens(self, request: BatchRequest, logits: torch.Tensor) -> list[_Row]:
        """The request's rows, each draft's first token accepted from `logits` (vocab,); live rows."""
        rows = self._new_rows(request, logits.shape[-1])
        request.rows_left = len(rows)
        for row in rows:
            row.length = len(request.ids)
            self._accept(row, row.sampler.choose(logits))
        return [row for row in rows if not row.decoder.done]

    def _new_rows(self, request: BatchRequest, vocab_size: int) -> list[_Row]:
        """One row per draft; drafts share the request's seeded generator (drawn in row order)."""
        device, settings, prepared = self.loaded.model.device, request.settings, request.prepared
        generator = None
        if not settings.greedy:
            generator = torch.Generator(device=device).manual_seed(settings.seed)
        rules = (prepared.penalise_prompt, prepared.copy_index)  # the prompt's penalty scope, copy guide
        return [
            _Row(request, draft, RowSampler(settings, request.ids, vocab_size, device, generator, *rules))
            for draft in range(settings.num_drafts)
        ]

    def _decode_step(self) -> None:
        """One forward pass for every row, one token each; finished rows leave."""
        rows = self._batch.rows
        try:
            logits = self._batch.forward(self.loaded.model)  # (B, vocab)
            tokens = choose_tokens(logits, [row.sampler for row in rows], self._batch.seen)
            self._batch.mark_seen(tokens)
        except Exception as error:  # the whole batch's step failed: its requests fail, the loop lives
            self._fail_batch(error)
            return
        self.steps += 1
        self.peak_rows = max(self.peak_rows, len(rows))
        for row, token in zip(rows, tokens, strict=True):
            try:
                self._accept(row, token)
            except Exception as error:  # e.g. a tokenizer error: only this request fails
                row.decoder.reason = row.decoder.reason or "stopped"
                row.request.end(error)
        self._batch.keep([i for i, row in enumerate(rows) if not row.decoder.done and not row.request.over])

    def _accept(self, row: _Row, token: int) -> None:
        """Record a row's new token: stream its text; end the row on eos, stop string or limit."""
        request, decoder = row.request, row.decoder
        now = time.perf_counter()
        request.last_token_at = now
        request.first_token_at = request.first_token_at or now
        row.sampler.observe(token)
        row.next_token = token
        decoder.tokens += 1
        if token in self.eos_ids:
            request.emit(row.draft, decoder.finish("eos"))
        else:
            request.emit(row.draft, decoder.add(token))
            if decoder.tokens >= request.settings.max_new_tokens and not decoder.done:
                request.emit(row.draft, decoder.finish("length"))
        if decoder.done:
            self._row_done(row)

    def _finish_row(self, row: _Row, reason: str) -> None:
        """End a row that is still decoding (e.g. cancelled), flushing its text."""
        if not row.decoder.done:
            row.request.emit(row.draft, row.decoder.finish(reason))
            self._row_done(row)

    def _row_done(self, row: _Row) -> None:
        """Count a finished draft; the request ends with its last draft."""
        row.request.rows_left -= 1
        if row.request.rows_left <= 0:
            row.request.end()

    def _end_request(self, request: BatchRequest, reason: str) -> None:
        """End a request that never reached the batch."""
        for draft, decoder in enumerate(request.decoders):
            request.emit(draft, decoder.finish(reason))
        request.end()

    def _fail_batch(self, error: BaseException) -> None:
        """Deliver `error` to every request in the batch and start over with an empty batch."""
        for row in self._batch.rows:
            row.request.end(error)
        self._batch.clear()

    def _fail_everything(self, error: GenerationError) -> None:
        """On shutdown: fail running and waiting requests so no stream waits for nothing."""
        self._fail_batch(error)
        with self._wake:
            waiting, self._waiting = list(self._waiting), deque()
        for request in waiting:
            request.end(error)
        self._jobs.fail_all(error)


def _prefill_groups(requests: list[BatchRequest], budget: int) -> list[list[BatchRequest]]:
    """Split `requests`, in order, into groups whose padded size (count x longest prompt) fits `budget`.

    A request whose prompt alone is over the budget gets a group of its own.
    """
    groups: list[list[BatchRequest]] = []
    longest = 0
    for request in requests:
        grown = max(longest, len(request.ids))
        if groups and (len(groups[-1]) + 1) * grown <= budget:
            groups[-1].append(request)
            longest = grown
        else:
            groups.append([request])
            longest = len(request.ids)
    return groups
