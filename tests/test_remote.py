"""OpenAIBackend against a real `transformers serve` on loopback, serving the tiny local models.

Each server is a subprocess pinned to one model folder (HF_HUB_OFFLINE=1, nothing downloaded).
Greedy and seeded outputs are compared with the same model run in this process, so the tests
check that settings really reach the server, not just that some text comes back.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nlg_assistant.backend import GenerationError, GenerationTimeout, Prompt, TokenBudget
from nlg_assistant.config import AppConfig, GenerationSettings
from nlg_assistant.prompts import build_fewshot, build_outline, build_section, build_story
from nlg_assistant.remote import OpenAIBackend, approx_tokens, normalize_base_url

pytestmark = pytest.mark.server

START_TIMEOUT_S = 90.0
GREEDY = GenerationSettings(max_new_tokens=24, temperature=0.0, repetition_penalty=1.0, seed=1)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """`transformers serve MODEL_DIR` on a free loopback port, its output in a log file."""

    def __init__(self, model_dir: Path, log_dir: Path) -> None:
        self.model_dir = str(model_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = log_dir / f"serve-{self.port}.log"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
        command = [sys.executable, "-m", "transformers.cli.transformers", "serve", self.model_dir]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--device", "cpu"]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self) -> None:
        """Block until /v1/models answers; fail with the server's log if it dies or takes too long."""
        import httpx2

        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"transformers serve exited:\n{self.log_tail()}")
            try:
                if httpx2.get(f"{self.url}/models", timeout=2).status_code == 200:
                    return
            except httpx2.HTTPError:
                time.sleep(0.25)
        self.stop()
        pytest.fail(f"transformers serve did not start in {START_TIMEOUT_S:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


@pytest.fixture(scope="module")
def servers(tiny_model_dir, tiny_chat_model_dir, tmp_path_factory):
    """(base-model server, chat-model server, a spare base-model server to kill), started side by side."""
    logs = tmp_path_factory.mktemp("serve_logs")
    trio = tuple(ServeProcess(d, logs) for d in (tiny_model_dir, tiny_chat_model_dir, tiny_model_dir))
    try:
        for server in trio:
            server.wait_ready()
        yield trio
    finally:
        for server in trio:
            server.stop()


@pytest.fixture(scope="module")
def base_backend(servers) -> OpenAIBackend:
    backend = OpenAIBackend(servers[0].url, servers[0].model_dir, timeout_s=30, max_new_tokens_cap=4096)
    backend.probe()
    return backend


@pytest.fixture(scope="module")
def chat_backend(servers) -> OpenAIBackend:
    backend = OpenAIBackend(servers[1].url, servers[1].model_dir, timeout_s=30, max_new_tokens_cap=4096)
    backend.probe()
    return backend


def local_continuation(model_dir: Path, document: str, settings: GenerationSettings) -> str:
    """The same model's continuation computed in this process (seeded like transformers serve)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    inputs = tokenizer(document, return_tensors="pt")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the servers run with OMP_NUM_THREADS=1: same float sums
    try:
        torch.manual_seed(settings.seed)
        output = model.generate(
            **inputs,
            max_new_tokens=settings.max_new_tokens,
            do_sample=not settings.greedy,
            temperature=settings.temperature if not settings.greedy else None,
            top_k=settings.top_k,
            top_p=settings.top_p,
            repetition_penalty=settings.repetition_penalty,
            no_repeat_ngram_size=settings.no_repeat_ngram_size,
        )
    finally:
        torch.set_num_threads(threads)
    return tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


def run(backend: OpenAIBackend, prompt: Prompt, settings: GenerationSettings):
    """Stream to the end; return (chunks, result)."""
    stream = backend.start(prompt, settings)
    chunks = list(stream)
    assert stream.result is not None
    return chunks, stream.result


# ----- pure helpers -----


def test_token_estimate_and_url_normalisation():
    assert approx_tokens("") == 1
    assert approx_tokens("x" * 400) == 101
    assert normalize_base_url("http://gpu-box:8000/") == "http://gpu-box:8000/v1"
    assert normalize_base_url("http://gpu-box:11434/v1/") == "http://gpu-box:11434/v1"


# ----- probing -----


def test_probe_reports_model_window_and_chat(base_backend, chat_backend, servers):
    base, chat = base_backend.info, chat_backend.info
    assert base.model_name == servers[0].model_dir
    assert base.device == "remote server"  # the host only with --show-backend-host
    assert base.chat is False  # no chat template: the server refuses chat requests
    assert chat.chat is True
    # transformers serve reports no window: the documented default is used and flagged.
    assert base.context_window == 4096 and not base_backend.context_window_reported


def test_from_config_picks_the_only_model_and_reads_the_key_variable(servers, monkeypatch):
    monkeypatch.setenv("NLG_TEST_KEY", "secret")
    config = AppConfig(backend="openai", base_url=servers[1].url, api_key_env="NLG_TEST_KEY")
    backend = OpenAIBackend.from_config(config)
    assert backend.info.model_name == servers[1].model_dir
    monkeypatch.delenv("NLG_TEST_KEY")
    with pytest.raises(GenerationError, match="NLG_TEST_KEY"):
        OpenAIBackend.from_config(config)


def test_unknown_model_is_named_with_what_the_server_serves(servers):
    config = AppConfig(backend="openai", base_url=servers[0].url, model="acme/no-such-model")
    with pytest.raises(GenerationError) as caught:
        OpenAIBackend.from_config(config)
    expected = "the model server has no model acme/no-such-model; it serves: "
    assert str(caught.value) == expected + servers[0].model_dir


# ----- generation matches the model -----


def test_greedy_completion_matches_the_model_run_here(base_backend, tiny_model_dir):
    prompt = build_story("Once upon a time there was a little fox", chat=False)
    chunks, result = run(base_backend, prompt, GREEDY)
    text = "".join(c.text for c in chunks)
    assert text == result.texts[0] == local_continuation(tiny_model_dir, prompt.document, GREEDY)
    assert {c.draft for c in chunks} == {0}
    assert result.finish_reason == "length" and result.generated_tokens == GREEDY.max_new_tokens
    assert result.time_to_first_token_s > 0 and result.tokens_per_s > 0
    assert f"prompt {result.prompt_tokens} tokens" in result.status_line()


def test_hf_only_settings_reach_transformers_serve(base_backend, tiny_model_dir):
    """top_k / repetition_penalty / no_repeat_ngram_size travel in generation_config, and change the text."""
    settings = GenerationSettings(
        max_new_tokens=24,
        temperature=0.9,
        top_k=20,
        top_p=0.9,
        repetition_penalty=1.5,
        no_repeat_ngram_size=2,
        seed=1234,
    )
    prompt = Prompt(document="The princess walked to the castle")
    chunks, result = run(base_backend, prompt, settings)
    text = "".join(c.text for c in chunks)
    # transformers serve's streamer holds back an unfinished UTF-8 byte run at the very end.
    assert text == local_continuation(tiny_model_dir, prompt.document, settings).rstrip("\ufffd")
    assert text != local_continuation(tiny_model_dir, prompt.document, GREEDY)
    assert not [n for n in result.notices if "ignored" in n]
    assert result.seed == 1234


def test_a_copy_source_is_not_sent_and_a_notice_says_so(base_backend, tiny_model_dir):
    """The copy guide runs in the local engines only: a remote server writes as without it, and says so."""
    prompt = Prompt(document="Input: the fox ran\nOutput:", penalise_prompt=False, copy_source="the fox ran")
    chunks, result = run(base_backend, prompt, GREEDY)
    assert "".join(c.text for c in chunks) == local_continuation(tiny_model_dir, prompt.document, GREEDY)
    assert [n for n in result.notices if "local models only" in n]
    _, plain = run(base_backend, Prompt(document=prompt.document), GREEDY)
    assert not [n for n in plain.notices if "local models only" in n]


def test_max_new_tokens_cap_holds_whatever_the_request_asks(servers, tiny_model_dir):
    """A request for 24 tokens through a backend capped at 5 gets the model's first 5, from the server."""
    capped = OpenAIBackend(servers[0].url, servers[0].model_dir, timeout_s=30, max_new_tokens_cap=5)
    prompt = Prompt(document="Once upon a time there was a little fox")
    _, result = run(capped, prompt, GREEDY)
    assert result.texts[0] == local_continuation(tiny_model_dir, prompt.document, GREEDY.capped(5))
    assert result.generated_tokens == 5 and result.finish_reason == "length"
    assert result.texts[0] != local_continuation(tiny_model_dir, prompt.document, GREEDY)


def test_sampling_with_no_hf_extras_still_samples(servers, tiny_model_dir):
    """transformers serve samples only with do_sample: a fresh backend must find that out itself."""
    backend = OpenAIBackend(servers[0].url, servers[0].model_dir, timeout_s=30)  # nothing learned yet
    settings = GenerationSettings(
        max_new_tokens=24, temperature=1.0, top_k=0, top_p=1.0, repetition_penalty=1.0, seed=77
    )
    prompt = Prompt(document="The wind blew over the hills")
    _, result = run(backend, prompt, settings)
    sampled = local_continuation(tiny_model_dir, prompt.document, settings).rstrip("\ufffd")
    assert result.texts[0] == sampled
    assert sampled != local_continuation(tiny_model_dir, prompt.document, GREEDY)


def test_seed_reproduces_and_minus_one_is_resolved(base_backend):
    prompt = Prompt(document="Every morning the baker")
    settings = GenerationSettings(max_new_tokens=16, temperature=1.0, seed=-1)
    _, first = run(base_backend, prompt, settings)
    assert first.seed >= 0
    _, again = run(base_backend, prompt, settings.with_seed(first.seed))
    assert again.texts == first.texts


def test_stop_string_is_cut_here_even_across_chunks(base_backend):
    settings = GenerationSettings(max_new_tokens=40, temperature=1.0, top_k=0, seed=99)
    _, full = run(base_backend, Prompt(document="A clever crow"), settings)
    text = full.texts[0]
    start = next(i for i in range(4, len(text) - 3) if text[i : i + 3].isascii() and text[i : i + 3].strip())
    stop = text[start : start + 3]
    chunks, cut = run(base_backend, Prompt(document="A clever crow", stop=(stop,)), settings)
    assert cut.texts[0] == text[: text.find(stop)] == "".join(c.text for c in chunks)
    assert cut.finish_reason == "eos"


def test_two_drafts_stream_separately(chat_backend):
    settings = GenerationSettings(max_new_tokens=12, temperature=1.0, num_drafts=2, seed=5)
    prompt = build_story("The wind blew over the hills", chat=True)
    chunks, result = run(chat_backend, prompt, settings)
    assert {c.draft for c in chunks} == {0, 1}
    for draft in (0, 1):
        assert "".join(c.text for c in chunks if c.draft == draft) == result.texts[draft]
    # Both drafts' usage was reported (a draft may end early at EOS, so no exact total).
    assert 2 <= result.generated_tokens <= 24
    assert not [n for n in result.notices if "estimated" in n]


TAB_PROMPTS = {
    "story": lambda b, chat: build_story("The door creaked open.", "Mara, a locksmith.", "", b, chat=chat),
    "outline": lambda b, chat: build_outline("Urban beekeeping", budget=b, chat=chat),
    "section": lambda b, chat: build_section("Bread", "1. History\n2. Baking", 1, budget=b, chat=chat),
    "fewshot": lambda b, chat: build_fewshot(
        [("hey can u send it", "Could you please send it?"), ("gimme that", "Please give me that.")],
        "u coming?",
        "Rewrite formally.",
        b,
        chat=chat,
    ),
}


def sent_prompt_tokens(model_dir: Path, prompt: Prompt, chat: bool) -> int:
    """How many tokens the server must have seen for `prompt` in the form the backend chose."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if chat:
        return len(
            tokenizer.apply_chat_template(list(prompt.messages), add_generation_prompt=True)["input_ids"]
        )
    return len(tokenizer(prompt.document)["input_ids"])


@pytest.mark.parametrize("tab", sorted(TAB_PROMPTS))
@pytest.mark.parametrize("kind", ["base", "chat"])
def test_each_tab_prompt_streams(tab, kind, base_backend, chat_backend, tiny_model_dir, tiny_chat_model_dir):
    backend, model_dir = (
        (base_backend, tiny_model_dir) if kind == "base" else (chat_backend, tiny_chat_model_dir)
    )
    budget = TokenBudget(backend.count_tokens, backend.info.context_window - 64)
    prompt = TAB_PROMPTS[tab](budget, backend.info.chat)
    chunks, result = run(backend, prompt, GenerationSettings(max_new_tokens=20, seed=3))
    text = "".join(c.text for c in chunks)
    assert text == result.texts[0]
    assert not any(stop in text for stop in prompt.stop)
    assert result.finish_reason in ("eos", "length")
    assert 0 < result.generated_tokens <= 20
    # The usage the server reports proves which form went out: document (base) or chat turns.
    assert result.prompt_tokens == sent_prompt_tokens(model_dir, prompt, chat=kind == "chat")


# ----- Stop, failures, no hangs -----


def test_stop_from_another_thread_ends_the_stream(chat_backend):
    stream = chat_backend.start(
        build_story("Once upon a time", chat=True), GenerationSettings(max_new_tokens=2000, seed=1)
    )
    first = threading.Event()
    stopper = threading.Thread(target=lambda: first.wait(10) and stream.cancel())
    stopper.start()
    started = time.monotonic()
    for _chunk in stream:
        first.set()
    stopper.join(5)
    assert time.monotonic() - started < 5
    assert stream.result.finish_reason == "stopped"
    assert 0 < stream.result.generated_tokens < 2000
    stream.cancel()  # a second cancel after the end is harmless
    _, after = run(chat_backend, Prompt(document="Hi"), GREEDY)  # the server still serves
    assert after.finish_reason in ("eos", "length")


def test_server_not_running_is_a_clear_error_without_hanging():
    url = f"http://127.0.0.1:{free_port()}/v1"
    backend = OpenAIBackend.from_config(AppConfig(backend="openai", base_url=url, model="m"))
    started = time.monotonic()
    with pytest.raises(GenerationError) as caught:
        backend.start(Prompt(document="Hi"), GREEDY)
    assert str(caught.value) == "cannot reach the model server — is it running?"
    assert time.monotonic() - started < 10


def test_silent_server_times_out():
    with socket.socket() as silent:  # accepts connections (kernel backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        backend = OpenAIBackend(f"http://127.0.0.1:{silent.getsockname()[1]}/v1", "m", timeout_s=1.0)
        started = time.monotonic()
        with pytest.raises(GenerationTimeout, match="sent nothing for 1 s"):
            backend.start(Prompt(document="Hi"), GREEDY)
        assert time.monotonic() - started < 8


def test_server_killed_mid_stream_raises_and_does_not_hang(servers):
    server = servers[2]  # started for this test only
    backend = OpenAIBackend(server.url, server.model_dir, timeout_s=30, max_new_tokens_cap=4096)
    stream = backend.start(Prompt(document="Once"), GenerationSettings(max_new_tokens=4000, seed=2))
    received = []
    started = time.monotonic()
    with pytest.raises(GenerationError, match="the model server") as caught:
        for chunk in stream:
            received.append(chunk)
            if len(received) == 3:
                server.stop()
    assert time.monotonic() - started < 20
    assert len(received) < 4000 and stream.result.finish_reason == "stopped"
    # Usually the half-sent chunked body breaks; a clean end with no finish reason is also caught.
    assert "broke mid-answer" in str(caught.value) or "without saying why" in str(caught.value)


HOUSE_MODEL = Path(__file__).resolve().parent.parent / "assets" / "models" / "storyteller"


@pytest.mark.slow
@pytest.mark.skipif(
    not (HOUSE_MODEL / "config.json").exists(), reason="assets/models/storyteller not built yet"
)
def test_house_model_served_by_transformers_serve(tmp_path):
    server = ServeProcess(HOUSE_MODEL, tmp_path)
    try:
        server.wait_ready()
        backend = OpenAIBackend.from_config(
            AppConfig(backend="openai", base_url=server.url, model=str(HOUSE_MODEL), request_timeout_s=60)
        )
        prompt = build_story("The door creaked open.", chat=backend.info.chat)
        chunks, result = run(backend, prompt, GenerationSettings(max_new_tokens=30, seed=4))
        assert "".join(c.text for c in chunks) == result.texts[0]
        assert result.texts[0].strip() and 0 < result.generated_tokens <= 30
        assert result.finish_reason in ("eos", "length")
    finally:
        server.stop()


def test_the_cli_streams_through_a_real_server(servers) -> None:
    """`python -m nlg_assistant --backend openai` builds its backend like the app (factory.py)."""
    import sys

    command = [
        sys.executable, "-m", "nlg_assistant", "story", "Once upon a time", "--backend", "openai",
        "--base-url", servers[0].url, "--model", str(servers[0].model_dir),
        "--max-new-tokens", "6", "--seed", "3",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() and "finish:" in done.stderr


def test_every_task_runs_through_a_real_server(base_backend, chat_backend) -> None:
    from nlg_assistant.tasks import TASKS

    main_text = {"story": "Once upon a time", "fewshot": "bye"}
    extra = {"fewshot": {"examples_json": '[["hi", "Hello."], ["thx", "Thank you."]]'}}
    settings = GenerationSettings(max_new_tokens=8, seed=2)
    for backend in (base_backend, chat_backend):
        for task in TASKS:
            values = {
                task.fields[0].name: main_text.get(task.name, "Urban beekeeping"),
                **extra.get(task.name, {}),
            }
            final = list(task.run(backend, settings, **values))[-1]
            assert final.result is not None, (task.name, backend.info.chat)
