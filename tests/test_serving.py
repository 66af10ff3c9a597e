"""The real app's sharing safeguards (ui/serving.py and ui.launch), on loopback.

127.0.0.1 and 127.0.0.2 are two visitors: a client bound to 127.0.0.2 reaches the app on
127.0.0.1 from another address.
"""

from __future__ import annotations

import json

import httpx
import httpx2
import pytest
from appserver import start_app
from gradio_client import Client
from gradio_client.exceptions import ValidationError

from nlg_assistant.tasks import BY_NAME
from nlg_assistant.ui.api import signature

pytestmark = pytest.mark.server
BUSY = "You already have 2 requests running; wait for one to finish (or press Stop)"


def _http(source: str = "127.0.0.1", **options) -> httpx2.Client:
    return httpx2.Client(transport=httpx2.HTTPTransport(local_address=source), timeout=60, **options)


def _call(http: httpx2.Client, url: str, name: str, data: list) -> tuple[int, str]:
    """POST /gradio_api/call/NAME: (status code, the event id or the refusal's text)."""
    answer = http.post(f"{url}gradio_api/call/{name}", json={"data": data})
    return answer.status_code, answer.json().get("event_id", "") if answer.is_success else answer.text


def _outcome(http: httpx2.Client, url: str, name: str, event_id: str) -> tuple[str, str]:
    """The event's last SSE (event type, data) pair."""
    last = ("", "")
    with http.stream("GET", f"{url}gradio_api/call/{name}/{event_id}") as stream:
        kind = ""
        for line in stream.iter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                last = (kind, line[5:].strip())
    return last


def _data(task: str, **values) -> list:
    """An endpoint's full positional data (REST callers send every input): defaults but `values`."""
    return [values.get(p.name, p.default) for p in signature(BY_NAME[task]).parameters.values()]


def _story(text: str, **changes) -> list:
    return _data("story", story=text, **changes)


@pytest.fixture(scope="module")
def app(tiny_model_dir, tmp_path_factory):
    """The batched app: 2 requests per visitor, 300-character fields, 10 kB uploads."""
    args = ["--model", str(tiny_model_dir), "--max-input-chars", "300", "--max-upload-mb", "0.01"]
    server = start_app(args, tmp_path_factory.mktemp("serving") / "app.log")
    yield server
    server.stop()


def test_a_flood_from_one_address_leaves_another_served(app):
    slow = _story("Once upon a time", max_new_tokens=800, temperature=0.0)
    with _http("127.0.0.2") as flooder, _http("127.0.0.1") as other:
        answers = [_call(flooder, app.url, "story", slow) for _ in range(6)]
        assert [code for code, _ in answers[:2]] == [200, 200]
        assert all(code == 429 and BUSY in text for code, text in answers[2:]), answers
        code, event_id = _call(other, app.url, "story", _story("A clever crow", max_new_tokens=8))
        assert code == 200
        kind, data = _outcome(other, app.url, "story", event_id)
        assert kind == "complete" and json.loads(data)[0], (kind, data)
        for _, flood_id in answers[:2]:
            _outcome(flooder, app.url, "story", flood_id)
    assert app.log().count("refused a request from 127.0.0.2: You already have 2") == 4  # one each


def test_gradio_client_gets_the_busy_reason_in_the_429_it_raises(app):
    slow = _story("Once upon a time", max_new_tokens=800, temperature=0.0)
    with _http("127.0.0.1") as same_visitor:
        running = [_call(same_visitor, app.url, "story", slow) for _ in range(2)]
        assert [code for code, _ in running] == [200, 200]
        with pytest.raises(httpx.HTTPStatusError) as refused:
            Client(app.url, verbose=False).predict("A third story", api_name="/story")
        assert refused.value.response.status_code == 429
        assert refused.value.response.json() == {"detail": BUSY}  # where docs/security.md points
        for _, event_id in running:
            _outcome(same_visitor, app.url, "story", event_id)


def test_a_flood_of_refusals_fills_no_log(app):
    with _http("127.0.0.3") as flooder:
        codes = [_call(flooder, app.url, "story", [])[0] for _ in range(200)]
    assert codes == [422] * 200
    assert app.log().count("refused a request from 127.0.0.3") == 5  # a few lines a minute per visitor


def test_oversized_and_non_text_fields_get_our_message(app):
    client = Client(app.url, verbose=False)
    with pytest.raises(Exception, match="The story is too long: 301 characters; the limit is 300"):
        client.predict("x" * 301, api_name="/story")
    with _http() as http:
        for name, data, message in [
            ("story", _story(7), "The story must be text (got a number)"),
            ("story", _story("Hi", memory=["a"]), "The memory must be text (got a list)"),
            ("fewshot", _data("fewshot", new_input="hi", examples_json="[[[1]]]"), "example 1 must be"),
        ]:
            code, event_id = _call(http, app.url, name, data)
            assert code == 200
            kind, text = _outcome(http, app.url, name, event_id)
            assert kind == "error" and message in text and "Traceback" not in text


def test_missing_inputs_get_our_message_not_python_internals(app):
    with _http() as http:
        code, body = _call(http, app.url, "story", [])
        assert code == 422 and "/story takes 11 values in this order: story, memory, style" in body
        named = http.post(f"{app.url}gradio_api/call/v2/article", json={"keywords": "bees"})
    assert named.status_code == 422 and "/article needs a value for 'topic'" in named.text
    for text in (body, named.text):
        assert " at 0x" not in text and "gradio.components" not in text and "Wanted inputs" not in text
        assert "Traceback" not in text
    assert "Wanted inputs" not in app.log() and "refused a request from 127.0.0.1: /story takes" in app.log()


