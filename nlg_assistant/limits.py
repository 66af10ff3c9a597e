"""Limits that keep one visitor from taking the whole server (pure Python: no gradio, no torch).

- `VisitorLimiter`: at most N requests running or queued per visitor, keyed by `visitor_key`.
- `visitor_key`: the client address, or the last X-Forwarded-For hop behind a trusted proxy.
- `check_text_size`: a text field must be a string of at most `max_chars` characters.
- `request_body_limit`: the largest request body that text fields within that cap can make.
- `RequestGate`: at most N requests in flight to a model server, M more waiting, the rest refused.

>>> limiter = VisitorLimiter(1)
>>> with limiter.hold("10.0.0.7"):
...     limiter.running("10.0.0.7")
1
>>> check_text_size("story", "x" * 250_000, 200_000)
Traceback (most recent call last):
...
nlg_assistant.limits.InputError: The story is too long: 250,000 characters; the limit is 200,000
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

FORWARDED_HEADER = "x-forwarded-for"
BUSY_MESSAGE = "The server is busy, try again in a moment"  # the batched engine's wording
TEXT_FIELDS_PER_REQUEST = 9  # the most text inputs one endpoint takes (/alternatives: tab name, 8 texts)
BYTES_PER_CHAR = 4  # UTF-8's longest character; JSON escapes of quotes and newlines take 2
BODY_SLACK_BYTES = 64 * 1024  # numbers, flags, names and JSON punctuation around the texts


class LimitError(ValueError):
    """A request was refused by a limit; the message is fit to show the visitor."""


class VisitorBusyError(LimitError):
    """This visitor already has as many requests running or queued as allowed."""


class InputError(LimitError):
    """A text field is not text, or is too long."""


class VisitorLimiter:
    """Counts each visitor's running (or queued) requests; refuses one over `max_per_visitor`.

    Thread-safe; a visitor's entry is dropped when its count returns to zero, so the table
    only holds visitors with requests in flight.
    """

    def __init__(self, max_per_visitor: int) -> None:
        if max_per_visitor < 1:
            raise ValueError(f"max_per_visitor must be at least 1 (got {max_per_visitor})")
        self.max_per_visitor = max_per_visitor
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, visitor: str) -> None:
        """Count one more request for `visitor`; raise `VisitorBusyError` when at the limit."""
        with self._lock:
            running = self._counts.get(visitor, 0)
            if running >= self.max_per_visitor:
                raise VisitorBusyError(busy_message(running))
            self._counts[visitor] = running + 1

    def release(self, visitor: str) -> None:
        """Count one request of `visitor` as finished (extra releases are ignored)."""
        with self._lock:
            running = self._counts.get(visitor, 0) - 1
            if running > 0:
                self._counts[visitor] = running
            else:
                self._counts.pop(visitor, None)

    @contextmanager
    def hold(self, visitor: str) -> Iterator[None]:
        """`acquire` on entry, `release` on exit (also when the body raises or a generator is closed)."""
        self.acquire(visitor)
        try:
            yield
        finally:
            self.release(visitor)

    def running(self, visitor: str) -> int:
        """How many requests `visitor` has in flight now."""
        with self._lock:
            return self._counts.get(visitor, 0)

    def visitors(self) -> int:
        """How many visitors have requests in flight now."""
        with self._lock:
            return len(self._counts)


def busy_message(running: int) -> str:
    """What a visitor over the per-visitor limit is told."""
    noun = "request" if running == 1 else "requests"
    return f"You already have {running} {noun} running; wait for one to finish (or press Stop)"


def visitor_key(client_host: str | None, headers: Mapping[str, str] | None, trust_proxy: bool) -> str:
    """Who is asking: the socket's address, or (only with `trust_proxy`) X-Forwarded-For's last hop.

    Behind a proxy (Hugging Face Spaces) every socket address is the proxy's, and the proxy
    appends the address it was reached from to X-Forwarded-For: the header's *last* entry is the
    visitor as that one trusted proxy saw it. Entries to its left are whatever the client wrote
    (a visitor could name a fresh address per request and so dodge its cap), so they are ignored;
    without a trusted proxy the whole header is. Header names are matched in any case; several
    X-Forwarded-For headers count as one list, in order (join them before calling).
    """
    if trust_proxy and headers:
        for name, value in headers.items():
            if name.lower() == FORWARDED_HEADER and value:
                last = value.split(",")[-1].strip()
                if last:
                    return last
    return client_host or "unknown"


def check_text_size(name: str, value: object, max_chars: int) -> str:
    """`value` if it is a string of at most `max_chars` characters; else `InputError` naming `name`.

    `None` counts as empty text (gradio sends it for a cleared box). Runs before any tokenising,
    so an oversized field costs one `len()`.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"The {name} must be text (got {_type_name(value)})")
    if len(value) > max_chars:
        raise InputError(f"The {name} is too long: {len(value):,} characters; the limit is {max_chars:,}")
    return value


