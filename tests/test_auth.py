"""Tests for reading login pairs from NLG_AUTH and --auth-file."""

from __future__ import annotations

import pytest

from nlg_assistant.auth import AuthError, describe, parse_auth_env, parse_auth_file
from nlg_assistant.config import AppConfig


def test_env_pairs_are_split_on_commas_and_the_first_colon():
    assert parse_auth_env(" ana:pw one , bo:b:2,") == (("ana", "pw one"), ("bo", "b:2"))


def test_file_skips_comments_and_blank_lines():
    text = "# the team\n\nana:pw1\n  # indented comment\nbo:pw2  \n"
    assert parse_auth_file(text, "team.txt") == (("ana", "pw1"), ("bo", "pw2"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ana:pw1\nhunter2\n", "--auth-file t, line 2: no ':' (each line is user:password)"),
        ("ana:\n", "--auth-file t, line 1: the user name and the password must not be empty"),
        (":pw\n", "--auth-file t, line 1: the user name and the password must not be empty"),
        ("ana:a\nana:b\n", "--auth-file t, line 2: user 'ana' is listed twice"),
        ("# nobody\n", "--auth-file t lists no user:password pair"),
    ],
)
def test_file_errors_name_the_line_and_never_echo_it(text, message):
    with pytest.raises(AuthError) as caught:
        parse_auth_file(text, "t")
    assert str(caught.value) == message
    assert "hunter2" not in str(caught.value)


def test_env_errors_name_the_pair():
    with pytest.raises(AuthError, match="NLG_AUTH, pair 2: no ':'"):
        parse_auth_env("ana:pw,bopw")
    with pytest.raises(AuthError, match="NLG_AUTH lists no"):
        parse_auth_env(" , ")


def test_config_keeps_pairs_but_never_shows_a_password():
    url = "http://svc:t0psecret@h:8000/v1?api_key=k3y"
    config = AppConfig(backend="openai", base_url=url, auth=(("ana", "pw-secret-1"),))
    shown = repr(config) + str(config)
    for secret in ("pw-secret-1", "t0psecret", "k3y"):
        assert secret not in shown
    assert "auth=<1 user(s)>" in shown and "http://h:8000/v1?api_key=***" in shown
    assert config.auth == (("ana", "pw-secret-1"),)
    assert describe(config.auth) == "login required (1 user: ana)" and describe(()) == "no login"
    with pytest.raises(ValueError, match="auth must be"):
        AppConfig(auth=(("ana", ""),))
