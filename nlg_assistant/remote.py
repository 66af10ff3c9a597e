"""A `Backend` streaming from an OpenAI-compatible server (vLLM, TGI, transformers serve, llama.cpp...).

The app sends each request over HTTP with the `openai` client and streams the answer back as
`Chunk`s, so a big model can run on another machine while the UI stays here. Base models get
``/v1/completions`` with `Prompt.document`; chat models get ``/v1/chat/completions`` with
`Prompt.messages`. A server without ``/v1/completions`` gets the document as one user turn.

How `GenerationSettings` reach the server (what each server does with them is in docs/remote.md):

======================  ===================================  ==========================================
setting                 sent as                              notes
======================  ===================================  ==========================================
max_new_tokens          ``max_tokens``                       capped by ``--max-new-tokens-cap``
temperature             ``temperature``                      0 means greedy on every server listed
top_p                   ``top_p``                            sent only below 1; 0 is sent as greedy
seed                    ``seed``                             -1 is resolved here; draft i gets seed + i
num_drafts              one streamed request per draft       ``n`` is ignored by TGI, llama.cpp, Ollama
                                                             and transformers serve, so drafts are
                                                             parallel requests (vLLM batches them)
top_k                   ``top_k`` field (extra body)         sent when sampling; 0 (off) is sent as -1
repetition_penalty      ``repetition_penalty`` (extra body)  multiplicative (HF style); NOT the same as
                                                             OpenAI's additive ``frequency_penalty``,
                                                             which is never sent
no_repeat_ngram_size    ``generation_config`` only           transformers serve only; elsewhere a
                                                             notice says it was ignored
Prompt.stop             ``stop``                             also enforced here, so the stop string is
                                                             never shown even if a server echoes it
======================  ===================================  ==========================================

transformers serve rejects unknown fields (HTTP 422), so when a server names one of these fields
in a 4xx answer the backend retries with all three HF settings (and ``do_sample``, which that
server needs to sample at all) in a ``generation_config`` JSON string, its own field; a server
that refuses that too gets neither, with a notice. The choice is remembered for the backend's life.

Token counts for prompt budgets are an approximation (about 4 characters per token), because the
server's tokenizer is not available here and nothing is downloaded.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2
import openai

from .backend import (
    Alternative,
    BackendInfo,
    BusyError,
    Chunk,
    GenerationError,
    GenerationResult,
    GenerationTimeout,
    Prompt,
)
from .config import AppConfig, GenerationSettings
from .decoding import StopScanner
from .remote_alternatives import remote_alternatives

log = logging.getLogger(__name__)

DEFAULT_CONTEXT_WINDOW = 4096
DEFAULT_API_KEY = "EMPTY"  # vLLM, TGI, llama.cpp and Ollama accept any key unless started with one
CONNECT_TIMEOUT_S = 10.0
CONNECT_RETRIES = 2
CHARS_PER_TOKEN = 4
POLL_S = 0.05  # how often the reader checks for Stop while waiting for the next chunk
MAX_SEED = 2**31 - 1
# Keys under which servers report the context window in /v1/models (vLLM, SGLang, LM Studio...).
WINDOW_KEYS = ("max_model_len", "context_length", "context_window", "max_context_length")
EXTRA_FIELDS = ("top_k", "repetition_penalty")  # the ones fields-style servers honour
REFUSABLE_FIELDS = (*EXTRA_FIELDS, "no_repeat_ngram_size")

# How the HF-only sampling settings are sent; a server that refuses one style gets the next.
STYLE_FIELDS = "fields"  # top-level JSON fields (vLLM, SGLang, llama.cpp)
STYLE_GENERATION_CONFIG = "generation_config"  # transformers serve's JSON GenerationConfig string
STYLE_NONE = "none"  # the server takes neither: only OpenAI fields are sent
NEXT_STYLE = {STYLE_FIELDS: STYLE_GENERATION_CONFIG, STYLE_GENERATION_CONFIG: STYLE_NONE}
FINISH_MAP = {"stop": "eos", "length": "length"}


def approx_tokens(text: str) -> int:
    """Rough token count of `text` (about 4 characters per token for English BPE vocabularies)."""
    return len(text) // CHARS_PER_TOKEN + 1


def normalize_base_url(url: str) -> str:
    """`url` without a trailing slash, with ``/v1`` added when it has no path (all servers use /v1)."""
    url = url.strip().rstrip("/")
    if not urlsplit(url).path:
        url += "/v1"
    return url


class OpenAIBackend:
    """Streams text from an OpenAI-compatible HTTP server; see the module docstring for the mapping.

    Nothing is contacted on construction; `probe()` (called by `from_config` and lazily by
    `start`) lists the server's models, checks `model`, reads the context window and, when
    `chat` is None, asks the server whether the model takes chat requests.
    """

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        api_key: str = DEFAULT_API_KEY,
        chat: bool | None = None,
        timeout_s: float = 300.0,
        max_new_tokens_cap: int = 1024,
        default_context_window: int = DEFAULT_CONTEXT_WINDOW,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        self.timeout_s = timeout_s
        self.max_new_tokens_cap = max_new_tokens_cap
        self.context_window_reported = False
        self._model = model
        self._chat = chat
        self._window = default_context_window
        self._style = STYLE_FIELDS
        self._has_completions = True
        self._probed = False
        self._lock = threading.Lock()
        timeout = openai.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s))
        self._client = openai.OpenAI(
            base_url=self.base_url, api_key=api_key, timeout=timeout, max_retries=CONNECT_RETRIES
        )

    @classmethod
    def from_config(cls, config: AppConfig) -> OpenAIBackend:
        """Build from the app's flags and probe the server once.

        Raises `GenerationError` when ``--api-key-env`` names an unset variable or the server does
        not serve ``--model``. A server that is not up yet is only logged: requests will say so.
        """
        api_key = DEFAULT_API_KEY
        if config.api_key_env:
            api_key = os.environ.get(config.api_key_env, "")
            if not api_key:
                raise GenerationError(
                    f"--api-key-env {config.api_key_env}: that environment variable is not set or empty"
                )
        backend = cls(
            config.base_url or "",
            config.model,
            api_key=api_key,
            chat=config.chat,
            timeout_s=config.request_timeout_s,
            max_new_tokens_cap=config.max_new_tokens_cap,
        )
        try:
            backend.probe()
        except GenerationError as exc:
            if backend.reachable_error(exc):
                log.warning("%s; the app starts anyway and retries on each request", exc)
            else:
                raise
        return backend

    @staticmethod
    def reachable_error(exc: GenerationError) -> bool:
        """True when `exc` only says the server is down or slow (worth retrying later)."""
        return isinstance(exc, (_UnreachableError, GenerationTimeout))

    @property
    def info(self) -> BackendInfo:
        """Model name, "remote: URL", context window (reported or the default) and chat mode."""
        return BackendInfo(
            model_name=self._model or "(not known until the server answers)",
            device=f"remote: {self.base_url}",
            context_window=self._window,
            chat=bool(self._chat),
        )

    def count_tokens(self, text: str) -> int:
        """An estimate (characters / 4 + 1): the server's tokenizer is not available here."""
        return approx_tokens(text)

    def start(self, prompt: Prompt, settings: GenerationSettings) -> RemoteStream:
        """Open one streamed request per draft; errors surface from iteration (or here if unreachable)."""
        if not self._probed:
            self.probe()
        settings = settings.capped(self.max_new_tokens_cap)
        if settings.seed < 0:
            settings = settings.with_seed(random.randrange(MAX_SEED))
        stream = RemoteStream(self, prompt, settings)
        stream.launch()
        return stream

    def alternatives(self, prompt: Prompt, k: int) -> list[Alternative]:
        """The server's `k` likeliest next tokens (via logprobs); `GenerationError` if it offers none."""
        if not self._probed:
            self.probe()
        use_chat = self._use_chat(prompt)
        return remote_alternatives(self._client, self._model or "", prompt, k, use_chat, self.explain)

    # ----- probing the server -----

    def probe(self) -> None:
        """List the server's models, check ours, read its window, detect chat; raise `GenerationError`."""
        entries = self._list_models()
        with self._lock:
            entry = self._pick_model(entries)
            window = _reported_window(entry)
        if window:
            self._window, self.context_window_reported = window, True
        else:
            log.info("%s reports no context window; assuming %d tokens", self.base_url, self._window)
        if self._chat is None:
            self._chat = self._detect_chat()
        self._probed = True

    def _pick_model(self, entries: list[dict] | None) -> dict:
        """The entry for our model (the first listed when none was named); `GenerationError` if absent."""
        if entries is None:  # the server has no /v1/models: trust --model
            if self._model is None:
                raise GenerationError(f"the server at {self.base_url} does not list its models; pass --model")
            return {"id": self._model}
        ids = [str(e.get("id")) for e in entries]
        if self._model is None and ids:
            self._model = ids[0]
        entry = _find_model(entries, self._model)
        if entry is None:
            raise GenerationError(self._unknown_model_message(ids))
        self._model = str(entry.get("id"))
        return entry

    def _list_models(self) -> list[dict] | None:
        """The /v1/models entries as plain dicts (extra fields such as max_model_len kept); None if 404."""
        try:
            page = self._client.with_options(max_retries=0).models.list()
            return [m.to_dict() for m in page.data]
        except openai.NotFoundError:
            return None
        except Exception as exc:
            raise self.explain(exc) from exc

    def _detect_chat(self) -> bool:
        """Whether the model answers a one-token chat request (it has a chat template)."""
        try:
            self._client.with_options(max_retries=0).chat.completions.create(
                model=self._model or "", messages=[{"role": "user", "content": "Hi"}], max_tokens=1
            )
        except openai.APIStatusError as exc:
            if exc.status_code in (401, 403, 429):  # says nothing about chat: report it
                raise self.explain(exc) from exc
            log.info("%s: no chat completions for %s (%s)", self.base_url, self._model, exc.status_code)
            return False
        except Exception as exc:
            raise self.explain(exc) from exc
        return True

    def _unknown_model_message(self, ids: list[str]) -> str:
        served = ", ".join(ids) if ids else "nothing (its model list is empty)"
        return f"the server at {self.base_url} has no model {self._model}; it serves: {served}"

    # ----- requests -----

    def open(self, prompt: Prompt, settings: GenerationSettings) -> tuple[openai.Stream, tuple[str, ...]]:
        """Start one streamed request; returns the stream and notices about ignored settings.

        Retries (at most twice, remembered) when the server refuses the HF sampling fields or lacks
        /v1/completions; any other failure is raised as a `GenerationError`.
        """
        for _attempt in range(4):
            style, use_chat = self._style, self._use_chat(prompt)
            try:
                stream = self._create(prompt, settings, style, use_chat)
                return stream, self._notices(settings, style, use_chat, prompt)
            except openai.APIStatusError as exc:
                if not self._adapt(exc, style, use_chat):
                    raise self.explain(exc) from exc
            except Exception as exc:
                raise self.explain(exc) from exc
        raise GenerationError(f"the server at {self.base_url} refused every form of the request")

    def _use_chat(self, prompt: Prompt) -> bool:
        """Chat when the model is a chat model with messages, or when /v1/completions is missing."""
        return (bool(self._chat) and bool(prompt.messages)) or not self._has_completions

    def _adapt(self, exc: openai.APIStatusError, style: str, use_chat: bool) -> bool:
        """Learn from a refusal: drop a sampling-field style or /v1/completions. True = try again."""
        message = _error_text(exc)
        with self._lock:
            if exc.status_code in (400, 422) and style in NEXT_STYLE and _names_extra_field(message, style):
                if self._style == style:  # another draft may have moved on already
                    self._style = NEXT_STYLE[style]
                log.info("%s refused %s-style sampling fields; trying %s", self.base_url, style, self._style)
                return True
            if exc.status_code in (404, 405) and not use_chat and "model" not in message.lower():
                self._has_completions = False
                log.info("%s has no /v1/completions; sending documents as a chat turn", self.base_url)
                return True
        return False

    def _create(self, prompt: Prompt, settings: GenerationSettings, style: str, use_chat: bool):
        """One `create(stream=True)` call on the right endpoint."""
        wire = _WireSampling.of(settings, style)
        common = {
            "model": self._model or "",
            "stream": True,
            "stream_options": {"include_usage": True},
            "stop": list(prompt.stop) or openai.omit,
            "max_tokens": wire.max_tokens,
            "temperature": wire.temperature,
            "top_p": openai.omit if wire.top_p is None else wire.top_p,
            "seed": wire.seed,
            "extra_body": wire.extra_body or None,
        }
        if use_chat:
            messages = list(prompt.messages) or [{"role": "user", "content": prompt.document}]
            return self._client.chat.completions.create(messages=messages, **common)
        return self._client.completions.create(prompt=prompt.document, **common)

    def _notices(self, settings: GenerationSettings, style: str, use_chat: bool, prompt: Prompt):
        """What the user should know about this request's settings and form."""
        notices = []
        ignored = [n for n in _hf_only_settings(settings) if not _style_sends(style, n)]
        if ignored:
            notices.append(f"this server does not take {', '.join(ignored)}; ignored")
        if use_chat and not prompt.messages:
            notices.append("the server has no /v1/completions: the text was sent as one chat turn")
        return tuple(notices)

    # ----- errors -----

    def explain(self, exc: BaseException, *, midstream: bool = False) -> GenerationError:
        """Turn any client/transport failure into a `GenerationError` a user can act on.

        `midstream`: the answer had started, so a lost connection means the server went away.
        """
        if isinstance(exc, GenerationError):
            return exc
        if isinstance(exc, (openai.APITimeoutError, httpx2.TimeoutException)):
            return GenerationTimeout(
                f"the model server at {self.base_url} sent nothing for {self.timeout_s:.0f} s "
                "(overloaded, or still loading the model?)"
            )
        lost = (openai.APIConnectionError, httpx2.TransportError)
        if isinstance(exc, lost) and midstream:
            return GenerationError(
                f"the connection to the model server at {self.base_url} broke mid-answer "
                "(server stopped or restarted?)"
            )
        if isinstance(exc, lost):
            return _UnreachableError(f"cannot reach the model server at {self.base_url} — is it running?")
        if isinstance(exc, openai.APIStatusError):
            return self._status_error(exc)
        if isinstance(exc, openai.APIError):
            return GenerationError(
                f"the model server at {self.base_url} reported an error: {_error_text(exc)}"
            )
        return GenerationError(f"request to the model server at {self.base_url} failed: {exc!r}")

    def _status_error(self, exc: openai.APIStatusError) -> GenerationError:
        """An HTTP error answer: unknown model, busy, or the status code with the server's message."""
        message = _error_text(exc)
        if exc.status_code in (400, 404) and "model" in message.lower():
            try:
                ids = [str(e.get("id")) for e in self._list_models() or ()]
            except GenerationError:
                ids = []
            if ids and _find_model([{"id": i} for i in ids], self._model) is None:
                return GenerationError(self._unknown_model_message(ids))
        if exc.status_code in (401, 403):
            return GenerationError(
                f"the model server at {self.base_url} refused the API key (HTTP {exc.status_code}) "
                "— check --api-key-env"
            )
        if exc.status_code in (429, 503):
            return BusyError(f"the model server at {self.base_url} is busy ({exc.status_code}): {message}")
        return GenerationError(
            f"the model server at {self.base_url} answered HTTP {exc.status_code}: {message}"
        )


