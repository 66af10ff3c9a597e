"""OpenAIBackend.alternatives: "not offered" from a real `transformers serve` (it ignores logprobs), and
the logprobs parsing against a loopback server that answers like vLLM with the tiny model's real
top-k log-probabilities, computed here, for both /v1/completions and /v1/chat/completions.
"""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_remote import ServeProcess

from nlg_assistant.alternatives import next_token_probabilities, token_text, top_alternatives
from nlg_assistant.backend import GenerationError, Prompt
from nlg_assistant.models import load_model
from nlg_assistant.remote import OpenAIBackend
from nlg_assistant.remote_alternatives import NOT_OFFERED


@pytest.mark.server
def test_transformers_serve_does_not_offer_alternatives(tiny_model_dir, tmp_path):
    server = ServeProcess(tiny_model_dir, tmp_path)
    try:
        server.wait_ready()
        backend = OpenAIBackend(server.url, server.model_dir, timeout_s=30)
        with pytest.raises(GenerationError) as caught:
            backend.alternatives(Prompt(document="Once upon a time"), 5)
        assert str(caught.value) == NOT_OFFERED
    finally:
        server.stop()


class _LogprobsServer(ThreadingHTTPServer):
    """A loopback OpenAI-style server answering one token with the tiny model's top-k logprobs."""

    def __init__(self, loaded) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.loaded = loaded
        self.requests: list[dict] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}/v1"

    def top(self, text: str, k: int) -> list[tuple[str, float]]:
        """The model's k likeliest next tokens after `text`, as (token text, log-probability)."""
        tok = self.loaded.tokenizer
        ids = tok(text)["input_ids"]
        probs = next_token_probabilities(self.loaded.model, ids)
        return [
            (token_text(tok, ids, a.token_id), math.log(probs[a.token_id].item()))
            for a in top_alternatives(self.loaded.model, tok, ids, k)
        ]


class _Handler(BaseHTTPRequestHandler):
    server: _LogprobsServer

    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass

    def _send(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send({"object": "list", "data": [{"id": "tiny", "object": "model", "max_model_len": 256}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        common = {"id": "x", "created": 0, "model": "tiny"}
        if self.path.endswith("/chat/completions"):
            top = self.server.top(body["messages"][-1]["content"], body.get("top_logprobs") or 0)
            entries = [{"token": t, "logprob": lp, "bytes": None} for t, lp in top]
            content = [{"token": top[0][0], "logprob": top[0][1], "bytes": None, "top_logprobs": entries}]
            choice = {
                "index": 0,
                "finish_reason": "length",
                "logprobs": {"content": content},
                "message": {"role": "assistant", "content": top[0][0]},
            }
            self._send({**common, "object": "chat.completion", "choices": [choice]})
            return
        top = self.server.top(body["prompt"], body.get("logprobs") or 0)
        logprobs = {
            "tokens": [top[0][0]],
            "token_logprobs": [top[0][1]],
            "text_offset": [0],
            "top_logprobs": [dict(reversed(top))],
        }  # dict order is not rank order on every server
        choice = {"index": 0, "finish_reason": "length", "text": top[0][0], "logprobs": logprobs}
        self._send({**common, "object": "text_completion", "choices": [choice]})


@pytest.fixture(scope="module")
def logprobs_server(tiny_model_dir):
    server = _LogprobsServer(load_model(str(tiny_model_dir), "cpu"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("chat", [False, True])
def test_logprobs_become_alternatives_in_rank_order(logprobs_server, chat):
    backend = OpenAIBackend(logprobs_server.url, "tiny", chat=chat, timeout_s=10)
    text = "Once upon a time there was"
    prompt = Prompt(document=text, messages=({"role": "user", "content": text},))
    got = backend.alternatives(prompt, 6)
    loaded = logprobs_server.loaded
    expected = top_alternatives(loaded.model, loaded.tokenizer, loaded.tokenizer(text)["input_ids"], 6)
    if not chat:  # completions' top_logprobs is a dict keyed by token text: equal texts (byte pieces) merge
        expected = [a for i, a in enumerate(expected) if a.text not in {b.text for b in expected[:i]}]
    assert [a.text for a in got] == [a.text for a in expected]
    assert [a.probability for a in got] == pytest.approx([a.probability for a in expected], rel=1e-5)
    assert sum(a.probability for a in got) <= 1.0
    sent = logprobs_server.requests[-1]
    assert sent["max_tokens"] == 1
    if chat:
        assert sent["logprobs"] is True and sent["top_logprobs"] == 6
    else:
        assert sent["logprobs"] == 6 and "messages" not in sent
