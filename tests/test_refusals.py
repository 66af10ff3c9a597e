"""The refusal log: one line per refused request, at most a few per visitor a minute, drops summarised."""

from __future__ import annotations

import logging

import pytest

from nlg_assistant import refusals
from nlg_assistant.refusals import RefusalFilter, install_refusal_filter, log_refusal


class Clock:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def logged(caplog, monkeypatch):
    """(clock, filter, lines): a fresh filter alone on the refusals logger; `lines()` what got through."""
    clock = Clock()
    gate = RefusalFilter(per_visitor=3, total=5, window_s=60, clock=clock)
    monkeypatch.setattr(refusals.LOGGER, "filters", [gate])
    caplog.set_level(logging.WARNING, logger=refusals.LOGGER.name)
    return clock, gate, lambda: [r.getMessage() for r in caplog.records]


def test_each_refusal_is_one_line_naming_the_visitor(logged):
    _, _, lines = logged
    log_refusal("You already have 2 requests running", "127.0.0.2")
    log_refusal("The story is too long")
    assert lines() == [
        "refused a request from 127.0.0.2: You already have 2 requests running",
        "refused a request: The story is too long",
    ]


def test_a_flood_logs_a_few_lines_a_minute_then_says_how_many_were_not_logged(logged):
    clock, _, lines = logged
    for _ in range(10_000):
        log_refusal("busy", "127.0.0.2")
    assert len(lines()) == 3  # per_visitor
    log_refusal("too long", "127.0.0.3")  # another visitor still gets its lines
    assert len(lines()) == 4
    clock.now += 61
    log_refusal("busy", "127.0.0.2")
    assert len(lines()) == 5
    assert lines()[-1] == (
        "refused a request from 127.0.0.2: busy "
        "(not logged in the previous 61 s: 9,997 refusals, 127.0.0.2 x 9,997)"
    )
    log_refusal("busy", "127.0.0.2")
    assert "not logged" not in lines()[-1]  # the summary is said once


def test_many_visitors_are_capped_together_and_summarised_briefly(logged):
    clock, _, lines = logged
    for index in range(1000):
        log_refusal("busy", f"10.0.{index // 250}.{index % 250}")
    assert len(lines()) == 5  # total
    clock.now += 60
    log_refusal("busy", "10.9.9.9")
    summary = lines()[-1]
    assert "995 refusals" in summary and "992 more visitors x 992" in summary
    assert len(summary) < 300


def test_other_records_pass_untouched(logged):
    _, _, lines = logged
    for _ in range(20):
        refusals.LOGGER.warning("not a refusal")
    assert len(lines()) == 20


def test_install_puts_one_filter_on_the_logger(monkeypatch):
    monkeypatch.setattr(refusals.LOGGER, "filters", [])
    first = install_refusal_filter()
    assert install_refusal_filter() is first and refusals.LOGGER.filters == [first]
