"""Stream text from the in-process model: `LocalBackend` implements `backend.Backend`.

`model.generate` runs in a worker thread. A batch-aware streamer (transformers'
`BaseStreamer` put/end protocol) decodes each draft incrementally and puts `Chunk`s on a
queue; the caller iterates a `LocalStream` that reads the queue with a timeout. One
stopping criterion, checked every decoding step, ends generation on `cancel()` and ends
single drafts that reached a stop string.

Example::

    backend = LocalBackend(HOLDER.get_or_load("path/to/model"))
    stream = backend.start(Prompt(document="Once upon a time"), GenerationSettings(max_new_tokens=20))
    text = "".join(chunk.text for chunk in stream if chunk.draft == 0)
    print(stream.result.status_line())
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import (
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.generation.logits_process import (
    NoRepeatNGramLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)
from transformers.generation.streamers import BaseStreamer

from .alternatives import prepared_ids, top_alternatives
from .backend import Alternative, BackendInfo, Chunk, GenerationError, GenerationResult, Prompt
from .config import DEFAULT_MAX_NEW_TOKENS_CAP, GenerationSettings
from .copy_guide import COPY_BONUS, CopyGuide, CopyIndex
from .decoding import (
    DraftDecoder,
    PreparedPrompt,
    PromptPreparer,
    StreamEnd,
    StreamFailure,
    build_result,
    device_label,
    end_ids,
    failure_message,
    next_item,
)
from .models import LoadedModel, gpu_decorator

STATIC_CACHE_MIN = 256  # tokens: the smallest static KV cache (`static_cache_length`)


class _BatchStreamer(BaseStreamer):
    """Receives each step's tokens for all drafts (shape (drafts,)) and queues `Chunk`s.

    generate's first `put` is the prompt (shape (drafts, prompt_len)); it is skipped.
    Rows whose draft has ended (eos, stop string) keep getting pad tokens; they are ignored.
    """

    def __init__(self, decoders: list[DraftDecoder], eos_ids: set[int], sink: queue.Queue) -> None:
        self.decoders = decoders
        self.eos_ids = eos_ids
        self.sink = sink
        self.prompt_seen = False
        self.started = time.perf_counter()
        self.first_token_at: float | None = None
        self.last_token_at = self.started
        self.ended_at: float | None = None
        self.cancelled = False  # set by the stopping criterion when it ended generation for cancel

    def put(self, value: torch.Tensor) -> None:
        """Take one decoding step's tokens (the first call brings the prompt and is skipped)."""
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        self.last_token_at = time.perf_counter()
        if self.first_token_at is None:
            self.first_token_at = self.last_token_at
        for draft, token_id in enumerate(value.reshape(-1).tolist()):
            decoder = self.decoders[draft]
            if decoder.done:
                continue
            decoder.tokens += 1
            text = decoder.finish("eos") if token_id in self.eos_ids else decoder.add(token_id)
            if text:
                self.sink.put(Chunk(draft, text))

    def end(self) -> None:
        """Flush every draft's remaining text and signal the end."""
        reason = "stopped" if self.cancelled else "length"
        for draft, decoder in enumerate(self.decoders):
            text = decoder.finish(reason)
            if text:
                self.sink.put(Chunk(draft, text))
        self.ended_at = time.perf_counter()
        self.sink.put(StreamEnd())


class _StopCriterion(StoppingCriteria):
    """Checked after every decoding step: all rows stop on cancel; a row stops once its draft ended."""

    def __init__(self, cancel: threading.Event, streamer: _BatchStreamer) -> None:
        self.cancel = cancel
        self.streamer = streamer
        self.none_done: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        rows = input_ids.shape[0]
        if self.cancel.is_set():
            self.streamer.cancelled = True
            return torch.ones(rows, dtype=torch.bool, device=input_ids.device)
        done = [decoder.done for decoder in self.streamer.decoders]
        if any(done):  # rare (a stop string was hit), so a host-to-device copy is fine
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)
        if self.none_done is None:
            self.none_done = torch.zeros(rows, dtype=torch.bool, device=input_ids.device)
        return self.none_done


