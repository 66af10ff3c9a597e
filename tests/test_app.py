"""app.py: the sharing flags reach AppConfig, login pairs come from NLG_AUTH or --auth-file, and a
taken port is named before anything loads (the real app as a subprocess, a real socket)."""

from __future__ import annotations

import socket
import sys
import time

import httpx2
import pytest
from appserver import REPO_ROOT, run_app, start_app
from fakeopenai import MODEL_ID, FakeOpenAIServer

sys.path.insert(0, str(REPO_ROOT))
import app  # app.py lives at the repository root; importing it runs nothing


def config_for(flags: list[str], monkeypatch, nlg_auth: str | None = None):
    monkeypatch.delenv("NLG_AUTH", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    if nlg_auth is not None:
        monkeypatch.setenv("NLG_AUTH", nlg_auth)
    return app._config(app._parser().parse_args(flags))


def test_sharing_flags_reach_the_config(monkeypatch):
    flags = ["--max-input-chars", "5000", "--max-per-visitor", "3", "--trust-proxy"]
    flags += ["--show-backend-host", "--max-upload-mb", "0.5"]
    config = config_for(flags, monkeypatch)
    assert (config.max_input_chars, config.max_per_visitor, config.max_upload_mb) == (5000, 3, 0.5)
    assert config.trust_proxy and config.show_backend_host and config.auth == ()


def test_login_from_nlg_auth_or_a_file(monkeypatch, tmp_path):
    assert config_for([], monkeypatch, "ana:pw1,bo:pw2").auth == (("ana", "pw1"), ("bo", "pw2"))
    users = tmp_path / "users.txt"
    users.write_text("# demo\nana:pw1\n", encoding="utf-8")
    assert config_for(["--auth-file", str(users)], monkeypatch).auth == (("ana", "pw1"),)
    with pytest.raises(ValueError, match="not both"):
        config_for(["--auth-file", str(users)], monkeypatch, "bo:pw2")
    with pytest.raises(ValueError, match="cannot read it"):
        config_for(["--auth-file", str(tmp_path / "missing.txt")], monkeypatch)


def test_a_password_on_the_command_line_is_refused_without_echoing_it(tmp_path):
    done = run_app(["--auth", "ana:hunter2"], tmp_path / "auth.log")  # not read as --auth-file
    assert done.returncode == 2 and "--auth is not taken" in done.stderr and "NLG_AUTH" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        (["--max-per-visitor", "0"], {}, "--max-per-visitor must be at least 1 (got 0)"),
        (["--max-input-chars", "0"], {}, "--max-input-chars must be between 1 and 10,000,000 (got 0)"),
        ([], {"NLG_AUTH": "ana:pw1,hunter2"}, "NLG_AUTH, pair 2: no ':' (each pair is user:password)"),
    ],
)
def test_bad_sharing_option_exits_with_one_line(tmp_path, flags, env, message):
    done = run_app(flags, tmp_path / "bad.log", env=env)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {message}"
    assert "hunter2" not in done.stderr + done.stdout


def test_port_in_use_is_named_before_the_model_loads(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        started = time.monotonic()
        done = run_app(
            ["--model", str(tmp_path / "no-model-here"), "--host", "127.0.0.1", "--port", str(port)],
            tmp_path / "port.log",
        )
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: Port {port} is in use; pick another with --port"
    assert "Loading" not in done.stdout  # refused before any model is looked at
    assert time.monotonic() - started < 20


def test_port_problem_reports_a_free_port_as_free():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert app._port_problem("127.0.0.1", port) is None
    assert "check --host" in app._port_problem("192.0.2.1", port)  # not an address of this machine


@pytest.mark.server
def test_a_password_in_base_url_is_nowhere_in_config_errors_or_the_log(tmp_path):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    with FakeOpenAIServer("normal") as model_server:
        url = f"http://svc:pw-in-url-77@127.0.0.1:{model_server.port}/v1?api_key=key-in-url-88"
        args = ["--backend", "openai", "--base-url", url, "--model", MODEL_ID, "--no-chat"]
        app_server = start_app(args, tmp_path / "app.log")
        try:
            config = httpx2.get(f"{app_server.url}config", timeout=10).text
            assert "remote server" in config and f"127.0.0.1:{model_server.port}" not in config
            client = Client(app_server.url, verbose=False)
            text, _ = client.predict("Once", api_name="/story", max_new_tokens=3)
            assert text == "t0 t1 t2 "  # the credentials still reach the model server
            model_server.mode = "echo_error"  # a server that quotes the request in its error
            with pytest.raises(AppError) as caught:
                client.predict("Once", api_name="/story", max_new_tokens=3)
            assert "answered HTTP 500" in str(caught.value)
        finally:
            app_server.stop()
        for shown in (config, str(caught.value), app_server.log()):
            assert "pw-in-url-77" not in shown and "key-in-url-88" not in shown
