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

import dataclasses
import queue
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from .backend import BackendInfo, Chunk, GenerationError, GenerationResult, GenerationTimeout, Prompt
from .config import DEFAULT_MAX_NEW_TOKENS_CAP, RANGES, GenerationSettings
from .models import LoadedModel, gpu_decorator

_REPLACEMENT = "\ufffd"  # what decoding yields for an incomplete multi-byte character
# A UTF-8 character has at most 4 bytes and every token adds at least one, so text still ending
# in U+FFFD after this many pending tokens is really invalid bytes: show it rather than wait.
_MAX_PENDING_TOKENS = 6
_MAX_SEED = int(RANGES["seed"].high)
STATIC_CACHE_MIN = 256  # tokens: the smallest static KV cache (`static_cache_length`)


class DraftDecoder:
    """Turns one draft's token ids into text pieces, incrementally and without splitting.

    Each step decodes only a short window: the ids since `prefix` (text already known) and
    the ids since `read` (new). Text ending in U+FFFD waits for the bytes that complete it,
    and text that might be the start of a stop string waits until it is known not to be.

    `context` is the prompt's ids (only the last one is kept). Sentencepiece-style decoders
    drop the leading space of whichever token comes first, so without that context the first
    word would be glued to the prompt ("there was" + "a" -> "there wasa").
    """

    def __init__(self, tokenizer: Any, stops: Sequence[str], context: Sequence[int] = ()) -> None:
        self.tokenizer = tokenizer
        self.stops = tuple(s for s in stops if s)
        self.longest_stop = max((len(s) for s in self.stops), default=0)
        self.ids: list[int] = list(context[-1:])
        self.prefix = 0  # ids[prefix:read] are decoded already; they give context for the next piece
        self.read = len(self.ids)
        self.text = ""  # the draft's text so far (cut at a stop string)
        self.sent = 0  # how many characters of `text` were handed out
        self.tokens = 0  # tokens the model produced for this draft, the ending one included
        self.reason: str | None = None  # set once the draft is over: eos | length | stopped

    @property
    def done(self) -> bool:
        """True once the draft ended (eos, stop string, or the end of generation)."""
        return self.reason is not None

    def add(self, token_id: int) -> str:
        """Take one new token; return the text that can be shown now (maybe empty)."""
        if self.done:  # e.g. the token after a stop string: not part of the draft
            return ""
        self.ids.append(token_id)
        self._decode_new(final=False)
        return self._release()

    def finish(self, reason: str) -> str:
        """End the draft (keeping an earlier reason, e.g. a stop string) and return all text left."""
        if not self.done:
            self._decode_new(final=True)
            self.reason = self.reason or reason
        return self._release()

    def _decode(self, start: int, end: int | None = None) -> str:
        return self.tokenizer.decode(
            self.ids[start:end], skip_special_tokens=True, clean_up_tokenization_spaces=False
        )

    def _decode_new(self, final: bool) -> None:
        """Append the text of ids[read:] unless it ends mid-character (and more may come)."""
        if self.read == len(self.ids):
            return
        known = self._decode(self.prefix, self.read)
        both = self._decode(self.prefix)
        settled = final or not both.endswith(_REPLACEMENT) or len(self.ids) - self.read >= _MAX_PENDING_TOKENS
        if len(both) > len(known) and settled:
            self._append(both[len(known) :])
            self.prefix, self.read = self.read, len(self.ids)

    def _append(self, piece: str) -> None:
        """Add `piece` to the text and cut the text at the first stop string, if one appeared."""
        search_from = max(0, len(self.text) - self.longest_stop + 1)
        self.text += piece
        hits = [i for i in (self.text.find(s, search_from) for s in self.stops) if i >= 0]
        if hits:
            self.text = self.text[: min(hits)]
            self.reason = "eos"

    def _release(self) -> str:
        """The text not handed out yet, minus a tail that may still become a stop string."""
        end = len(self.text) if self.done else len(self.text) - self._stop_prefix_length()
        piece = self.text[self.sent : max(end, self.sent)]
        self.sent += len(piece)
        return piece

    def _stop_prefix_length(self) -> int:
        """Length of the longest end of the text that is the beginning of some stop string."""
        for size in range(min(self.longest_stop - 1, len(self.text)), 0, -1):
            tail = self.text[-size:]
            if any(stop.startswith(tail) for stop in self.stops):
                return size
        return 0


@dataclass
class _End:
    """Queue item: generation is over (normally or cancelled)."""


