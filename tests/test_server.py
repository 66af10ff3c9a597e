"""The real app (app.py) served on loopback, driven by the real gradio_client on the tiny model."""

from __future__ import annotations

import itertools
import json
import re
import time
import urllib.request

import pytest
from appserver import run_app, start_app
from gradio_client import Client
from gradio_client.exceptions import AppError

pytestmark = pytest.mark.server

CAP = 48  # the server-side max_new_tokens cap the app is started with
# A fixed seed: with a random one the tiny model's first sampled token is sometimes its eos
# (about 1 in 20 seeds after a trimmed prompt, a CJK story or an outline request), and an empty
# text would fail the tests that expect one. Seed 1 writes text for every request here.
SEED = 1
SMALL = {"max_new_tokens": 12, "seed": SEED}
EXAMPLES = json.dumps([["hi", "Hello."], ["thx", "Thank you."]])


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    """One app on the simple engine for the whole module."""
    log = tmp_path_factory.mktemp("server") / "app.log"
    args = ["--model", str(tiny_model_dir), "--engine", "simple", "--max-new-tokens-cap", str(CAP)]
    app = start_app(args, log)
    yield app
    app.stop()


@pytest.fixture(scope="module")
def client(server):
    return Client(server.url, verbose=False)


def _streamed(client: Client, text: str, api_name: str, **kwargs) -> list[tuple[str, str]]:
    """Every (text, status) value the endpoint streamed, the final one last."""
    job = client.submit(text, api_name=api_name, **kwargs)
    values = [tuple(value) for value in job]
    final = tuple(job.result())
    if not values or values[-1] != final:
        values.append(final)
    return values


def _generated_tokens(status: str) -> int:
    return int(re.match(r"(?:.*· )?(\d+) tokens", status.splitlines()[0]).group(1))


def test_startup_prints_the_url_and_our_share_flag(server):
    deadline = time.monotonic() + 10  # printed right after launch(), maybe after the first request
    while "Running on" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert f"Running on {server.url}" in server.log()
    assert "--share also opens a public link" in server.log()
    assert "share=True" not in server.log()  # gradio's hint names its API, not our flag