@dataclass
class _Job:
    """Everything one request needs, shared by the worker thread and the caller's stream."""

    prepared: PreparedPrompt
    config: GenerationConfig
    cancel: threading.Event
    streamer: _BatchStreamer
    worker: threading.Thread | None = None


class LocalStream:
    """The `TextStream` of one local request: iterate for `Chunk`s; `result` is set at the end."""

    def __init__(self, job: _Job, timeout_s: float) -> None:
        self.result: GenerationResult | None = None
        self._job = job
        self._timeout_s = timeout_s

    def cancel(self) -> None:
        """Ask generation to stop after the current step; safe to call twice or after the end."""
        self._job.cancel.set()

    def __iter__(self) -> Iterator[Chunk]:
        if self.result is not None:  # iterated to the end already: nothing more will come
            return
        try:
            while True:
                item = self._next_item()
                if isinstance(item, StreamEnd):
                    self._join_worker()
                    streamer = self._job.streamer
                    self.result = build_result(
                        self._job.prepared,
                        streamer.decoders,
                        streamer.started,
                        streamer.first_token_at,
                        streamer.ended_at,
                    )
                    return
                if isinstance(item, StreamFailure):
                    raise GenerationError(failure_message(item.error)) from item.error
                yield item
        finally:
            if self.result is None:  # the caller stopped early, or an error: free the worker
                self.cancel()

    def _join_worker(self) -> None:
        """Wait for the worker to leave generate (it has already ended), so none outlives the stream."""
        if self._job.worker is not None:
            self._job.worker.join(timeout=self._timeout_s)

    def _next_item(self) -> Chunk | StreamEnd | StreamFailure:
        """The next queue item; raises `GenerationTimeout` (and cancels) when no token came in time."""
        streamer = self._job.streamer
        try:
            return next_item(
                streamer.sink,
                lambda: streamer.last_token_at,
                self._timeout_s,
                "try a shorter prompt or fewer tokens",
            )
        except GenerationError:
            self.cancel()
            raise


def static_cache_length(needed: int, window: int) -> int:
    """Columns of a static KV cache for a request of `needed` tokens (prompt + new), in a `window`.

    A power of two from `STATIC_CACHE_MIN` up, capped at the window: on CUDA each cache size
    compiles the decode step once, and transformers keeps the largest size used so far, so a
    server compiles about log2(window / 256) + 1 times in all, not once per request length.
    """
    size = STATIC_CACHE_MIN
    while size < needed:
        size *= 2
    return max(needed, min(size, window))


def build_generation_config(
    settings: GenerationSettings,
    eos_ids: Sequence[int],
    pad_id: int | None,
    model_defaults: Any = None,
    static_cache_len: int | None = None,
    own_processors: bool = False,
) -> GenerationConfig:
    """An explicit `GenerationConfig` for `settings`, so the model's own sampling defaults don't leak in.

    Every sampling value is set: generate fills unset ones from the model's generation_config.json,
    which would change sampling, and for greedy decoding (temperature 0) made transformers warn that
    they are unused; greedy gets transformers' neutral values instead. top_k 0 means no top-k filter.
    `model_defaults` is the model's `generation_config`, only read to switch off its min_p.
    `static_cache_len` asks for a static KV cache of that many columns (on CUDA, transformers
    then compiles the decode step). `own_processors`: the caller passes every processor
    (`answer_only_processors`), so the penalties and warpers here are neutral (`generate` builds none).
    """
    greedy = settings.greedy
    values: dict[str, Any] = {
        "max_new_tokens": settings.max_new_tokens,
        "min_new_tokens": 0,
        "num_beams": 1,
        "num_return_sequences": settings.num_drafts,
        "do_sample": not greedy,
        "temperature": 1.0 if greedy else settings.temperature,
        "top_k": 50 if greedy else settings.top_k,  # 50: transformers' default, which greedy never reads
        "top_p": 1.0 if greedy else settings.top_p,
        "typical_p": 1.0,
        "epsilon_cutoff": 0.0,
        "eta_cutoff": 0.0,
        "repetition_penalty": settings.repetition_penalty,
        "no_repeat_ngram_size": settings.no_repeat_ngram_size,
        "eos_token_id": list(eos_ids),
        "pad_token_id": pad_id,
        "use_cache": True,
    }
    if own_processors:  # (greedy already has neutral warper values: other ones would be flagged)
        values.update(repetition_penalty=1.0, no_repeat_ngram_size=0)
        values.update({} if greedy else {"temperature": 1.0, "top_k": 0, "top_p": 1.0})
    if static_cache_len is not None:
        values.update(cache_implementation="static", max_cache_len=static_cache_len)
    if not greedy and getattr(model_defaults, "min_p", None) is not None:
        values["min_p"] = 0.0  # None would mean "use the model's min_p"
    return GenerationConfig(**values)


