"""A small OpenAI-compatible HTTP server on loopback that misbehaves on purpose (for remote tests).

It speaks just enough of the API for `OpenAIBackend`: ``GET /v1/models`` and streamed (SSE)
``POST /v1/completions`` / ``/v1/chat/completions``. `mode` picks the behaviour:

- ``normal``: one token per piece, `max_tokens` of them, then ``finish_reason: length``;
- ``slow``: the same, one piece every `interval_s`;
- ``drip``: one token every `interval_s`, ignoring `max_tokens` (stops after `drip_limit`);
- ``flood``: ignores `max_tokens`: `flood_pieces` pieces as fast as it can, each `piece_text`;
- ``big_error``: HTTP 400 with a 2 MB Markdown error body (links, images);
- ``echo_error``: HTTP 500 whose message quotes the request line and Authorization header.

It records what it saw: requests, the most streams open at once, Authorization headers.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL_ID = "fake-model"
BIG_ERROR_LINE = (
    "**Bad request**: see [the docs](http://evil.example/x) ![tracker](http://evil.example/p.png)\n"
)


class FakeOpenAIServer:
    """Runs in a daemon thread on 127.0.0.1 (a free port); `url` is its /v1 base URL."""

    def __init__(self, mode: str = "normal", interval_s: float = 2.0) -> None:
        self.mode = mode
        self.interval_s = interval_s
        self.drip_limit = 20
        self.flood_pieces = 5000
        self.piece_text = "word "
        self.requests = 0
        self.open_streams = 0
        self.peak_streams = 0
        self.authorizations: list[str] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def stream_opened(self) -> None:
        with self.lock:
            self.requests += 1
            self.open_streams += 1
            self.peak_streams = max(self.peak_streams, self.open_streams)

    def stream_closed(self) -> None:
        with self.lock:
            self.open_streams -= 1


def _piece(text: str, finish: str | None, chat: bool) -> bytes:
    """One SSE event in the completions or chat shape."""
    choice = {"index": 0, "finish_reason": finish, "logprobs": None}
    if chat:
        choice["delta"] = {"content": text} if text else {}
    else:
        choice["text"] = text
    body = {"id": "x", "object": "chat.completion.chunk" if chat else "text_completion", "created": 0}
    body.update(model=MODEL_ID, choices=[choice])
    return f"data: {json.dumps(body)}\n\n".encode()


def _handler_for(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the stream ends when the connection closes: no chunking needed

        def log_message(self, *args: object) -> None:  # keep the test output quiet
            pass

        def do_GET(self) -> None:
            server.authorizations.append(self.headers.get("Authorization", ""))
            if self.path.split("?")[0].rstrip("/") != "/v1/models":
                self._json(404, {"error": {"message": "not found"}})
                return
            self._json(200, {"object": "list", "data": [{"id": MODEL_ID, "object": "model"}]})

        def do_POST(self) -> None:
            server.authorizations.append(self.headers.get("Authorization", ""))
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if server.mode == "big_error":
                message = BIG_ERROR_LINE * (2_000_000 // len(BIG_ERROR_LINE))
                self._json(400, {"error": {"message": message, "type": "invalid_request_error"}})
                return
            if server.mode == "echo_error":
                quoted = f"{self.command} {self.path} Authorization: {self.headers.get('Authorization')}"
                self._json(500, {"error": {"message": f"internal error serving {quoted}"}})
                return
            self._stream(request, chat=self.path.split("?")[0].endswith("/chat/completions"))

        def _stream(self, request: dict, chat: bool) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            server.stream_opened()
            try:
                for text, finish, pause in _plan(server, int(request.get("max_tokens") or 16)):
                    time.sleep(pause)
                    self.wfile.write(_piece(text, finish, chat))
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client closed the stream: what the tests expect
            finally:
                server.stream_closed()

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _plan(server: FakeOpenAIServer, max_tokens: int):
    """(text, finish_reason, pause before sending) for each piece of one streamed answer."""
    if server.mode == "drip":
        count, pause = server.drip_limit, server.interval_s
    elif server.mode == "flood":
        count, pause = server.flood_pieces, 0.0
    else:
        count, pause = max_tokens, server.interval_s if server.mode == "slow" else 0.0
    for index in range(count):
        yield (server.piece_text if server.mode == "flood" else f"t{index} "), None, pause
    yield "", "length", 0.0
