"""VisitorGate in front of a real gradio app on loopback: 127.0.0.1 and 127.0.0.2 are two visitors."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager

import gradio as gr
import httpx2
import pytest
from appserver import launch_behind
from starlette.middleware import Middleware

from nlg_assistant.visitor_gate import VisitorGate

pytestmark = pytest.mark.server
MESSAGE = "You already have 2 requests running; wait for one to finish (or press Stop)"


@pytest.fixture
def gated():
    """(base URL, release event, gate): /slow streams until `release` is set; at most 2 per visitor."""
    with _gated_app(trust_proxy=False) as served:
        yield served


@pytest.fixture
def gated_behind_proxy():
    """`gated` with --trust-proxy: visitors keyed by X-Forwarded-For."""
    with _gated_app(trust_proxy=True) as served:
        yield served


@contextmanager
def _gated_app(trust_proxy: bool):
    release = threading.Event()

    def slow(text: str) -> str:
        """Streams `text` until released."""
        yield text
        while not release.wait(0.05):
            yield text

    with gr.Blocks(analytics_enabled=False) as demo:
        gr.api(slow, api_name="slow")
    demo.queue(default_concurrency_limit=16, max_size=64)
    holder = {}

    def gate_factory(app, **options):
        holder["gate"] = VisitorGate(app, **options)
        return holder["gate"]

    alive = lambda event_id: event_id in demo._queue.event_ids_to_events  # noqa: E731
    middleware = Middleware(gate_factory, max_per_visitor=2, trust_proxy=trust_proxy, alive=alive)
    url = launch_behind(demo, middleware)
    try:
        yield url, release, holder
    finally:
        release.set()
        demo.close()


def client(source: str) -> httpx2.Client:
    return httpx2.Client(transport=httpx2.HTTPTransport(local_address=source), timeout=30)


def join(http: httpx2.Client, base: str, text: str, forwarded: str = "") -> httpx2.Response:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return http.post(f"{base}/gradio_api/call/slow", json={"data": [text]}, headers=headers)


def first_data(http: httpx2.Client, base: str, event_id: str) -> list:
    with http.stream("GET", f"{base}/gradio_api/call/slow/{event_id}") as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                return json.loads(line[5:])
    return []


def test_third_request_of_one_address_is_refused_at_the_door_while_another_is_served(gated):
    base, release, holder = gated
    with client("127.0.0.2") as flooder, client("127.0.0.1") as other:
        accepted = [join(flooder, base, f"flood {i}") for i in range(2)]
        assert [r.status_code for r in accepted] == [200, 200]
        started = time.monotonic()
        refused = join(flooder, base, "flood 3")
        assert refused.status_code == 429 and refused.json() == {"detail": MESSAGE}
        assert time.monotonic() - started < 2  # answered at once, not after a queue wait
        probe = join(other, base, "probe")
        assert probe.status_code == 200
        assert first_data(other, base, probe.json()["event_id"]) == ["probe"]
        assert holder["gate"].alive_events("127.0.0.2") == 2
        release.set()  # the flood's events end; gradio drops them from its queue
        for response in accepted:
            first_data(flooder, base, response.json()["event_id"])
        deadline = time.monotonic() + 10
        while holder["gate"].alive_events("127.0.0.2") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert holder["gate"].alive_events("127.0.0.2") == 0
        assert join(flooder, base, "again").status_code == 200  # nothing leaked


def test_gets_and_other_routes_pass_untouched(gated):
    base, _, _ = gated
    with client("127.0.0.2") as http:
        for _ in range(5):
            assert http.get(f"{base}/gradio_api/info").status_code == 200


def test_behind_a_proxy_the_last_forwarded_hop_is_the_visitor(gated_behind_proxy):
    base, release, holder = gated_behind_proxy
    # 127.0.0.2 is the proxy: it appends the address it saw; whatever is left of it, the client wrote
    with client("127.0.0.2") as proxy:
        spoofed = [join(proxy, base, f"x {i}", f"198.51.100.{i}, 203.0.113.9") for i in range(3)]
        assert [r.status_code for r in spoofed] == [200, 200, 429]  # one visitor, whatever it wrote
        other = join(proxy, base, "other", "203.0.113.10")
        assert other.status_code == 200
        assert holder["gate"].alive_events("203.0.113.9") == 2
        release.set()
        for response in (*spoofed[:2], other):
            first_data(proxy, base, response.json()["event_id"])
