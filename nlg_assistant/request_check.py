"""Refuse oversized and malformed requests at the door, before gradio reads them (pure ASGI).

gradio parses a request's JSON body and keeps every input's value in the caller's session
(`state_session_capacity` sessions, 10,000; each REST call is a new session) before any handler
runs, so a 10 MB text field that a handler then refuses still held 10 MB of memory per call
(measured in docs/security.md). `RequestCheck`, in front of gradio:

- refuses a POST body over its byte limit, from its Content-Length or while reading it,
  so gradio never sees it: `queued_bytes` on the routes that queue an event (``queue/join``,
  ``call/...``), `other_bytes` on the rest (a page load sends the work autosaved in the
  browser back); gradio's ``upload`` route is left to its own ``max_file_size``;
- checks a call of one of our API endpoints (`endpoints`: REST ``POST .../call/NAME`` with
  ``{"data": [...]}``, ``.../call/v2/NAME`` with named values, and gradio_client's
  ``queue/join`` with the endpoint's ``fn_index``) against its parameters, so a missing, extra
  or unknown input gets our message instead of gradio's bare "Error", and refuses a text input
  over `max_chars` characters ("The story is too long: ...", as the endpoint itself would)
  before gradio keeps a copy of it.

Refusals are HTTP 422 in gradio's validation-error shape: `gradio_client` raises them as a
`ValidationError` carrying our message, the browser shows it at the event's first input, raw
HTTP gets it as JSON. Each is logged once (`refusals.log_refusal`, rate-limited).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .limits import InputError, check_text_size
from .refusals import log_refusal
from .visitor_gate import ASGIApp, Message, Receive, Scope, Send, scope_visitor, send_json

QUEUED_MARKERS = ("/queue/join", "/call/")  # routes whose body becomes a queued event
UPLOAD_SUFFIXES = ("/upload", "/upload/")  # multipart files: gradio's max_file_size applies
CALL_MARKER, CALL_V2_MARKER = "/call/", "/call/v2/"
LOGIN_STATUSES = (401, 403)  # gradio's login check refused the caller
STAND_IN_BODY = b"[]"  # valid JSON that no gradio event route accepts (they all take an object)


@dataclass(frozen=True)
class Endpoint:
    """An API endpoint's inputs in order, those without a default, its text inputs, gradio's id."""

    inputs: tuple[str, ...]
    required: tuple[str, ...]
    texts: tuple[str, ...] = ()
    fn_index: int | None = None


class RequestCheck:
    """ASGI middleware: body size limits and REST input checks; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        queued_bytes: int,
        other_bytes: int,
        endpoints: Mapping[str, Endpoint],
        max_chars: int,
        trust_proxy: bool,
    ) -> None:
        self.app = app
        self.queued_bytes = queued_bytes
        self.other_bytes = other_bytes
        self.endpoints = dict(endpoints)
        self.by_index = {e.fn_index: name for name, e in endpoints.items() if e.fn_index is not None}
        self.max_chars = max_chars
        self.trust_proxy = trust_proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope.get("type") != "http" or scope.get("method") != "POST" or path.endswith(UPLOAD_SUFFIXES):
            await self.app(scope, receive, send)
            return
        limit = self.queued_bytes if any(m in path for m in QUEUED_MARKERS) else self.other_bytes
        body, problem = await _read_body(scope, receive, limit)
        if body is None and not problem:
            return  # the client went away while sending
        problem = problem or self._inputs_problem(path, body or b"")
        if problem:
            await self._refuse_after_login(scope, receive, send, problem)
            return
        await self.app(scope, _replay(body or b"", receive), send)

    async def _refuse_after_login(self, scope: Scope, receive: Receive, send: Send, problem: str) -> None:
        """Refuse with `problem`, unless gradio's login refuses the caller first.

        gradio checks the login in its routes, after this middleware; a caller who is not logged
        in must get its 401, not our message (which names the endpoint's inputs). So gradio gets
        the request with an empty JSON list for a body: its login check answers first, and a
        logged-in caller's request fails gradio's body validation before any handler or session.
        """
        passed = False

        async def login_refusal_only(message: Message) -> None:
            nonlocal passed
            if message["type"] == "http.response.start":
                passed = message["status"] in LOGIN_STATUSES
            if passed:
                await send(message)

        stand_in = {**scope, "headers": _json_headers(scope, len(STAND_IN_BODY))}
        await self.app(stand_in, _replay(STAND_IN_BODY, receive), login_refusal_only)
        if not passed:
            log_refusal(problem, scope_visitor(scope, self.trust_proxy))
            await _refuse(send, problem)

    def _inputs_problem(self, path: str, body: bytes) -> str:
        """Our message when a call of one of `endpoints` has missing, extra, unknown or too long inputs."""
        name, named = self._endpoint_of(path, body)
        if not name:
            return ""  # not ours to check (a UI event, gradio's own routes)
        try:
            values = json.loads(body or b"{}")
        except ValueError:
            return f"The request to /{name} is not valid JSON"
        endpoint = self.endpoints[name]
        if named:
            problem = named_inputs_problem(name, endpoint, values)
            given = values if isinstance(values, dict) else {}
        else:
            problem = positional_inputs_problem(name, endpoint, values)
            given = {} if problem else dict(zip(endpoint.inputs, values["data"], strict=True))
        return problem or text_size_problem(endpoint, given, self.max_chars)

    def _endpoint_of(self, path: str, body: bytes) -> tuple[str, bool]:
        """(our endpoint's name, whether its values are named) for a call of it, else ('', False)."""
        if CALL_MARKER in path:
            v2 = CALL_V2_MARKER in path
            name = path.split(CALL_V2_MARKER if v2 else CALL_MARKER, 1)[1].strip("/")
            return (name, v2) if name in self.endpoints else ("", False)
        if path.endswith(QUEUED_MARKERS[0]) and self.by_index:
            index = re.search(rb'"fn_index"\s*:\s*(\d+)', body)  # no full parse for UI events
            return self.by_index.get(int(index[1]) if index else -1, ""), False
        return "", False