def test_api_lists_the_four_endpoints_with_defaults(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {"/story", "/article_outline", "/article", "/fewshot"} <= set(endpoints)
    for name in ("/story", "/article_outline", "/article", "/fewshot"):
        params = endpoints[name]["parameters"]
        assert not params[0]["parameter_has_default"]
        assert all(p["parameter_has_default"] for p in params[1:]), name
        assert "temperature" in [p["parameter_name"] for p in params]


@pytest.mark.parametrize(
    ("text", "api_name", "kwargs"),
    [
        ("Once upon a time", "/story", {"memory": "A fox.", "max_new_tokens": 40}),
        ("Urban beekeeping", "/article_outline", {"audience": "beginners", "max_new_tokens": 40}),
        ("Urban beekeeping", "/article", {"outline": "1. Hives\n2. Honey", "max_new_tokens": 30}),
        ("hey u coming?", "/fewshot", {"examples_json": EXAMPLES, "max_new_tokens": 40}),
    ],
)
def test_every_endpoint_streams_growing_text(client, text, api_name, kwargs):
    values = _streamed(client, text, api_name, seed=SEED, **kwargs)
    texts = [value[0] for value in values]
    assert len(texts) >= 2, values
    assert all(later.startswith(earlier.rstrip()) for earlier, later in itertools.pairwise(texts)), texts
    assert len(texts[-1]) > len(texts[0])
    assert texts[-1].strip()
    assert "finish:" in values[-1][1]


def test_article_without_outline_writes_one_first(client):
    text, status = client.predict("Urban beekeeping", api_name="/article", max_new_tokens=10, seed=SEED)
    assert text.startswith("## ")
    assert status.startswith("Article: ") and "Section " in status


def test_predict_with_only_the_main_text(client):
    text, status = client.predict("Once upon a time", api_name="/story")
    assert text
    assert "finish:" in status


def test_invalid_setting_names_the_field_and_server_keeps_serving(client):
    with pytest.raises(AppError, match=r"temperature must be between 0\.0 and 2\.0"):
        client.predict("Once upon a time", api_name="/story", temperature=5.0)
    with pytest.raises(AppError, match="top_k"):
        client.predict("Once upon a time", api_name="/story", top_k=-3)
    text, _ = client.predict("Once upon a time", api_name="/story", **SMALL)
    assert text


def test_max_new_tokens_above_the_cap_is_clamped(client):
    _, status = client.predict("Once upon a time", api_name="/story", max_new_tokens=4000, temperature=0.0)
    assert _generated_tokens(status) == CAP
    assert "finish: length" in status


def test_empty_prompt_is_a_clear_error(client, server):
    with pytest.raises(AppError, match="story is empty"):
        client.predict("   \n ", api_name="/story")
    with pytest.raises(AppError, match="topic is empty"):
        client.predict("", api_name="/article_outline")
    with pytest.raises(AppError, match="new input is empty"):
        client.predict(" ", api_name="/fewshot", examples_json=EXAMPLES)
    assert "is empty" not in server.log()  # a user's mistake, not a server fault: no traceback logged


def test_huge_prompt_is_trimmed_with_a_notice(client):
    huge = "Once upon a time. " * 11_000  # 198,000 characters: under --max-input-chars' default
    text, status = client.predict(huge, api_name="/story", **SMALL)
    assert text
    assert "too long" in status and "left out" in status
    assert client.predict("Once upon a time", api_name="/story", **SMALL)[0]


def test_cjk_and_emoji_round_trip(client):
    heading = "猫の話 🦊 café"
    text, _ = client.predict("猫 🦊", api_name="/article", outline=f"1. {heading}", **SMALL)
    assert text.startswith(f"## {heading}\n")
    text, _ = client.predict("从前有一只狐狸 🦊。", api_name="/story", **SMALL)
    assert text


def test_fewshot_examples_are_json_or_a_preset_name(client):
    with pytest.raises(AppError, match="preset name"):
        client.predict("hey", api_name="/fewshot", examples_json="not json, not a preset")
    assert client.predict("hey", api_name="/fewshot", examples_json="headline", **SMALL)[1]  # by name
    huge = json.dumps([["a long example " * 100, "b"]])  # over the tiny model's 256 tokens on its own
    with pytest.raises(AppError, match="does not fit in the model's context"):
        client.predict("hey", api_name="/fewshot", examples_json=huge, **SMALL)
    pairs = '[{"input": "a", "output": "b"}]'
    assert client.predict("hey", api_name="/fewshot", examples_json=pairs, **SMALL)[0]


def test_drafts_come_back_in_the_final_text(client):
    text, _ = client.predict("Once upon a time", api_name="/story", num_drafts=3, max_new_tokens=8)
    assert "--- draft 2 ---" in text and "--- draft 3 ---" in text


def test_missing_model_folder_exits_with_code_2(tmp_path):
    missing = tmp_path / "no-such-model"
    done = run_app(["--model", str(missing)], tmp_path / "missing.log")
    assert done.returncode == 2
    assert str(missing) in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    "flags, nlg_args, message",
    [
        (["--engine", "warp"], "", "--engine must be batched or simple"),
        (["--static-cache"], "", "--static-cache is for one writer at a time: use it with --engine simple"),
        ([], "--engine warp", "--engine must be batched or simple"),  # how a Space sets flags
        ([], "--engine 'simple", "could not read NLG_ARGS: No closing quotation"),
    ],
)
def test_bad_option_exits_with_code_2(tmp_path, flags, nlg_args, message):
    done = run_app(flags, tmp_path / "bad.log", env={"NLG_ARGS": nlg_args})
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_static_cache_writes_the_same_text_and_says_so(client, tiny_model_dir, tmp_path):
    """`--engine simple --static-cache` writes the dynamic cache's greedy text; the header says so."""
    args = ["--model", str(tiny_model_dir), "--engine", "simple", "--static-cache"]
    app = start_app(args, tmp_path / "static.log")
    try:
        greedy = dict(max_new_tokens=12, temperature=0.0, repetition_penalty=1.0)
        text, status = Client(app.url, verbose=False).predict("Once upon a time", api_name="/story", **greedy)
        assert text and text == client.predict("Once upon a time", api_name="/story", **greedy)[0]
        assert "12 tokens" in status
        with urllib.request.urlopen(app.url, timeout=10) as page:
            assert "static KV cache" in page.read().decode()
    finally:
        app.stop()


def test_share_says_why_and_keeps_serving_locally(tiny_model_dir, tmp_path):
    app = start_app(["--model", str(tiny_model_dir), "--engine", "simple", "--share"], tmp_path / "share.log")
    try:
        deadline = time.monotonic() + 60
        while "--share:" not in app.log() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert "no public share link could be created" in app.log()
        assert "serving locally" in app.log()
        assert app.process.poll() is None
        with urllib.request.urlopen(app.url, timeout=10) as response:
            assert response.status == 200
        assert Client(app.url, verbose=False).predict("Once", api_name="/story", **SMALL)[0]
    finally:
        app.stop()


def test_batched_engine_serves_concurrent_clients_in_one_batch(tiny_model_dir, tmp_path):
    """Four clients at once all stream before any finishes: they decode side by side, not in turn.

    With one event at a time (gradio's default concurrency, or the simple engine's lock) the
    fourth request's first text would come only after the first request ended.
    """
    args = ["--model", str(tiny_model_dir), "--engine", "batched", "--max-per-visitor", "4"]  # one address
    app = start_app(args, tmp_path / "batched.log")
    try:
        client = Client(app.url, verbose=False)
        prompts = ["Once upon a time", "The princess walked", "Every morning the baker", "A clever crow"]
        settings = {"max_new_tokens": 60, "temperature": 0.0, "repetition_penalty": 1.0}
        jobs = [client.submit(prompt, api_name="/story", **settings) for prompt in prompts]
        first_text_at, done_at = {}, {}  # job index -> poll round when it was first seen streaming / done
        for poll in itertools.count():
            for i, job in enumerate(jobs):
                if job.outputs() and i not in first_text_at:
                    first_text_at[i] = poll
                if job.done() and i not in done_at:
                    done_at[i] = poll
            if len(done_at) == len(jobs):
                break
            time.sleep(0.01)
        results = [job.result() for job in jobs]
        assert all(text for text, _ in results)
        assert all("60 tokens" in status and "finish: length" in status for _, status in results)
        assert max(first_text_at.values()) < min(done_at.values())  # all four were streaming at once
    finally:
        app.stop()