class _UnreachableError(GenerationError):
    """The server did not accept a connection."""


# ----- one request's stream -----


@dataclass
class _Draft:
    """What the reader knows about one draft's request."""

    scanner: StopScanner
    text: str = ""
    chunks: int = 0
    finish: str | None = None  # eos / length once the server (or a stop string) ended it
    done: bool = False  # the worker will send nothing more
    stopped_here: bool = False  # a stop string ended it on this side; its stream was closed
    usage_prompt: int | None = None
    usage_completion: int | None = None
    stream: openai.Stream | None = None
    notices: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Event:
    """A message from a draft's worker thread to the reader: text, a finish, a usage, an error or done."""

    draft: int
    text: str = ""
    finish: str | None = None
    usage: tuple[int, int] | None = None
    error: GenerationError | None = None
    done: bool = False


class RemoteStream:
    """The `TextStream` of one remote request: one worker thread per draft feeds a queue.

    Workers only talk to the HTTP server and put `_Event`s on the queue; the iterating thread
    owns all text and counters. `cancel()` may come from any thread.
    """

    def __init__(self, backend: OpenAIBackend, prompt: Prompt, settings: GenerationSettings) -> None:
        self.backend = backend
        self.prompt = prompt
        self.settings = settings
        self.result: GenerationResult | None = None
        self._events: queue.Queue[_Event] = queue.Queue()
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._drafts = [_Draft(StopScanner(prompt.stop)) for _ in range(settings.num_drafts)]
        self._t_start = time.perf_counter()
        self._t_first: float | None = None

    def launch(self) -> None:
        """Start the worker threads (one per draft; draft i uses seed + i)."""
        for index in range(self.settings.num_drafts):
            seed = (self.settings.seed + index) % MAX_SEED
            worker = threading.Thread(
                target=self._work,
                args=(index, self.settings.with_seed(seed)),
                daemon=True,
                name=f"remote-draft-{index}",
            )
            worker.start()

    def cancel(self) -> None:
        """Stop: close every open HTTP stream (the server then stops generating). Safe to repeat."""
        self._cancel.set()
        self._close_streams()

    def __iter__(self) -> Iterator[Chunk]:
        """Yield `Chunk`s as they arrive; raise `GenerationError` / `GenerationTimeout`; set `result`."""
        try:
            while not all(d.done for d in self._drafts):
                event = self._next_event()
                if event is None:  # Stop was pressed
                    break
                yield from self._apply(event)
        finally:
            if not all(d.done for d in self._drafts):  # error, Stop, or the caller left early
                self._cancel.set()
                self._close_streams()
            self.result = self._result()

    def _close_streams(self) -> None:
        with self._lock:
            streams = [d.stream for d in self._drafts if d.stream is not None]
        for stream in streams:
            _close_quietly(stream)

    # ----- worker side -----

    def _work(self, index: int, settings: GenerationSettings) -> None:
        """Run one draft's request, forwarding its pieces as `_Event`s; never raises."""
        draft = self._drafts[index]
        try:
            stream, notices = self.backend.open(self.prompt, settings)
            with self._lock:
                draft.stream, draft.notices = stream, notices
            if self._cancel.is_set():  # Stop came while the request was being opened
                _close_quietly(stream)
                return
            for piece in stream:
                if self._cancel.is_set() or draft.stopped_here:
                    break
                self._forward(index, piece)
            self._events.put(_Event(index, done=True))
        except Exception as exc:
            if self._cancel.is_set() or draft.stopped_here:
                self._events.put(_Event(index, done=True))
            else:
                error = self.backend.explain(exc, midstream=draft.stream is not None)
                self._events.put(_Event(index, error=error))

    def _forward(self, index: int, piece: Any) -> None:
        """Queue a streamed piece's text, finish reason and usage (completions or chat shape)."""
        for choice in piece.choices or ():
            delta = getattr(choice, "delta", None)
            text = (delta.content if delta is not None else choice.text) or ""
            if text or choice.finish_reason:
                self._events.put(_Event(index, text=text, finish=choice.finish_reason))
        usage = getattr(piece, "usage", None)
        if usage is not None:
            self._events.put(_Event(index, usage=(usage.prompt_tokens, usage.completion_tokens)))

    # ----- reader side -----

    def _next_event(self) -> _Event | None:
        """The next worker event; None once cancelled; `GenerationTimeout` if the workers fall silent."""
        deadline = time.monotonic() + self.backend.timeout_s + CONNECT_TIMEOUT_S
        while not self._cancel.is_set():
            try:
                event = self._events.get(timeout=POLL_S)
                # A worker that saw Stop may still report; Stop wins over whatever it says.
                return None if self._cancel.is_set() else event
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise GenerationTimeout(
                        f"no answer from the model server at {self.backend.base_url} "
                        f"in {self.backend.timeout_s:.0f} s"
                    ) from None
        return None

    def _apply(self, event: _Event) -> Iterator[Chunk]:
        """Update the draft from `event`, yielding any text that is now safe to show."""
        draft = self._drafts[event.draft]
        if event.usage is not None:
            draft.usage_prompt, draft.usage_completion = event.usage
        if draft.stopped_here:  # ended by a stop string: the rest of its stream does not count
            draft.done = draft.done or event.done or event.error is not None
            return
        if event.error is not None:
            raise event.error
        if event.text and draft.finish is None:
            yield from self._emit(event.draft, draft, event.text)
        if event.finish and draft.finish is None:
            draft.finish = FINISH_MAP.get(event.finish, "eos")
            yield from self._flush(event.draft, draft)
        if event.done:
            draft.done = True
            if draft.finish is None:
                raise GenerationError(
                    f"the model server at {self.backend.base_url} ended the answer without saying why "
                    "(was it restarted?)"
                )

    def _emit(self, index: int, draft: _Draft, text: str) -> Iterator[Chunk]:
        """Pass `text` through the stop scanner; a stop string ends this draft (finish: eos)."""
        if self._t_first is None:
            self._t_first = time.perf_counter()
        draft.chunks += 1
        safe, hit = draft.scanner.feed(text)
        if safe:
            draft.text += safe
            yield Chunk(index, safe)
        if hit:
            draft.finish, draft.stopped_here = "eos", True
            with self._lock:
                stream = draft.stream
            if stream is not None:
                _close_quietly(stream)

    def _flush(self, index: int, draft: _Draft) -> Iterator[Chunk]:
        """Release text held back as a possible stop-string start, at the end of a draft."""
        rest = draft.scanner.flush()
        if rest:
            draft.text += rest
            yield Chunk(index, rest)

    def _result(self) -> GenerationResult:
        """Measurements for the status line; token counts come from usage when every draft sent it."""
        t_end = time.perf_counter()
        counts = [d.chunks if d.usage_completion is None else d.usage_completion for d in self._drafts]
        generated = sum(counts)
        first = self._t_first or t_end
        decode_s = t_end - first if generated > 1 and t_end > first else t_end - self._t_start
        notices = list(self.prompt.notices) + sorted({n for d in self._drafts for n in d.notices})
        if generated and any(d.usage_completion is None for d in self._drafts):
            notices.append("token counts are estimated (one per streamed piece): the server sent no usage")
        return GenerationResult(
            texts=tuple(d.text for d in self._drafts),
            finish_reason=self._finish_reason(),
            prompt_tokens=self._prompt_tokens(),
            generated_tokens=generated,
            time_to_first_token_s=first - self._t_start,
            tokens_per_s=generated / decode_s if decode_s > 0 else 0.0,
            seed=self.settings.seed,
            notices=tuple(notices),
        )

    def _finish_reason(self) -> str:
        """stopped (Stop, error, or left early) > length (any draft) > eos."""
        if self._cancel.is_set() or any(d.finish is None for d in self._drafts):
            return "stopped"
        return "length" if any(d.finish == "length" for d in self._drafts) else "eos"

    def _prompt_tokens(self) -> int:
        reported = [d.usage_prompt for d in self._drafts if d.usage_prompt is not None]
        if reported:
            return reported[0]
        text = "\n".join(m["content"] for m in self.prompt.messages) or self.prompt.document
        return approx_tokens(text)