class _AnswerNGramBan(LogitsProcessor):
    """transformers' no-repeat n-gram ban over the generated ids only (those from `start` on)."""

    def __init__(self, size: int, start: int) -> None:
        self.ban, self.start = NoRepeatNGramLogitsProcessor(size), start

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return self.ban(input_ids[:, self.start :], scores)


class _CopyBonus(LogitsProcessor):
    """`COPY_BONUS` on the input tokens that continue each row's copy of its input (`CopyGuide`)."""

    def __init__(self, index: CopyIndex, start: int) -> None:
        self.index, self.start = index, start
        self.guides: list[CopyGuide] = []  # one per row (draft), made at the first step

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if not self.guides:
            self.guides = [CopyGuide(self.index) for _ in range(input_ids.shape[0])]
        for row, guide in enumerate(self.guides):
            favoured = guide.favoured(input_ids[row, self.start :].tolist(), scores.shape[-1])
            scores[row, list(favoured)] += COPY_BONUS
        return scores


def answer_only_processors(prepared: PreparedPrompt) -> LogitsProcessorList:
    """For a prompt whose penalties count only generated tokens (`penalise_prompt` False) or that has
    a copy source, the whole processor list in `generate`'s order: penalty, n-gram ban (both over the
    answer only when so asked), the copy bonus, then the sampling warpers; its config
    (`build_generation_config(..., own_processors=True)`) then builds none. Empty otherwise:
    `generate` builds the usual ones from the config."""
    s = prepared.settings
    if not prepared.own_processors:
        return LogitsProcessorList()
    start = 0 if prepared.penalise_prompt else len(prepared.ids)  # the penalties count ids[start:]
    processors = LogitsProcessorList()
    if s.repetition_penalty != 1.0:
        penalty = RepetitionPenaltyLogitsProcessor(s.repetition_penalty, prompt_ignore_length=start or None)
        processors.append(penalty)
    if s.no_repeat_ngram_size:
        processors.append(_AnswerNGramBan(s.no_repeat_ngram_size, start))
    if prepared.copy_index is not None:
        processors.append(_CopyBonus(prepared.copy_index, len(prepared.ids)))
    if not s.greedy:
        processors.append(TemperatureLogitsWarper(s.temperature))
        if s.top_k:
            processors.append(TopKLogitsWarper(s.top_k))
        if s.top_p < 1.0:
            processors.append(TopPLogitsWarper(s.top_p))
    return processors


