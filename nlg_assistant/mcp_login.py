"""HTTP Basic login in front of gradio's MCP routes when the app has a login (pure ASGI).

gradio's login is a web form with a cookie, which MCP clients cannot fill in; and gradio lists
the MCP tools to anyone. With ``NLG_AUTH`` / ``--auth-file`` set, `McpLogin` therefore answers
every request under ``/gradio_api/mcp`` with HTTP 401 unless it carries
``Authorization: Basic base64(user:password)`` for one of the app's pairs (MCP clients send
headers from their config). The tools then run through gradio's own loopback client, which
the UI logs in with the first pair (`ui.launch`).

>>> header = basic_header("ana", "pw")
>>> header
'Basic YW5hOnB3'
>>> McpLogin(None, pairs=(("ana", "pw"),)).allowed([(b"authorization", header.encode())])
True
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
from typing import Any

from .auth import Pairs

log = logging.getLogger(__name__)
MCP_PREFIX = "/gradio_api/mcp"
MESSAGE = "This app needs a login: send Authorization: Basic base64(user:password) (see the README)"


def basic_header(user: str, password: str) -> str:
    """The ``Authorization`` header value an MCP client sends for `user` / `password`."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class McpLogin:
    """ASGI middleware: a request under `MCP_PREFIX` needs Basic credentials matching `pairs`."""

    def __init__(self, app: Any, *, pairs: Pairs) -> None:
        self.app = app
        self._allowed = [basic_header(user, password).encode() for user, password in pairs]

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope.get("type") != "http" or MCP_PREFIX not in path or self.allowed(scope.get("headers", ())):
            await self.app(scope, receive, send)
            return
        log.warning("refused an MCP request without a valid login (%s)", path)
        body = json.dumps({"detail": MESSAGE}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"www-authenticate", b'Basic realm="nlg-assistant"'),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def allowed(self, headers: Any) -> bool:
        """Whether the request's Authorization header is one of the app's pairs (constant time)."""
        given = next((v for k, v in headers if k.lower() == b"authorization"), b"")
        return any(hmac.compare_digest(given, expected) for expected in self._allowed)
