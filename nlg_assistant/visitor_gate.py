"""Refuse a visitor's new queued event at the door while they already have N alive (pure ASGI).

A per-visitor cap checked inside an event handler comes too late: gradio's queue admits
every event first, so one address that keeps ``--max-queue`` events waiting fills the queue
("Queue is full" for everyone else), and each of its events must be dequeued before it can be
refused (measured in docs/security.md). This middleware answers the join request itself —
``POST .../queue/join`` (the browser) and ``POST .../call/...`` (REST clients) — with HTTP 429
and our message when the visitor already has `max_per_visitor` events alive, before gradio
sees it. An event counts from its join until gradio's queue no longer holds it (finished,
failed or cancelled), which `alive(event_id)` answers; so nothing leaks when a client
disconnects. Imports neither gradio nor starlette: the UI installs it with
``launch(app_kwargs={"middleware": [Middleware(VisitorGate, ...)]})``.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .limits import FORWARDED_HEADER, busy_message, visitor_key
from .refusals import log_refusal

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JOIN_SUFFIXES = ("/queue/join", "/queue/join/")  # the browser's way into the queue
CALL_MARKER = "/call/"  # gradio_client and REST: POST /gradio_api/call/[v2/]NAME
PENDING = "pending:"  # a join in flight: counted until its event id is known
FORWARDED = FORWARDED_HEADER.encode()  # ASGI header names are lower-case bytes


class VisitorGate:
    """ASGI middleware counting each visitor's alive queued events; see the module docstring.

    `alive(event_id)` must say whether gradio's queue still holds that event (queued or running).
    """

    def __init__(
        self, app: ASGIApp, *, max_per_visitor: int, trust_proxy: bool, alive: Callable[[str], bool]
    ) -> None:
        self.app = app
        self.max_per_visitor = max_per_visitor
        self.trust_proxy = trust_proxy
        self._alive = alive
        self._events: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_join(scope):
            await self.app(scope, receive, send)
            return
        visitor = self._visitor(scope)
        placeholder = self._reserve(visitor)
        if placeholder is None:
            await _refuse(send, busy_message(self.max_per_visitor))
            return
        event_id: list[str] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.body" and not event_id:
                event_id.append(_event_id(message.get("body", b"")))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            self._settle(visitor, placeholder, event_id[0] if event_id else "")

    def alive_events(self, visitor: str) -> int:
        """How many events `visitor` has alive now (joins in flight included)."""
        with self._lock:
            return len(self._prune(visitor))

    def _visitor(self, scope: Scope) -> str:
        return scope_visitor(scope, self.trust_proxy)

    def _reserve(self, visitor: str) -> str | None:
        """A placeholder id counting this join, or None (refusal logged) when the visitor is at the cap."""
        with self._lock:
            alive = self._prune(visitor)
            if len(alive) >= self.max_per_visitor:
                log_refusal(busy_message(len(alive)), visitor)
                return None
            placeholder = PENDING + uuid.uuid4().hex
            alive.append(placeholder)
            self._events[visitor] = alive
            return placeholder

    def _settle(self, visitor: str, placeholder: str, event_id: str) -> None:
        """Swap the placeholder for the event's id (or drop it if gradio did not queue the event)."""
        with self._lock:
            alive = [e for e in self._events.get(visitor, []) if e != placeholder]
            if event_id:
                alive.append(event_id)
            if alive:
                self._events[visitor] = alive
            else:
                self._events.pop(visitor, None)

    def _prune(self, visitor: str) -> list[str]:
        """The visitor's events gradio still holds (placeholders always count); caller holds the lock."""
        alive = [e for e in self._events.get(visitor, []) if e.startswith(PENDING) or self._alive(e)]
        if alive:
            self._events[visitor] = alive
        else:
            self._events.pop(visitor, None)
        return alive


def scope_visitor(scope: Scope, trust_proxy: bool) -> str:
    """The visitor key of an ASGI request (`limits.visitor_key`); X-Forwarded-For headers joined in order."""
    client = scope.get("client")
    forwarded = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == FORWARDED]
    headers = {"x-forwarded-for": ", ".join(forwarded)} if forwarded else None
    return visitor_key(client[0] if client else None, headers, trust_proxy)


def _is_join(scope: Scope) -> bool:
    """A POST that puts an event on gradio's queue."""
    if scope.get("type") != "http" or scope.get("method") != "POST":
        return False
    path = scope.get("path", "")
    return path.endswith(JOIN_SUFFIXES) or CALL_MARKER in path


def _event_id(body: bytes) -> str:
    """The ``event_id`` of gradio's join answer, or '' for anything else (an error, a refusal)."""
    try:
        answer = json.loads(body or b"{}")
    except ValueError:
        return ""
    return str(answer.get("event_id") or "") if isinstance(answer, dict) else ""


async def _refuse(send: Send, message: str) -> None:
    """HTTP 429 (too many requests from this visitor) with our message as JSON ``detail``.

    Not 503, gradio's own "queue full": for a 503 gradio's page and `gradio_client` show their
    own "busy"/"Queue is full" text; for any other status the page shows ``detail`` (read from
    gradio 6.31's frontend), and a raw client gets it too.
    """
    await send_json(send, 429, {"detail": message})


async def send_json(send: Send, status: int, payload: object) -> None:
    """Answer the request with `payload` as a JSON body and HTTP `status`."""
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