def text_size_problem(endpoint: Endpoint, given: Mapping[str, object], max_chars: int) -> str:
    """The endpoint's own "too long" message for the first text input over `max_chars`, or ''."""
    for name in endpoint.texts:
        value = given.get(name)
        try:  # a value that is not text is left to the endpoint, which names its type
            check_text_size(name.replace("_", " "), value if isinstance(value, str) else "", max_chars)
        except InputError as error:
            return str(error)
    return ""


def positional_inputs_problem(name: str, endpoint: Endpoint, body: object) -> str:
    """`call/NAME` takes ``{"data": [...]}`` with one value per input, in order."""
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, list) and len(data) == len(endpoint.inputs):
        return ""
    got = f"got {len(data)}" if isinstance(data, list) else 'no "data" list'
    return (
        f"/{name} takes {len(endpoint.inputs)} values in this order: {', '.join(endpoint.inputs)}; "
        f"{got}. Send all of them, or send only the ones you need by name to /gradio_api/call/v2/{name}"
    )


def named_inputs_problem(name: str, endpoint: Endpoint, body: object) -> str:
    """`call/v2/NAME` takes an object of named values: every required one, no unknown ones."""
    if not isinstance(body, dict):
        return f"/{name} takes an object of named values ({', '.join(endpoint.inputs)})"
    unknown = [key for key in body if key not in endpoint.inputs]
    if unknown:
        return f"/{name} has no input named {_names(unknown)}; its inputs are {', '.join(endpoint.inputs)}"
    missing = [key for key in endpoint.required if key not in body]
    if missing:
        return f"/{name} needs a value for {_names(missing)}"
    return ""


def _names(names: Sequence[str]) -> str:
    return ", ".join(repr(str(n)[:40]) for n in names[:5]) + (" ..." if len(names) > 5 else "")


async def _read_body(scope: Scope, receive: Receive, limit: int) -> tuple[bytes | None, str]:
    """(the whole body, '') or (None, our message) once it is over `limit`; (None, '') on a disconnect.

    Stops reading at the limit: an oversized body is never held in memory.
    """
    declared = _content_length(scope)
    if declared is not None and declared > limit:
        return None, too_large_message(declared, limit)
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None, ""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None, too_large_message(size, limit, more=True)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), ""


def too_large_message(size: int, limit: int, more: bool = False) -> str:
    """What a caller whose request body is over the limit is told."""
    over = "over " if more else ""
    return (
        f"The request is too large ({over}{size:,} bytes; the limit is {limit:,}): "
        "a text field is far longer than this server accepts"
    )


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _json_headers(scope: Scope, length: int) -> list[tuple[bytes, bytes]]:
    """The request's headers with a JSON content type and `length` as its Content-Length."""
    kept = [
        (k, v) for k, v in scope.get("headers", ()) if k.lower() not in (b"content-length", b"content-type")
    ]
    return [*kept, (b"content-type", b"application/json"), (b"content-length", str(length).encode())]


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands gradio the body already read, then the client's later messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # e.g. http.disconnect
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _refuse(send: Send, message: str) -> None:
    """HTTP 422 in gradio's validation-error shape (gradio_client raises it with our message)."""
    detail = [{"__type__": "validate", "is_valid": False, "parameter_name": "request", "message": message}]
    await send_json(send, 422, {"detail": detail})