@dataclass
class _Failure:
    """Queue item: the worker raised `error`."""

    error: BaseException


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
        self.sink.put(_End())


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
class PreparedPrompt:
    """A prompt ready to decode: fitted token ids, settings (capped, seed resolved) and notices."""

    ids: list[int]
    settings: GenerationSettings
    dropped_prompt_tokens: int
    notices: tuple[str, ...]

    def draft_decoders(self, tokenizer: Any, stops: Sequence[str]) -> list[DraftDecoder]:
        """One text decoder per draft, each given the prompt as context (see `DraftDecoder`)."""
        return [DraftDecoder(tokenizer, stops, self.ids) for _ in range(self.settings.num_drafts)]


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
                if isinstance(item, _End):
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
                if isinstance(item, _Failure):
                    raise GenerationError(failure_message(item.error)) from item.error
                yield item
        finally:
            if self.result is None:  # the caller stopped early, or an error: free the worker
                self.cancel()

    def _join_worker(self) -> None:
        """Wait for the worker to leave generate (it has already ended), so none outlives the stream."""
        if self._job.worker is not None:
            self._job.worker.join(timeout=self._timeout_s)

    def _next_item(self) -> Chunk | _End | _Failure:
        """The next queue item; raises `GenerationTimeout` when no token came for `timeout_s`."""
        streamer = self._job.streamer
        while True:
            wait = self._timeout_s - (time.perf_counter() - streamer.last_token_at)
            try:
                return streamer.sink.get(timeout=max(wait, 0.0))
            except queue.Empty:
                if time.perf_counter() - streamer.last_token_at >= self._timeout_s:
                    self.cancel()
                    raise GenerationTimeout(
                        f"no token arrived within {self._timeout_s:g} s, so generation was stopped; "
                        "try a shorter prompt or fewer tokens"
                    ) from None


