"""A `Backend` streaming from an OpenAI-compatible server (vLLM, TGI, transformers serve, llama.cpp...).

The app sends each request over HTTP with the `openai` client and streams the answer back as
`Chunk`s, so a big model can run on another machine while the UI stays here. Base models get
``/v1/completions`` with `Prompt.document`; chat models get ``/v1/chat/completions`` with
`Prompt.messages`. A server without ``/v1/completions`` gets the document as one user turn.

How `GenerationSettings` go onto the wire is in `remote_wire` (and docs/remote.md).

Token counts for prompt budgets are an approximation (about 4 characters per token), because the
server's tokenizer is not available here and nothing is downloaded.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx2
import openai

from .backend import (
    Alternative,
    BackendInfo,
    BusyError,
    GenerationError,
    GenerationTimeout,
    Prompt,
)
from .config import AppConfig, GenerationSettings
from .limits import RequestGate
from .redact import install_log_redaction, plain_text, redact_text, redact_url, url_secrets
from .remote_alternatives import remote_alternatives
from .remote_stream import CONNECT_TIMEOUT_S, MAX_SEED, RemoteStream, approx_tokens
from .remote_wire import (
    NEXT_STYLE,
    STYLE_FIELDS,
    WireSampling,
    hf_only_settings,
    names_extra_field,
    style_sends,
)

log = logging.getLogger(__name__)

DEFAULT_CONTEXT_WINDOW = 4096
DEFAULT_API_KEY = "EMPTY"  # vLLM, TGI, llama.cpp and Ollama accept any key unless started with one
CONNECT_RETRIES = 2
# Keys under which servers report the context window in /v1/models (vLLM, SGLang, LM Studio...).
WINDOW_KEYS = ("max_model_len", "context_length", "context_window", "max_context_length")
# A request may take request_timeout_s plus max_new_tokens / MIN_TOKENS_PER_S in all: a server that
# drips one token just inside the per-token timeout cannot hold a slot for ever.
MIN_TOKENS_PER_S = 2.0
CLIENT_LOGGERS = ("httpx2", "httpcore2", "openai", "openai._base_client")


@dataclass(frozen=True)
class RemoteLimits:
    """What one backend allows: HTTP requests (drafts) in flight, requests waiting, host shown."""

    max_running: int = 16  # --max-batch-size
    max_waiting: int = 64  # --max-queue
    show_host: bool = False  # --show-backend-host
    min_tokens_per_s: float = MIN_TOKENS_PER_S

    def deadline_s(self, timeout_s: float, max_new_tokens: int) -> float:
        """The most seconds one request may take from its first byte sent to its last token."""
        return timeout_s + max_new_tokens / self.min_tokens_per_s


def _openai_client(url: str, api_key: str, timeout_s: float) -> openai.OpenAI:
    """The client for `url`; ``user:password@`` becomes HTTP basic auth, kept out of the URL.

    httpx applies a URL's credentials as basic auth anyway; moving them to the client's `auth`
    keeps that behaviour while no request URL, log line or exception carries the password.
    """
    parts = urlsplit(url)
    auth = (unquote(parts.username or ""), unquote(parts.password or "")) if parts.username else None
    plain = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    timeout = openai.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s))
    http_client = openai.DefaultHttpxClient(auth=auth) if auth else None
    return openai.OpenAI(
        base_url=plain, api_key=api_key, timeout=timeout, max_retries=CONNECT_RETRIES, http_client=http_client
    )


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
        limits: RemoteLimits | None = None,
    ) -> None:
        url = normalize_base_url(base_url)
        self.limits = limits or RemoteLimits()
        self.base_url = redact_url(url)  # for logs and (with show_host) messages: no credentials
        self.where = f"the model server at {self.base_url}" if self.limits.show_host else "the model server"
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
        self._secrets = url_secrets(url) + ((api_key,) if api_key != DEFAULT_API_KEY else ())
        install_log_redaction(CLIENT_LOGGERS, self._secrets)  # httpx2 logs every request's full URL
        self.gate = RequestGate(self.limits.max_running, self.limits.max_waiting, BusyError)
        self._client = _openai_client(url, api_key, timeout_s)

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
            limits=RemoteLimits(config.max_batch_size, config.max_queue, config.show_backend_host),
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
        """Model name, "remote server" (plus its host with show_host), context window and chat mode."""
        host = urlsplit(self.base_url).netloc
        return BackendInfo(
            model_name=self._model or "(not known until the server answers)",
            device=f"remote server at {host}" if self.limits.show_host else "remote server",
            context_window=self._window,
            chat=bool(self._chat),
        )

    def count_tokens(self, text: str) -> int:
        """An estimate (characters / 4 + 1): the server's tokenizer is not available here."""
        return approx_tokens(text)

    def start(self, prompt: Prompt, settings: GenerationSettings) -> RemoteStream:
        """Queue one streamed request per draft; errors surface from iteration (or here if unreachable).

        Raises `BusyError` when ``--max-queue`` requests already wait for one of the
        ``--max-batch-size`` places (drafts) in flight to this server.
        """
        if not self._probed:
            self.probe()
        settings = settings.capped(self.max_new_tokens_cap)
        if settings.num_drafts > self.gate.max_running:
            raise GenerationError(
                f"num_drafts is {settings.num_drafts} but this server runs at most "
                f"{self.gate.max_running} requests at once; ask for fewer drafts"
            )
        if settings.seed < 0:
            settings = settings.with_seed(random.randrange(MAX_SEED))
        stream = RemoteStream(self, prompt, settings)
        stream.launch(self.gate.enqueue(settings.num_drafts))
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
                raise GenerationError(f"{self.where} does not list its models; pass --model")
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
        served = plain_text(", ".join(ids)) if ids else "nothing (its model list is empty)"
        return f"{self.where} has no model {self._model}; it serves: {served}"

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
        raise GenerationError(f"{self.where} refused every form of the request")

    def _use_chat(self, prompt: Prompt) -> bool:
        """Chat when the model is a chat model with messages, or when /v1/completions is missing."""
        return (bool(self._chat) and bool(prompt.messages)) or not self._has_completions

    def _adapt(self, exc: openai.APIStatusError, style: str, use_chat: bool) -> bool:
        """Learn from a refusal: drop a sampling-field style or /v1/completions. True = try again."""
        message = _raw_error_text(exc)
        with self._lock:
            if exc.status_code in (400, 422) and style in NEXT_STYLE and names_extra_field(message, style):
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
        wire = WireSampling.of(settings, style)
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
        ignored = [n for n in hf_only_settings(settings) if not style_sends(style, n)]
        if ignored:
            notices.append(f"this server does not take {', '.join(ignored)}; ignored")
        if use_chat and not prompt.messages:
            notices.append("the server has no /v1/completions: the text was sent as one chat turn")
        if prompt.copy_source:
            notices.append("keeping the input's words works with local models only; the server wrote freely")
        return tuple(notices)

    # ----- errors -----

    def explain(self, exc: BaseException, *, midstream: bool = False) -> GenerationError:
        """Turn any client/transport failure into a `GenerationError` a user can act on.

        `midstream`: the answer had started, so a lost connection means the server went away.
        Credentials are stripped from the message whatever the server or client put in it.
        """
        if isinstance(exc, GenerationError):
            return exc
        error = self._explain(exc, midstream)
        return type(error)(redact_text(str(error), self._secrets))

    def _explain(self, exc: BaseException, midstream: bool) -> GenerationError:
        if isinstance(exc, (openai.APITimeoutError, httpx2.TimeoutException)):
            return GenerationTimeout(
                f"{self.where} sent nothing for {self.timeout_s:.0f} s "
                "(overloaded, or still loading the model?)"
            )
        lost = (openai.APIConnectionError, httpx2.TransportError)
        if isinstance(exc, lost) and midstream:
            return GenerationError(
                f"the connection to {self.where} broke mid-answer (server stopped or restarted?)"
            )
        if isinstance(exc, lost):
            return _UnreachableError(f"cannot reach {self.where} — is it running?")
        if isinstance(exc, openai.APIStatusError):
            return self._status_error(exc)
        if isinstance(exc, openai.APIError):
            return GenerationError(f"{self.where} reported an error: {_error_text(exc)}")
        reason = plain_text(str(exc))
        return GenerationError(f"request to {self.where} failed: {type(exc).__name__}: {reason}")

    def _status_error(self, exc: openai.APIStatusError) -> GenerationError:
        """An HTTP error answer: unknown model, busy, or the status code with the server's message."""
        message = _error_text(exc)
        if exc.status_code in (400, 404) and "model" in _raw_error_text(exc).lower():
            try:
                ids = [str(e.get("id")) for e in self._list_models() or ()]
            except GenerationError:
                ids = []
            if ids and _find_model([{"id": i} for i in ids], self._model) is None:
                return GenerationError(self._unknown_model_message(ids))
        if exc.status_code in (401, 403):
            return GenerationError(
                f"{self.where} refused the API key (HTTP {exc.status_code}) — check --api-key-env"
            )
        if exc.status_code in (429, 503):
            return BusyError(f"{self.where} is busy ({exc.status_code}): {message}")
        return GenerationError(f"{self.where} answered HTTP {exc.status_code}: {message}")


class _UnreachableError(GenerationError):
    """The server did not accept a connection."""


# ----- small helpers -----


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
    """The server's words as shown to people: one plain line of a few hundred characters at most.

    A server's body may be megabytes, or Markdown with links and images that the status line
    would render (`plain_text` removes both).
    """
    return plain_text(_raw_error_text(exc))


def _raw_error_text(exc: openai.APIError) -> str:
    """The server's own words from an error (OpenAI, FastAPI 'detail' or plain-string bodies), for
    matching field names; the first 64 kB at most."""
    body = exc.body
    text = exc.message
    if isinstance(body, dict):
        text = next((str(body[k]) for k in ("message", "detail", "error") if body.get(k)), text)
    elif isinstance(body, str) and body:
        text = body
    return text[:65536]