class LocalBackend:
    """A `Backend` that generates with the in-process model, one request at a time.

    Requests are serialised by a lock: a seed then always gives the same text, and two
    requests never compete for the same weights. `max_new_tokens_cap` bounds every request;
    `timeout_s` is the longest wait for a token before `GenerationTimeout`.

    `static_cache=True` is the opt-in batch-1 latency path: a static KV cache
    (`static_cache_length`), with which transformers compiles the decode step on CUDA
    (torch.compile, CUDA graphs). The first request of each cache size then waits for the
    compile; on CPU nothing is compiled. `eos_token_ids` replaces the model's end ids (benchmarks
    pass `()` so that every request writes exactly `max_new_tokens`).
    """

    def __init__(
        self,
        loaded: LoadedModel,
        max_new_tokens_cap: int = DEFAULT_MAX_NEW_TOKENS_CAP,
        timeout_s: float = 300.0,
        *,
        static_cache: bool = False,
        eos_token_ids: Sequence[int] | None = None,
    ) -> None:
        self.loaded = loaded
        self.max_new_tokens_cap = max_new_tokens_cap
        self.timeout_s = timeout_s
        self.static_cache = static_cache
        self.eos_ids = end_ids(loaded, eos_token_ids)
        self._preparer = PromptPreparer(loaded, max_new_tokens_cap)
        self._lock = threading.Lock()
        self._info = BackendInfo(
            model_name=loaded.name,
            device=device_label(loaded, static_cache),
            context_window=loaded.context_window,
            chat=loaded.chat,
        )

    @property
    def info(self) -> BackendInfo:
        """Model name, device, context window and whether a chat template is used."""
        return self._info

    def count_tokens(self, text: str) -> int:
        """How many tokens `text` takes (without special tokens)."""
        return len(self.loaded.tokenizer(text, add_special_tokens=False)["input_ids"])

    def start(self, prompt: Prompt, settings: GenerationSettings) -> LocalStream:
        """Begin generating in a worker thread and return the stream to iterate.

        Raises `GenerationError` when the prompt cannot be prepared (empty, broken chat template...).
        """
        try:
            job = self._prepare(prompt, settings)
        except GenerationError:
            raise
        except Exception as error:  # tokenizer and template errors: tell the user, don't crash
            raise GenerationError(f"could not prepare the prompt: {type(error).__name__}: {error}") from error
        job.worker = threading.Thread(target=self._work, args=(job,), name="nlg-generate", daemon=True)
        job.worker.start()
        return LocalStream(job, self.timeout_s)

    def alternatives(self, prompt: Prompt, k: int) -> list[Alternative]:
        """The `k` likeliest next tokens after `prompt`, prepared as `start` prepares it.

        Waits for a running generation (the same lock): one forward pass at a time on the weights.
        """
        ids = prepared_ids(self._preparer, prompt)
        with self._lock:
            return gpu_decorator()(top_alternatives)(self.loaded.model, self.loaded.tokenizer, ids, k)

    def prepare_prompt(self, prompt: Prompt, settings: GenerationSettings) -> PreparedPrompt:
        """Cap the settings, encode the prompt (chat template or document), fit it, resolve the seed."""
        return self._preparer.prepare(prompt, settings)

    def _encode(self, prompt: Prompt) -> tuple[list[int], tuple[str, ...]]:
        """The prompt's token ids and notices, as `prepare_prompt` encodes them (benchmarks use it)."""
        return self._preparer.encode(prompt)

    def _prepare(self, prompt: Prompt, settings: GenerationSettings) -> _Job:
        """The prepared prompt, its generation config and its streamer."""
        prepared = self.prepare_prompt(prompt, settings)
        tokenizer, eos_ids = self.loaded.tokenizer, self.eos_ids
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_ids, default=None)
        defaults = self.loaded.model.generation_config
        cache_len = None
        if self.static_cache:
            needed = len(prepared.ids) + prepared.settings.max_new_tokens
            cache_len = static_cache_length(needed, self.loaded.context_window)
        own = prepared.own_processors  # answer_only_processors then passes them all to generate
        config = build_generation_config(prepared.settings, sorted(eos_ids), pad_id, defaults, cache_len, own)
        decoders = prepared.draft_decoders(tokenizer, prompt.stop)
        return _Job(prepared, config, threading.Event(), _BatchStreamer(decoders, eos_ids, queue.Queue()))

    def _work(self, job: _Job) -> None:
        """Worker thread: run generate (one request at a time); errors go to the stream's queue."""
        try:
            with self._lock:
                if job.cancel.is_set():  # cancelled while waiting for the previous request
                    job.streamer.cancelled = True
                    job.streamer.end()
                    return
                gpu_decorator()(self._generate)(job)
        except BaseException as error:  # re-raised in the caller's thread by LocalStream
            job.streamer.sink.put(StreamFailure(error))

    def _generate(self, job: _Job) -> None:
        """Seed the RNGs and call `model.generate`, which feeds the streamer."""
        model = self.loaded.model
        input_ids = torch.tensor([job.prepared.ids], dtype=torch.long, device=model.device)
        if job.prepared.settings.seed >= 0:
            torch.manual_seed(job.prepared.settings.seed)  # seeds the CPU and every CUDA generator
        with torch.inference_mode():
            model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                generation_config=job.config,
                streamer=job.streamer,
                stopping_criteria=StoppingCriteriaList([_StopCriterion(job.cancel, job.streamer)]),
                logits_processor=answer_only_processors(job.prepared),
            )