def failure_message(error: BaseException) -> str:
    """A user-facing message for an exception raised inside the worker."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return "the GPU ran out of memory; try fewer drafts, fewer tokens or a shorter prompt"
    return f"generation failed: {type(error).__name__}: {error}"


def build_result(
    prepared: PreparedPrompt,
    decoders: Sequence[DraftDecoder],
    started: float,
    first_token_at: float | None,
    ended_at: float | None,
) -> GenerationResult:
    """Texts and measurements of a request (`perf_counter` times), the same for both engines."""
    ended = ended_at or time.perf_counter()
    generated = sum(decoder.tokens for decoder in decoders)
    elapsed = ended - started
    return GenerationResult(
        texts=tuple(decoder.text for decoder in decoders),
        finish_reason=decoders[0].reason or "stopped",
        prompt_tokens=len(prepared.ids),
        generated_tokens=generated,
        time_to_first_token_s=(first_token_at - started) if first_token_at is not None else 0.0,
        tokens_per_s=generated / elapsed if elapsed > 0 else 0.0,
        seed=prepared.settings.seed,
        dropped_prompt_tokens=prepared.dropped_prompt_tokens,
        notices=prepared.notices,
    )


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
) -> GenerationConfig:
    """An explicit `GenerationConfig` for `settings`, so the model's own sampling defaults don't leak in.

    Every sampling value is set: generate fills unset ones from the model's generation_config.json,
    which would change sampling, and for greedy decoding (temperature 0) made transformers warn that
    they are unused; greedy gets transformers' neutral values instead. top_k 0 means no top-k filter.
    `model_defaults` is the model's `generation_config`, only read to switch off its min_p.
    `static_cache_len` asks for a static KV cache of that many columns (on CUDA, transformers
    then compiles the decode step).
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
    if static_cache_len is not None:
        values.update(cache_implementation="static", max_cache_len=static_cache_len)
    if not greedy and getattr(model_defaults, "min_p", None) is not None:
        values["min_p"] = 0.0  # None would mean "use the model's min_p"
    return GenerationConfig(**values)


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
        self._lock = threading.Lock()
        self._info = BackendInfo(
            model_name=loaded.name,
            device=_device_label(loaded, static_cache),
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

    def prepare_prompt(self, prompt: Prompt, settings: GenerationSettings) -> PreparedPrompt:
        """Cap the settings, encode the prompt (chat template or document), fit it, resolve the seed.

        The batched engine prepares its requests here too, so both engines see the same tokens.
        """
        settings = settings.capped(self.max_new_tokens_cap)
        ids, template_notices = self._encode(prompt)
        ids, settings, dropped, notices = self._fit(ids, settings)
        if settings.seed == -1 and not settings.greedy:
            settings = settings.with_seed(secrets.randbelow(_MAX_SEED + 1))
        return PreparedPrompt(ids, settings, dropped, (*prompt.notices, *template_notices, *notices))

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
        config = build_generation_config(prepared.settings, sorted(eos_ids), pad_id, defaults, cache_len)
        decoders = prepared.draft_decoders(tokenizer, prompt.stop)
        return _Job(prepared, config, threading.Event(), _BatchStreamer(decoders, eos_ids, queue.Queue()))

    def _fit(
        self, ids: list[int], settings: GenerationSettings
    ) -> tuple[list[int], GenerationSettings, int, tuple[str, ...]]:
        """Make the request runnable: one draft when greedy; prompt + output within the context window
        (the prompt is trimmed from the left if needed).

        Returns the ids, the (maybe changed) settings, how many prompt tokens were dropped and notices.
        """
        window, notices = self.loaded.context_window, ()
        if settings.greedy and settings.num_drafts > 1:  # greedy drafts would all be the same text
            settings = dataclasses.replace(settings, num_drafts=1)
            notices = ("temperature 0 always writes the same text, so only one draft was written",)
        if settings.max_new_tokens >= window:  # no room for any prompt: write at most half the window
            settings = dataclasses.replace(settings, max_new_tokens=max(1, window // 2))
            notices = (
                *notices,
                f"max_new_tokens was lowered to {settings.max_new_tokens} "
                f"to fit the model's context window of {window} tokens",
            )
        limit = window - settings.max_new_tokens
        ids, dropped = _trim_left(ids, limit, self.loaded.tokenizer.bos_token_id)
        return ids, settings, dropped, notices

    def _encode(self, prompt: Prompt) -> tuple[list[int], tuple[str, ...]]:
        """Token ids of the chat-template form when the model has one and the prompt has messages.

        A template that rejects the messages (some refuse a system turn) falls back to the
        document form, with a notice.
        """
        tokenizer = self.loaded.tokenizer
        if self.loaded.chat and prompt.messages:
            try:
                text = tokenizer.apply_chat_template(
                    [dict(m) for m in prompt.messages], add_generation_prompt=True, tokenize=False
                )
            except Exception as error:  # jinja2 TemplateError, or the template's raise_exception()
                notice = f"the model's chat template rejected the prompt ({error}); plain text was used"
                return self._encode_document(prompt.document), (notice,)
            return list(tokenizer(text, add_special_tokens=False)["input_ids"]), ()
        return self._encode_document(prompt.document), ()

    def _encode_document(self, document: str) -> list[int]:
        """Token ids of `document` (with the tokenizer's BOS, if it adds one)."""
        tokenizer = self.loaded.tokenizer
        ids = tokenizer(document)["input_ids"]
        if ids:
            return list(ids)
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        if start is None:
            raise GenerationError("the prompt is empty; write something for the model to continue")
        return [start]  # an empty document: let the model start from its start-of-text token

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
            job.streamer.sink.put(_Failure(error))

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
            )


def _trim_left(ids: list[int], limit: int, bos_id: int | None) -> tuple[list[int], int]:
    """Keep the last `limit` ids (and a leading BOS); return them and how many were dropped."""
    dropped = len(ids) - limit
    if dropped <= 0:
        return ids, 0
    if bos_id is not None and ids[0] == bos_id and limit > 1:
        return [ids[0], *ids[1 + dropped :]], dropped
    return ids[dropped:], dropped


def _device_label(loaded: LoadedModel, static_cache: bool) -> str:
    """'cuda (bfloat16)', plus the static cache and whether its decode step is compiled."""
    label = f"{loaded.device} ({str(loaded.dtype).removeprefix('torch.')})"
    if static_cache:
        label += ", static KV cache" + (" + torch.compile" if loaded.device == "cuda" else "")
    return label


def end_ids(loaded: LoadedModel, override: Sequence[int] | None) -> set[int]:
    """The ids that end a draft: `override` when given (e.g. `()`: never end early), else the model's."""
    return eos_token_ids(loaded) if override is None else set(override)


def eos_token_ids(loaded: LoadedModel) -> set[int]:
    """End-of-sequence ids from the tokenizer and the model's generation config (chat models list several)."""
    ids: set[int] = set()
    configured = getattr(loaded.model.generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(int(i) for i in configured)
    if loaded.tokenizer.eos_token_id is not None:
        ids.add(loaded.tokenizer.eos_token_id)
    return ids