@dataclass(frozen=True)
class _WireSampling:
    """`GenerationSettings` as one server style wants them on the wire (see the module table)."""

    max_tokens: int
    temperature: float
    top_p: float | None  # None: not sent (1 = off)
    seed: int
    extra_body: dict  # JSON fields outside the OpenAI schema

    @classmethod
    def of(cls, settings: GenerationSettings, style: str) -> _WireSampling:
        greedy = settings.greedy or settings.top_p == 0.0  # top_p 0 keeps only the likeliest token
        top_p = settings.top_p if not greedy and settings.top_p < 1.0 else None
        if style == STYLE_FIELDS:
            extra = _extra_fields(settings, greedy)
        elif style == STYLE_GENERATION_CONFIG:
            extra = {"generation_config": _generation_config(settings, greedy)}
        else:
            extra = {}
        temperature = 0.0 if greedy else settings.temperature
        return cls(settings.max_new_tokens, temperature, top_p, settings.seed, extra)


def _generation_config(settings: GenerationSettings, greedy: bool) -> str:
    """transformers serve's `generation_config` JSON: the HF-only settings and `do_sample`.

    Every field is explicit: unset ones would fall back to the model's defaults (e.g. top_k 50).
    """
    config = {
        "do_sample": not greedy,
        "top_k": settings.top_k,
        "repetition_penalty": settings.repetition_penalty,
        "no_repeat_ngram_size": settings.no_repeat_ngram_size,
    }
    return json.dumps(config)


