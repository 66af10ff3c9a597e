"""Tests for credential redaction and the plain-text form of foreign error messages."""

from __future__ import annotations

import logging

import pytest

from nlg_assistant.redact import (
    RedactingFilter,
    install_log_redaction,
    plain_text,
    redact_text,
    redact_url,
    url_secrets,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://bob:hunter2@gpu-box:8000/v1", "http://gpu-box:8000/v1"),
        ("https://tok@example.org/v1", "https://example.org/v1"),
        ("http://h/v1?api_key=abc&model=m", "http://h/v1?api_key=***&model=m"),
        ("http://h/v1?Token=abc&X-Api-Key=z&KEY=1", "http://h/v1?Token=***&X-Api-Key=z&KEY=***"),
        ("http://u:p%40ss@[::1]:8000/v1", "http://[::1]:8000/v1"),
        ("http://u:pw@host:99999/v1?key=1", "http://host:99999/v1?key=***"),  # bad port: no parse
        ("http://localhost:8000/v1", "http://localhost:8000/v1"),
    ],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_url_secrets_lists_raw_and_decoded_credentials():
    found = url_secrets("http://bob:p%40ss@h/v1?token=zzz&model=m")
    assert set(found) == {"bob", "p%40ss", "p@ss", "zzz"}
    assert url_secrets("http://h/v1") == ()


def test_redact_text_masks_urls_and_known_secrets_anywhere():
    secrets = url_secrets("http://u:s3cretpw@h/v1")
    text = "POST http://u:s3cretpw@h/v1/completions failed; Authorization: Basic s3cretpw"
    assert redact_text(text, secrets) == "POST http://h/v1/completions failed; Authorization: Basic ***"


def test_plain_text_is_short_one_line_and_renders_no_link_image_or_tag():
    body = "Bad request\n\n[click](http://evil.example) ![x](https://evil.example/a.png) <img src=x>" * 40_000
    shown = plain_text(body, 300)
    assert len(shown) <= 300 and "\n" not in shown and shown.endswith("…")
    for forbidden in ("http", "[", "]", "<", ">", "evil.example"):
        assert forbidden not in shown
    assert shown.startswith("Bad request (click)((link removed)")
    assert plain_text("see www.evil.example/page now") == "see (link removed) now"
    assert plain_text("max_tokens must be <= 4096") == "max_tokens must be \u2039= 4096"


def test_filter_redacts_message_and_arguments(caplog):
    logger = logging.getLogger("test_redact.third_party")
    install_log_redaction(("test_redact.third_party",), ("s3cretpw",))
    install_log_redaction(("test_redact.third_party",), ("0th3rkey",))  # merged, not added twice
    assert sum(isinstance(f, RedactingFilter) for f in logger.filters) == 1
    with caplog.at_level(logging.DEBUG, logger="test_redact.third_party"):
        logger.info('HTTP Request: %s %s "%d"', "POST", "http://u:s3cretpw@h/v1?key=0th3rkey", 200)
        logger.warning("key was 0th3rkey at http://u:s3cretpw@h/v1")
    text = caplog.text
    assert "s3cretpw" not in text and "0th3rkey" not in text
    assert 'HTTP Request: POST http://h/v1?key=*** "200"' in text
