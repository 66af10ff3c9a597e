"""OpenAIBackend against a misbehaving OpenAI-compatible server on loopback (tests/fakeopenai.py).

Covers what a remote server must not be able to do to the app: hold a request for ever by
dripping tokens, send more than max_tokens, push a 2 MB Markdown error into the status line,
or take unbounded concurrent requests; and that credentials in --base-url never show.
"""

from __future__ import annotations

import base64
import logging
import socket
import threading
import time

import pytest
from fakeopenai import MODEL_ID, FakeOpenAIServer

from nlg_assistant.backend import BusyError, GenerationError, GenerationTimeout, Prompt
from nlg_assistant.config import AppConfig, GenerationSettings
from nlg_assistant.limits import BUSY_MESSAGE
from nlg_assistant.remote import OpenAIBackend, RemoteLimits

SETTINGS = GenerationSettings(max_new_tokens=10, temperature=0.0, seed=1)


def backend_for(url: str, **options) -> OpenAIBackend:
    options.setdefault("timeout_s", 10.0)
    return OpenAIBackend(url, MODEL_ID, chat=False, **options)


def drain(stream) -> list[str]:
    return [chunk.text for chunk in stream]


def wait_until(condition, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_well_behaved_server_is_read_to_the_end():
    with FakeOpenAIServer("normal") as server:
        stream = backend_for(server.url).start(Prompt(document="Hi"), SETTINGS)
        texts = drain(stream)
    assert "".join(texts) == "".join(f"t{i} " for i in range(10))
    assert stream.result.finish_reason == "length" and not any("cut" in n for n in stream.result.notices)


def test_dripping_server_is_cut_at_the_total_deadline():
    # One token every 2 s passes the 3 s per-token timeout; the request may take 3 s + 4 / (2 tok/s).
    with FakeOpenAIServer("drip", interval_s=2.0) as server:
        backend = backend_for(server.url, timeout_s=3.0)
        stream = backend.start(Prompt(document="Hi"), GenerationSettings(max_new_tokens=4, seed=1))
        received = []
        started = time.monotonic()
        with pytest.raises(GenerationTimeout, match="too slow: 2 tokens in 5 s") as caught:
            for chunk in stream:
                received.append(chunk.text)
        elapsed = time.monotonic() - started
        assert 4.5 < elapsed < 7.5, elapsed
        assert received == ["t0 ", "t1 "] and stream.result.finish_reason == "stopped"
        assert "127.0.0.1" not in str(caught.value)  # no host without --show-backend-host
        assert wait_until(lambda: server.open_streams == 0, 5)  # the server saw the stream closed
        assert wait_until(lambda: backend.gate.stats() == (0, 0), 5)


def test_server_ignoring_max_tokens_is_cut_at_our_cap():
    with FakeOpenAIServer("flood") as server:
        stream = backend_for(server.url).start(Prompt(document="Hi"), SETTINGS)
        texts = drain(stream)
        assert texts == ["word "] * 10
        assert stream.result.finish_reason == "length" and stream.result.generated_tokens == 10
        assert any("sent more than 10 tokens; cut here" in n for n in stream.result.notices)
        assert wait_until(lambda: server.open_streams == 0, 5)


def test_one_giant_piece_is_cut_by_characters():
    with FakeOpenAIServer("flood") as server:
        server.piece_text, server.flood_pieces = "x" * 1_000_000, 3
        stream = backend_for(server.url).start(Prompt(document="Hi"), SETTINGS)
        text = "".join(drain(stream))
    assert len(text) == 10 * 32  # max_new_tokens x MAX_CHARS_PER_TOKEN
    assert stream.result.finish_reason == "length"


def test_two_megabyte_markdown_error_becomes_a_short_plain_message():
    with FakeOpenAIServer("big_error") as server:
        backend = backend_for(server.url)
        with pytest.raises(GenerationError) as caught:
            drain(backend.start(Prompt(document="Hi"), SETTINGS))
    message = str(caught.value)
    assert message.startswith("the model server answered HTTP 400: **Bad request**: see (the docs)")
    assert len(message) < 400
    for forbidden in ("http", "[", "](", "![", "evil.example", "\n"):
        assert forbidden not in message


def test_requests_in_flight_are_bounded_and_extra_ones_refused_as_busy():
    with FakeOpenAIServer("slow", interval_s=0.1) as server:
        backend = backend_for(server.url, limits=RemoteLimits(max_running=2, max_waiting=1))
        settings = GenerationSettings(max_new_tokens=8, seed=1)
        streams = [backend.start(Prompt(document="Hi"), settings) for _ in range(3)]  # 2 run, 1 waits
        assert wait_until(lambda: backend.gate.stats() == (2, 1), 5)
        with pytest.raises(BusyError) as caught:
            backend.start(Prompt(document="Hi"), settings)
        assert str(caught.value) == BUSY_MESSAGE
        results = []
        threads = [threading.Thread(target=lambda s=s: results.append(len(drain(s)))) for s in streams]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert results == [8, 8, 8]
        assert server.peak_streams == 2 and server.requests == 3
        with pytest.raises(GenerationError, match="num_drafts is 3 but this server runs at most 2"):
            backend.start(Prompt(document="Hi"), GenerationSettings(num_drafts=3))


def test_stop_while_queued_frees_the_place():
    with FakeOpenAIServer("slow", interval_s=0.2) as server:
        backend = backend_for(server.url, limits=RemoteLimits(max_running=1, max_waiting=1))
        running = backend.start(Prompt(document="Hi"), GenerationSettings(max_new_tokens=50, seed=1))
        queued = backend.start(Prompt(document="Hi"), GenerationSettings(max_new_tokens=50, seed=1))
        assert wait_until(lambda: backend.gate.stats() == (1, 1), 5)
        queued.cancel()
        assert wait_until(lambda: backend.gate.stats() == (1, 0), 5)
        running.cancel()
        assert drain(queued) == [] and queued.result.finish_reason == "stopped"
        drain(running)
        assert wait_until(lambda: backend.gate.stats() == (0, 0), 5) and server.requests == 1


SECRETS = ("s3cr3t-pw", "k3y-zzz")


def secret_url(port: int) -> str:
    return f"http://svc-user:{SECRETS[0]}@127.0.0.1:{port}/v1?api_key={SECRETS[1]}"


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, text


def test_password_in_base_url_appears_nowhere_but_still_authenticates(caplog):
    with caplog.at_level(logging.DEBUG), FakeOpenAIServer("echo_error") as server:
        config = AppConfig(backend="openai", base_url=secret_url(server.port), model=MODEL_ID, chat=False)
        backend = OpenAIBackend.from_config(config)
        with pytest.raises(GenerationError) as caught:
            drain(backend.start(Prompt(document="Hi"), SETTINGS))
        basic = "Basic " + base64.b64encode(f"svc-user:{SECRETS[0]}".encode()).decode()
        assert basic in server.authorizations  # the credentials still reach the server
    message = str(caught.value)
    assert message.startswith("the model server answered HTTP 500: internal error serving POST")
    assert "***" in message  # the echoed api_key was masked, not dropped silently
    info = backend.info
    assert info.device == "remote server" and info.model_name == MODEL_ID
    assert "HTTP Request: POST" in caplog.text  # httpx2 did log each request URL...
    assert_no_secret(message, caplog.text, repr(config), repr(info), backend.base_url, backend.where)


def test_password_stays_hidden_when_unreachable_and_with_show_backend_host(caplog):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        with caplog.at_level(logging.DEBUG):
            config = AppConfig(
                backend="openai", base_url=secret_url(port), model=MODEL_ID, show_backend_host=True
            )
            backend = OpenAIBackend.from_config(config)  # logs a warning: not up yet
            with pytest.raises(GenerationError) as caught:
                backend.start(Prompt(document="Hi"), SETTINGS)
    assert (
        str(caught.value)
        == f"cannot reach the model server at http://127.0.0.1:{port}/v1?api_key=*** — is it running?"
    )
    assert backend.info.device == f"remote server at 127.0.0.1:{port}"
    assert_no_secret(str(caught.value), caplog.text, backend.info.device)


def test_a_stream_nobody_reads_still_ends_at_its_deadline():
    with FakeOpenAIServer("drip", interval_s=0.5) as server:
        backend = backend_for(server.url, timeout_s=1.0)
        backend.start(Prompt(document="Hi"), GenerationSettings(max_new_tokens=2, seed=1))  # never read
        assert wait_until(lambda: server.open_streams == 1, 5)
        started = time.monotonic()  # deadline 1 s + 2 / (2 tok/s) = 2 s, then 2 s of grace
        assert wait_until(lambda: server.open_streams == 0, 10)
        assert time.monotonic() - started < 6
        assert wait_until(lambda: backend.gate.stats() == (0, 0), 5)