def _extra_fields(settings: GenerationSettings, greedy: bool) -> dict:
    """top_k / repetition_penalty / no_repeat_ngram_size as plain JSON fields.

    When sampling, top_k is always sent (-1 = off for vLLM and llama.cpp): a server that refuses
    it (transformers serve, which also needs `do_sample` to sample at all) is then found on the
    first sampled request. no_repeat_ngram_size is sent only to be refused by such a server.
    """
    extra: dict = {"top_k": settings.top_k if settings.top_k > 0 else -1} if not greedy else {}
    if settings.repetition_penalty != 1.0:
        extra["repetition_penalty"] = settings.repetition_penalty
    if settings.no_repeat_ngram_size > 0:
        extra["no_repeat_ngram_size"] = settings.no_repeat_ngram_size
    return extra


def _hf_only_settings(settings: GenerationSettings) -> list[str]:
    """The settings in use that the OpenAI schema has no field for."""
    names = []
    if settings.top_k > 0 and not settings.greedy:
        names.append("top_k")
    if settings.repetition_penalty != 1.0:
        names.append("repetition_penalty")
    if settings.no_repeat_ngram_size > 0:
        names.append("no_repeat_ngram_size")
    return names


def _style_sends(style: str, name: str) -> bool:
    if style == STYLE_GENERATION_CONFIG:
        return True
    return style == STYLE_FIELDS and name in EXTRA_FIELDS


