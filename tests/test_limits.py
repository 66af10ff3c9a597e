"""Tests for the per-visitor limiter, the visitor key, the text checks and the request gate."""

from __future__ import annotations

import threading
import time

import pytest

from nlg_assistant.limits import (
    BUSY_MESSAGE,
    InputError,
    RequestGate,
    VisitorBusyError,
    VisitorLimiter,
    check_text_size,
    visitor_key,
)


class Busy(RuntimeError):
    pass


def test_limiter_refuses_the_third_request_of_one_visitor_but_not_another():
    limiter = VisitorLimiter(2)
    limiter.acquire("1.1.1.1")
    limiter.acquire("1.1.1.1")
    with pytest.raises(VisitorBusyError) as caught:
        limiter.acquire("1.1.1.1")
    assert str(caught.value) == "You already have 2 requests running; wait for one to finish (or press Stop)"
    limiter.acquire("2.2.2.2")  # a second visitor is not affected
    limiter.release("1.1.1.1")
    limiter.acquire("1.1.1.1")  # a finished request frees a place
    assert limiter.running("1.1.1.1") == 2 and limiter.visitors() == 2


def test_hold_releases_on_error_and_when_a_generator_is_closed_early():
    limiter = VisitorLimiter(1)
    with pytest.raises(KeyError), limiter.hold("v"):
        raise KeyError("boom")
    assert limiter.running("v") == 0

    def stream():
        with limiter.hold("v"):
            yield 1
            yield 2

    gen = stream()
    next(gen)
    assert limiter.running("v") == 1
    gen.close()  # what gradio does when a visitor presses Stop or disconnects
    assert limiter.running("v") == 0 and limiter.visitors() == 0
    with pytest.raises(VisitorBusyError, match="1 request running"), limiter.hold("v"), limiter.hold("v"):
        pass
    limiter.release("v")  # an extra release never goes negative
    assert limiter.running("v") == 0


def test_limiter_is_exact_under_threads():
    limiter = VisitorLimiter(3)
    admitted, refused, peak = [], [], []
    start = threading.Barrier(16)

    def visit():
        start.wait()
        try:
            with limiter.hold("same"):
                admitted.append(1)
                peak.append(limiter.running("same"))
                time.sleep(0.05)
        except VisitorBusyError:
            refused.append(1)

    threads = [threading.Thread(target=visit) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) + len(refused) == 16 and len(refused) > 0
    assert max(peak) <= 3 and limiter.running("same") == 0


def test_zero_per_visitor_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        VisitorLimiter(0)


@pytest.mark.parametrize(
    ("host", "headers", "trust", "expected"),
    [
        ("127.0.0.2", {"X-Forwarded-For": "9.9.9.9"}, False, "127.0.0.2"),  # a client can write any header
        ("10.0.0.1", {"X-Forwarded-For": "203.0.113.5"}, True, "203.0.113.5"),
        # the trusted proxy appends what it saw; entries to its left are the client's own words
        ("10.0.0.1", {"X-Forwarded-For": "6.6.6.6, 203.0.113.5"}, True, "203.0.113.5"),
        ("10.0.0.1", {"x-forwarded-for": "1.1.1.1, 2.2.2.2,  198.51.100.7 "}, True, "198.51.100.7"),
        ("10.0.0.1", {}, True, "10.0.0.1"),  # a trusted proxy that sent no header
        ("10.0.0.1", {"X-Forwarded-For": ""}, True, "10.0.0.1"),
        (None, None, False, "unknown"),
    ],
)
def test_visitor_key(host, headers, trust, expected):
    assert visitor_key(host, headers, trust) == expected


def test_check_text_refuses_non_text_and_oversized_text_with_our_words():
    assert check_text_size("story", "x" * 10, 10) == "x" * 10
    assert check_text_size("memory", None, 10) == ""
    with pytest.raises(InputError) as caught:
        check_text_size("story", "x" * 250_000, 200_000)
    assert str(caught.value) == "The story is too long: 250,000 characters; the limit is 200,000"
    for value, kind in [(5, "a number"), ([["a"]], "a list"), ({"a": 1}, "an object"), (True, "true/false")]:
        with pytest.raises(InputError) as caught:
            check_text_size("topic", value, 100)
        assert str(caught.value) == f"The topic must be text (got {kind})"


def test_gate_runs_at_most_n_queues_m_and_refuses_the_rest():
    gate = RequestGate(max_running=2, max_waiting=1, busy=Busy)
    for _ in range(2):  # wait() takes each off the queue as it gets its slot
        assert gate.wait(gate.enqueue(1), 1, lambda: False)
    third = gate.enqueue(1)
    with pytest.raises(Busy, match=BUSY_MESSAGE):
        gate.enqueue(1)  # one is already waiting
    assert gate.stats() == (2, 1)
    got = []
    waiter = threading.Thread(target=lambda: got.append(gate.wait(third, 5, lambda: False)))
    waiter.start()
    time.sleep(0.2)
    assert got == []  # still waiting: both slots are taken
    gate.release()
    waiter.join(timeout=5)
    assert got == [True] and gate.stats() == (2, 0)


def test_gate_wait_ends_on_cancel_or_timeout_and_frees_the_queue_place():
    gate = RequestGate(max_running=1, max_waiting=1, busy=Busy)
    gate.wait(gate.enqueue(1), 1, lambda: False)
    started = time.monotonic()
    assert gate.wait(gate.enqueue(1), 0.2, lambda: False) is False
    assert 0.2 <= time.monotonic() - started < 2
    cancel = threading.Event()
    threading.Timer(0.1, cancel.set).start()
    assert gate.wait(gate.enqueue(1), 30, cancel.is_set) is False
    assert gate.stats() == (1, 0)


def test_gate_serves_in_order_and_takes_a_requests_slots_together():
    gate = RequestGate(max_running=3, max_waiting=4, busy=Busy)
    assert gate.wait(gate.enqueue(2), 1, lambda: False)  # 1 slot left
    big, small = gate.enqueue(3), gate.enqueue(1)
    order = []
    threads = [
        threading.Thread(target=lambda t=t, n=n: gate.wait(t, 5, lambda: False) and order.append(n))
        for t, n in ((big, "big"), (small, "small"))
    ]
    for t in threads:
        t.start()
    time.sleep(0.2)
    assert order == []  # small would fit, but big came first
    gate.release(2)
    time.sleep(0.2)
    assert order == ["big"]
    gate.release(3)
    for t in threads:
        t.join(timeout=5)
    assert order == ["big", "small"]
    with pytest.raises(ValueError, match="needs 4 slots"):
        gate.enqueue(4)
