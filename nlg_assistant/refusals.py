"""One log line per refused request, rate-limited so that a flood cannot fill the log (pure Python).

`log_refusal(reason, visitor)` is the one place a refusal is logged: by the door middlewares
(`visitor_gate`, `request_check`, which know the visitor's address) and by the handlers (which
do not: their refusals share the key "in-app"). `RefusalFilter`, installed on the refusals
logger by `ui.launch` (`install_refusal_filter`), lets through at most `per_visitor` lines per
visitor and `total` lines overall per `window_s`-second window; the rest are counted, and the
first line of the next window says how many were not logged and from whom::

    refused a request from 127.0.0.2: You already have 2 requests running; ... (not logged in the
    previous 60 s: 9,412 refusals, 127.0.0.2 x 9,410, in-app x 2)

So a visitor refused ten thousand times a minute costs `per_visitor` + 1 lines a minute.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

LOGGER = logging.getLogger("nlg_assistant.refused")
IN_APP = "in-app"  # the key of refusals whose visitor is not known (the handlers')
NAMED_IN_SUMMARY = 3  # visitors named in a "not logged" summary; the rest are counted together


def log_refusal(reason: str, visitor: str = "") -> None:
    """Log one refused request (WARNING, so it shows without any logging set-up), rate-limited."""
    source = f" from {visitor}" if visitor else ""
    LOGGER.warning("refused a request%s: %s", source, reason, extra={"visitor": visitor or IN_APP})


class RefusalFilter(logging.Filter):
    """Admit at most `per_visitor` refusal lines per visitor and `total` overall per window.

    Records without a ``visitor`` attribute (not refusals) always pass. Windows are aligned:
    every `window_s` seconds all counts start again, and the first line admitted after that
    carries the previous windows' "not logged" summary. Thread-safe.
    """

    def __init__(
        self,
        per_visitor: int = 5,
        total: int = 60,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_visitor = per_visitor
        self.total = total
        self.window_s = window_s
        self._clock = clock
        self._window_start = clock()
        self._logged: Counter[str] = Counter()
        self._dropped: Counter[str] = Counter()
        self._summary = ""  # owed to the next admitted line
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        visitor = getattr(record, "visitor", None)
        if visitor is None:
            return True
        with self._lock:
            self._roll(self._clock())
            if self._logged[visitor] >= self.per_visitor or self._logged.total() >= self.total:
                self._dropped[visitor] += 1
                return False
            self._logged[visitor] += 1
            summary, self._summary = self._summary, ""
        if summary:
            record.msg, record.args = f"{record.getMessage()} ({summary})", ()
        return True

    def _roll(self, now: float) -> None:
        """Start a new window when the current one has ended; keep its drops as a summary."""
        if now - self._window_start < self.window_s:
            return
        if self._dropped:
            self._summary = _summary(self._dropped, now - self._window_start, self._summary)
        self._window_start = now
        self._logged.clear()
        self._dropped.clear()


def _summary(dropped: Counter[str], seconds: float, earlier: str) -> str:
    """'not logged in the previous 60 s: 9,412 refusals, 127.0.0.2 x 9,410, in-app x 2'."""
    named = dropped.most_common(NAMED_IN_SUMMARY)
    parts = [f"{visitor} x {count:,}" for visitor, count in named]
    others = dropped.total() - sum(count for _, count in named)
    if others:
        parts.append(f"{len(dropped) - len(named):,} more visitors x {others:,}")
    line = f"not logged in the previous {seconds:.0f} s: {dropped.total():,} refusals, " + ", ".join(parts)
    return f"{earlier}; {line}" if earlier else line


def install_refusal_filter(**options: float) -> RefusalFilter:
    """Put one `RefusalFilter` on the refusals logger (the existing one when already installed)."""
    for existing in LOGGER.filters:
        if isinstance(existing, RefusalFilter):
            return existing
    installed = RefusalFilter(**options)  # type: ignore[arg-type]
    LOGGER.addFilter(installed)
    return installed
