"""RequestCheck in front of a real gradio app on loopback: body limits and REST input checks."""

from __future__ import annotations

import json

import gradio as gr
import httpx2
import pytest
from appserver import launch_behind
from gradio_client import Client
from gradio_client.exceptions import ValidationError
from starlette.middleware import Middleware

from nlg_assistant.request_check import Endpoint, RequestCheck
from nlg_assistant.ui import api_endpoints

pytestmark = pytest.mark.server
LIMIT = 20_000  # bytes of a queued request's body
MAX_CHARS = 1000  # characters of a text input
TOO_LARGE = "The request is too large"
TOO_LONG = "The text is too long: 5,000 characters; the limit is 1,000"


@pytest.fixture(scope="module")
def checked():
    """(base URL, demo): /echo(text, times=1) behind RequestCheck: 20 kB bodies, 1,000-character texts."""

    def echo(text: str, times: int = 1) -> str:
        """Echoes `text`."""
        return text * times

    with gr.Blocks(analytics_enabled=False) as demo:
        gr.api(echo, api_name="echo")
    demo.queue()
    endpoints = api_endpoints(demo)
    assert endpoints == {"echo": Endpoint(("text", "times"), ("text",), ("text",), 0)}
    options = {"endpoints": endpoints, "max_chars": MAX_CHARS, "trust_proxy": False}
    middleware = Middleware(RequestCheck, queued_bytes=LIMIT, other_bytes=2 * LIMIT, **options)
    url = launch_behind(demo, middleware)
    try:
        yield url, demo
    finally:
        demo.close()


def _message(answer: httpx2.Response) -> str:
    assert answer.status_code == 422, answer.text
    (detail,) = answer.json()["detail"]
    assert detail["__type__"] == "validate" and detail["is_valid"] is False
    return detail["message"]


def _result(http: httpx2.Client, base: str, answer: httpx2.Response) -> list:
    assert answer.status_code == 200, answer.text
    with http.stream("GET", f"{base}/gradio_api/call/echo/{answer.json()['event_id']}") as stream:
        data = [json.loads(line[5:]) for line in stream.iter_lines() if line.startswith("data:")]
    return data[-1]


def test_an_oversized_body_is_refused_unread_and_leaves_no_session_behind(checked):
    base, demo = checked
    sessions = len(demo.state_holder.session_data)
    with httpx2.Client(timeout=60) as http:
        for _ in range(5):
            answer = http.post(f"{base}/gradio_api/call/echo", json={"data": ["x" * 50_000, 1]})
            assert _message(answer).startswith(f"{TOO_LARGE} (50,0")
        assert len(demo.state_holder.session_data) == sessions  # gradio never saw them
        assert _result(http, base, http.post(f"{base}/gradio_api/call/echo", json={"data": ["ok", 2]})) == [
            "okok"
        ]


def test_a_body_without_content_length_is_cut_at_the_limit(checked):
    base, _ = checked
    body = json.dumps({"data": ["x" * 100_000, 1]}).encode()
    chunks = (body[i : i + 4096] for i in range(0, len(body), 4096))  # chunked: no Content-Length
    with httpx2.Client(timeout=60) as http:
        answer = http.post(f"{base}/gradio_api/call/echo", content=chunks)
    assert _message(answer).startswith(f"{TOO_LARGE} (over ")


def test_gradio_client_gets_our_message_and_the_server_keeps_serving(checked):
    base, demo = checked
    client = Client(base, verbose=False)
    with pytest.raises(ValidationError, match=TOO_LARGE):
        client.predict("y" * 30_000, api_name="/echo")
    sessions = len(demo.state_holder.session_data)
    with pytest.raises(ValidationError, match=TOO_LONG):  # under the body limit, over the text cap
        client.predict("y" * 5000, api_name="/echo")
    assert len(demo.state_holder.session_data) == sessions
    assert client.predict("hi", 3, api_name="/echo") == "hihihi"


@pytest.mark.parametrize(
    ("route", "body"), [("call/echo", {"data": ["z" * 5000, 1]}), ("call/v2/echo", {"text": "z" * 5000})]
)
def test_a_text_over_the_cap_is_refused_before_gradio_keeps_it(checked, route, body):
    base, demo = checked
    sessions = len(demo.state_holder.session_data)
    with httpx2.Client(timeout=60) as http:
        for _ in range(3):
            assert _message(http.post(f"{base}/gradio_api/{route}", json=body)) == TOO_LONG
    assert len(demo.state_holder.session_data) == sessions


@pytest.mark.parametrize(
    ("route", "body", "message"),
    [
        ("call/echo", {"data": []}, "/echo takes 2 values in this order: text, times; got 0"),
        ("call/echo", {"data": ["a", 1, 2]}, "got 3"),
        ("call/echo", {"text": "a"}, 'no "data" list'),
        ("call/v2/echo", {}, "/echo needs a value for 'text'"),
        (
            "call/v2/echo",
            {"text": "a", "bogus": 1},
            "/echo has no input named 'bogus'; its inputs are text, times",
        ),
        ("call/v2/echo", ["a"], "/echo takes an object of named values"),
    ],
)
def test_rest_calls_with_missing_or_unknown_inputs_get_our_message(checked, route, body, message):
    base, _ = checked
    with httpx2.Client(timeout=60) as http:
        assert message in _message(http.post(f"{base}/gradio_api/{route}", json=body))


def test_good_calls_and_other_routes_pass(checked):
    base, _ = checked
    with httpx2.Client(timeout=60) as http:
        assert _result(http, base, http.post(f"{base}/gradio_api/call/v2/echo", json={"text": "a"})) == ["a"]
        not_json = http.post(f"{base}/gradio_api/call/echo", content=b"{", headers={"content-type": "x"})
        assert "is not valid JSON" in _message(not_json)
        upload = http.post(f"{base}/gradio_api/upload", files={"files": ("a.txt", b"x" * (3 * LIMIT))})
        assert upload.status_code == 200  # uploads are gradio's max_file_size's business
        assert http.get(f"{base}/gradio_api/info").status_code == 200