def _names_extra_field(message: str, style: str) -> bool:
    """Whether a refusal is about the fields this style added."""
    names = REFUSABLE_FIELDS if style == STYLE_FIELDS else ("generation_config",)
    return any(name in message for name in names)


def _find_model(entries: list[dict], name: str | None) -> dict | None:
    """The /v1/models entry for `name` (Ollama also answers to NAME for NAME:latest)."""
    for entry in entries:
        if entry.get("id") in (name, f"{name}:latest"):
            return entry
    return None


def _reported_window(entry: dict) -> int | None:
    """The context window a /v1/models entry reports, if any (llama.cpp puts n_ctx under meta)."""
    meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
    for value in [entry.get(k) for k in WINDOW_KEYS] + [meta.get("n_ctx")]:
        if isinstance(value, int) and value > 0:
            return value
    return None


def _error_text(exc: openai.APIError) -> str:
    """The server's own words from an error (OpenAI, FastAPI 'detail' or plain-string bodies)."""
    body = exc.body
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            if body.get(key):
                return str(body[key])
    if isinstance(body, str) and body:
        return body
    return exc.message


def _close_quietly(stream: openai.Stream) -> None:
    """Close an HTTP stream, possibly from another thread; a failure here changes nothing."""
    try:
        stream.close()
    except Exception as exc:  # closing a half-read connection can raise; the stream is gone anyway
        log.debug("closing a remote stream raised %r", exc)