def test_an_oversized_body_is_refused_with_our_message_and_the_app_keeps_serving(app):
    client = Client(app.url, verbose=False)
    # 300-character fields: a queued request's body may be 9 x 300 x 4 bytes + 64 KiB
    with pytest.raises(
        ValidationError, match=r"The request is too large \(2,000,\d+ bytes; the limit is 76,336\)"
    ):
        client.predict("x" * 2_000_000, api_name="/story")
    with _http() as http:
        code, text = _call(http, app.url, "story", _story("y" * 2_000_000))
        assert code == 422 and "The request is too large" in text
    text, status = client.predict("Once upon a time", api_name="/story", max_new_tokens=4)
    assert text and "4 tokens" in status


def test_an_upload_over_the_cap_is_refused(app):
    with _http() as http:
        small = http.post(f"{app.url}gradio_api/upload", files={"files": ("a.txt", b"x" * 1000)})
        big = http.post(f"{app.url}gradio_api/upload", files={"files": ("b.txt", b"x" * 20_000)})
    assert small.status_code == 200
    assert big.status_code == 413


def test_login_is_required_by_the_api_and_gradio_client(tiny_model_dir, tmp_path):
    env = {"NLG_AUTH": "ann:s3cret-pass"}
    server = start_app(["--model", str(tiny_model_dir), "--engine", "simple"], tmp_path / "auth.log", env=env)
    try:
        with _http() as http:
            code, text = _call(http, server.url, "story", ["Once", "", ""])
            assert code in (401, 403) and "s3cret" not in text  # the login first, not our input check
            code, text = _call(http, server.url, "story", ["x" * 10_000_000])
            assert code in (401, 403)
            http.post(f"{server.url}login", data={"username": "ann", "password": "s3cret-pass"})
            code, text = _call(http, server.url, "story", ["Once", "", ""])
            assert code == 422 and "/story takes 11 values" in text  # logged in: our message
        with pytest.raises(Exception):  # noqa: B017 gradio_client's own error for a login page
            Client(server.url, verbose=False).predict("Once upon a time", api_name="/story")
        client = Client(server.url, auth=("ann", "s3cret-pass"), verbose=False)
        text, status = client.predict("Once upon a time", max_new_tokens=4, api_name="/story")
        assert "4 tokens" in status
        wrong = pytest.raises(Exception)
        with wrong:
            Client(server.url, auth=("ann", "wrong"), verbose=False)
    finally:
        server.stop()
    assert "s3cret-pass" not in server.log()


async def _mcp_session(url: str, calls: list[tuple[str, dict]], headers: dict | None = None) -> tuple:
    """(tools, results of `calls`) from one streamable-HTTP MCP session with the app."""
    from mcp import ClientSession
    from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

    async with (
        create_mcp_http_client(headers=headers) as http,
        streamable_http_client(f"{url}gradio_api/mcp/", http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools = (await session.list_tools()).tools
        results = [await session.call_tool(name, arguments) for name, arguments in calls]
    return tools, results


def test_mcp_lists_exactly_the_tasks_and_runs_them(tiny_model_dir, tmp_path):
    import anyio

    server = start_app(["--model", str(tiny_model_dir), "--mcp"], tmp_path / "mcp.log")
    calls = [
        ("story", {"story": "Once upon a time", "max_new_tokens": 6, "seed": 1}),
        ("fewshot", {"new_input": "thx", "examples_json": '[["hi", "Hello."]]', "max_new_tokens": 6}),
        ("story", {"story": "x" * 400_000}),
    ]
    try:
        tools, results = anyio.run(_mcp_session, server.url, calls)
    finally:
        server.stop()
    assert sorted(tool.name for tool in tools) == [
        "alternatives",
        "article",
        "article_outline",
        "fewshot",
        "story",
    ]
    story = next(tool for tool in tools if tool.name == "story")
    assert "Continue a story" in story.description
    schema = story.inputSchema["properties"]
    assert schema["max_new_tokens"]["type"] == "integer" and schema["temperature"]["type"] == "number"
    assert "the story so far" in schema["story"]["description"]
    for result in results[:2]:
        assert not result.isError and "tokens" in result.content[-1].text
    assert results[2].isError and "The story is too long" in results[2].content[0].text


def test_mcp_with_a_login_needs_basic_credentials(tiny_model_dir, tmp_path):
    import anyio
    import httpx

    from nlg_assistant.mcp_login import basic_header

    args = ["--model", str(tiny_model_dir), "--mcp", "--engine", "simple"]
    server = start_app(args, tmp_path / "mcp-auth.log", env={"NLG_AUTH": "ann:s3cret-pass"})
    call = [("story", {"story": "Once upon a time", "max_new_tokens": 4})]
    try:
        with httpx.Client() as http:
            listing = http.post(
                f"{server.url}gradio_api/mcp/", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
            )
        assert listing.status_code == 401 and "story" not in listing.text
        with pytest.raises(BaseException):  # noqa: B017 the MCP client gives up on a 401
            anyio.run(_mcp_session, server.url, call, {"Authorization": basic_header("ann", "wrong")})
        headers = {"Authorization": basic_header("ann", "s3cret-pass")}
        tools, results = anyio.run(_mcp_session, server.url, call, headers)
    finally:
        server.stop()
    assert len(tools) == 5 and not results[0].isError and "4 tokens" in results[0].content[-1].text
    assert "s3cret-pass" not in server.log()
