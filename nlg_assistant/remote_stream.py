"""One remote request's `TextStream`: a worker thread per draft feeds the reading thread.

Split from `remote.py` (which builds requests and explains errors); this module owns what
happens while an answer streams: the gate's queue, stop strings across chunk boundaries, the
per-token timeout, the request's total deadline and our own cap on tokens and characters.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .backend import BusyError, Chunk, GenerationError, GenerationResult, GenerationTimeout, Prompt
from .config import GenerationSettings
from .decoding import StopScanner
from .limits import Ticket

if TYPE_CHECKING:
    import openai

    from .remote import OpenAIBackend

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
CHARS_PER_TOKEN = 4
POLL_S = 0.05  # how often the reader checks for Stop while waiting for the next chunk
MAX_SEED = 2**31 - 1
FINISH_MAP = {"stop": "eos", "length": "length"}
# A streamed piece is at least one token; text beyond this many characters per asked-for token
# means the server ignores max_tokens (no tokenizer averages anywhere near 32 characters a token).
MAX_CHARS_PER_TOKEN = 32
WORKER_GRACE_S = 2.0


def approx_tokens(text: str) -> int:
    """Rough token count of `text` (about 4 characters per token for English BPE vocabularies)."""
    return len(text) // CHARS_PER_TOKEN + 1


@dataclass
class _Draft:
    """What the reader knows about one draft's request."""

    scanner: StopScanner
    text: str = ""
    chunks: int = 0
    chars: int = 0  # characters received (shown or held back by the stop scanner)
    finish: str | None = None  # eos / length once the server (or a stop string, or our cap) ended it
    done: bool = False  # the worker will send nothing more
    stopped_here: bool = False  # a stop string or our token cap ended it here; its stream was closed
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
        self._admitted_at: float | None = None  # monotonic time the gate let the request through
        self._deadline_s = backend.limits.deadline_s(backend.timeout_s, settings.max_new_tokens)
        self._char_cap = settings.max_new_tokens * MAX_CHARS_PER_TOKEN

    def launch(self, ticket: Ticket) -> None:
        """Wait (in a thread) for the gate to let `ticket` through, then start one worker per draft."""
        threading.Thread(target=self._admit, args=(ticket,), daemon=True, name="remote-admit").start()

    def _admit(self, ticket: Ticket) -> None:
        """Hold the request until the gate has a place for every draft; busy for too long = `BusyError`."""
        if not self.backend.gate.wait(ticket, self.backend.timeout_s, self._cancel.is_set):
            message = (
                f"{self.backend.where} is busy: no place for this request in {self.backend.timeout_s:.0f} s"
            )
            self._events.put(_Event(0, error=BusyError(message)))
            return
        self._admitted_at = time.monotonic()
        self._start_workers()

    def _start_workers(self) -> None:
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
        """Run one draft's request, then give its place in the gate back; never raises."""
        try:
            self._run_draft(index, settings)
        finally:
            self.backend.gate.release(1)

    def _run_draft(self, index: int, settings: GenerationSettings) -> None:
        """Send one draft's request, forwarding its pieces as `_Event`s; never raises."""
        draft = self._drafts[index]
        try:
            stream, notices = self.backend.open(self.prompt, settings)
            with self._lock:
                draft.stream, draft.notices = stream, notices
            if self._cancel.is_set():  # Stop came while the request was being opened
                _close_quietly(stream)
                return
            # A reader that stopped reading without cancelling must not keep the server busy: the
            # worker gives up too, a little after the reader would have (so its message wins).
            give_up = (self._admitted_at or time.monotonic()) + self._deadline_s + WORKER_GRACE_S
            for piece in stream:
                if self._cancel.is_set() or draft.stopped_here or time.monotonic() > give_up:
                    _close_quietly(stream)
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
        """The next worker event; None once cancelled; `GenerationTimeout` if the workers fall silent
        or the request outlives its deadline (both counted from when the gate let it through)."""
        called = time.monotonic()
        while not self._cancel.is_set():
            self._check_deadline()
            try:
                event = self._events.get(timeout=POLL_S)
                # A worker that saw Stop may still report; Stop wins over whatever it says.
                return None if self._cancel.is_set() else event
            except queue.Empty:
                admitted = self._admitted_at  # None while queued: the gate's wait has its own limit
                silent_since = max(called, admitted or 0.0)
                if admitted and time.monotonic() > silent_since + self.backend.timeout_s + CONNECT_TIMEOUT_S:
                    raise GenerationTimeout(
                        f"no answer from {self.backend.where} in {self.backend.timeout_s:.0f} s"
                    ) from None
        return None

    def _check_deadline(self) -> None:
        """`GenerationTimeout` once the request has run longer than its total deadline."""
        admitted = self._admitted_at
        if admitted is None or time.monotonic() - admitted <= self._deadline_s:
            return
        written = sum(d.chunks for d in self._drafts)
        raise GenerationTimeout(
            f"{self.backend.where} is too slow: {written} tokens in {self._deadline_s:.0f} s, the most "
            f"a request for {self.settings.max_new_tokens} tokens may take; stopped"
        )

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
                    f"{self.backend.where} ended the answer without saying why (was it restarted?)"
                )

    def _emit(self, index: int, draft: _Draft, text: str) -> Iterator[Chunk]:
        """Pass `text` through the stop scanner; a stop string ends this draft (finish: eos)."""
        if self._t_first is None:
            self._t_first = time.perf_counter()
        if draft.chunks >= self.settings.max_new_tokens or draft.chars >= self._char_cap:
            yield from self._cut(index, draft)  # the server sends more than asked for
            return
        text = text[: self._char_cap - draft.chars]
        draft.chunks += 1
        draft.chars += len(text)
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

    def _cut(self, index: int, draft: _Draft) -> Iterator[Chunk]:
        """End a draft whose server ignores max_tokens: finish 'length', stop reading, say so."""
        draft.finish, draft.stopped_here = "length", True
        yield from self._flush(index, draft)
        with self._lock:
            stream = draft.stream
            draft.notices += (f"the server sent more than {self.settings.max_new_tokens} tokens; cut here",)
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


def _close_quietly(stream: openai.Stream) -> None:
    """Close an HTTP stream, possibly from another thread; a failure here changes nothing."""
    try:
        stream.close()
    except Exception as exc:  # closing a half-read connection can raise; the stream is gone anyway
        log.debug("closing a remote stream raised %r", exc)
