"""One request of the batched engine and the stream its caller reads (see `engine.BatchedBackend`).

The scheduler thread fills a `BatchRequest`'s queue with `Chunk`s and ends it with
`StreamEnd` or `StreamFailure`; the caller's `BatchedStream` reads it with a timeout, and
cancelling (Stop, a closed browser, a timeout) marks the request so the scheduler frees its
rows at its next step.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from .backend import Chunk, GenerationError, GenerationResult
from .config import GenerationSettings
from .decoding import (
    DraftDecoder,
    PreparedPrompt,
    StreamEnd,
    StreamFailure,
    build_result,
    failure_message,
    next_item,
)


@dataclass
class BatchRequest:
    """One `start()` call, shared by the scheduler thread and the caller's stream."""

    prepared: PreparedPrompt  # fitted prompt ids, settings (capped, seed resolved), notices
    decoders: list[DraftDecoder]  # one per draft: incremental text + stop strings
    sink: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)  # Chunk | StreamEnd | StreamFailure
    cancelled: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None
    last_token_at: float = field(default_factory=time.perf_counter)
    ended_at: float | None = None
    rows_left: int = 0  # drafts still decoding
    over: bool = False  # StreamEnd or StreamFailure was queued

    def emit(self, draft: int, text: str) -> None:
        """Queue a text piece for the stream (empty pieces are skipped)."""
        if text:
            self.sink.put(Chunk(draft, text))

    def end(self, failure: BaseException | None = None) -> None:
        """Queue the end (or the failure) once; the stream builds the result from it."""
        if self.over:
            return
        self.over = True
        self.ended_at = time.perf_counter()
        self.sink.put(StreamEnd() if failure is None else StreamFailure(failure))

    def result(self) -> GenerationResult:
        """Texts and measurements, in the same terms as `generation.LocalBackend`."""
        return build_result(self.prepared, self.decoders, self.started, self.first_token_at, self.ended_at)

    @property
    def ids(self) -> list[int]:
        """The fitted prompt's token ids."""
        return self.prepared.ids

    @property
    def settings(self) -> GenerationSettings:
        """The request's settings: capped, fitted to the window, seed resolved."""
        return self.prepared.settings


class BatchedStream:
    """The `TextStream` of one batched request: iterate for `Chunk`s; `result` is set at the end.

    Closing the iterator early (a browser went away) or a timeout cancels the request, which
    frees its batch rows at the scheduler's next step.
    """

    def __init__(self, request: BatchRequest, timeout_s: float, wake: threading.Condition) -> None:
        self.result: GenerationResult | None = None
        self._failure: StreamFailure | None = None
        self._request = request
        self._timeout_s = timeout_s
        self._wake = wake

    def cancel(self) -> None:
        """Ask generation to stop after the current step; safe to call twice or after the end."""
        self._request.cancelled.set()
        with self._wake:
            self._wake.notify_all()

    def __iter__(self) -> Iterator[Chunk]:
        if self.result is not None:  # iterated to the end already: nothing more will come
            return
        try:
            while True:
                item = self._failure or self._next_item()
                if isinstance(item, StreamEnd):
                    self.result = self._request.result()
                    return
                if isinstance(item, StreamFailure):
                    self._failure = item  # iterating again raises again instead of waiting
                    if isinstance(item.error, GenerationError):
                        raise item.error
                    raise GenerationError(failure_message(item.error)) from item.error
                yield item
        finally:
            if self.result is None:  # stopped early, timed out or failed: free the rows
                self.cancel()

    def _next_item(self) -> Chunk | StreamEnd | StreamFailure:
        """The next queue item; raises `GenerationTimeout` when nothing came for `timeout_s`."""
        request = self._request
        hint = "the server may be overloaded, try again with fewer tokens"
        return next_item(request.sink, lambda: request.last_token_at, self._timeout_s, hint)