def request_body_limit(max_input_chars: int, extra_bytes: int = 0) -> int:
    """Bytes a request may need when every text field holds `max_input_chars` characters of
    UTF-8's longest kind, plus `extra_bytes` (what a page load sends back from the browser).

    A body over it cannot be a request within the text caps, so it is refused unread.
    """
    return TEXT_FIELDS_PER_REQUEST * max_input_chars * BYTES_PER_CHAR + BODY_SLACK_BYTES + extra_bytes


def _type_name(value: object) -> str:
    names = {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object"}
    return names.get(type(value), "a value that is not text")


@dataclass(eq=False)  # identity: two tickets for the same slot count are different requests
class Ticket:
    """A request's place in a `RequestGate` queue."""

    slots: int


class RequestGate:
    """At most `max_running` slots in use at once, first come first served; at most `max_waiting`
    requests waiting for slots, further ones refused at once with `busy(BUSY_MESSAGE)`.

    A request takes `slots` slots together (one per draft), so a multi-draft request never holds
    half its slots while waiting. `busy` builds the refusal (the backend's own `BusyError`).
    """

    def __init__(self, max_running: int, max_waiting: int, busy: Callable[[str], Exception]) -> None:
        self.max_running = max_running
        self.max_waiting = max_waiting
        self._busy = busy
        self._free = max_running
        self._queue: deque[Ticket] = deque()
        self._cond = threading.Condition()

    def enqueue(self, slots: int) -> Ticket:
        """Join the queue for `slots` slots; raises `busy(...)` when the queue is full."""
        if slots > self.max_running:
            raise ValueError(f"a request needs {slots} slots but the gate has {self.max_running}")
        ticket = Ticket(slots)
        with self._cond:
            if len(self._queue) >= self.max_waiting:
                raise self._busy(BUSY_MESSAGE)
            self._queue.append(ticket)
        return ticket

    def wait(
        self, ticket: Ticket, timeout_s: float, cancelled: Callable[[], bool], poll_s: float = 0.05
    ) -> bool:
        """Block until `ticket` holds its slots (True) or it is cancelled / times out (False, dequeued).

        `cancelled` is checked every `poll_s` seconds, so Stop frees the queue place promptly.
        """
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not (self._queue[0] is ticket and self._free >= ticket.slots):
                if cancelled() or time.monotonic() >= deadline:
                    self._queue.remove(ticket)
                    self._cond.notify_all()
                    return False
                self._cond.wait(poll_s)
            self._queue.popleft()
            self._free -= ticket.slots
            self._cond.notify_all()
        return True

    def release(self, slots: int = 1) -> None:
        """Give back `slots` slots (called once per draft as each request ends)."""
        with self._cond:
            self._free = min(self.max_running, self._free + slots)
            self._cond.notify_all()

    def stats(self) -> tuple[int, int]:
        """(slots in use, requests waiting)."""
        with self._cond:
            return self.max_running - self._free, len(self._queue)
