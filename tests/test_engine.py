"""The batched engine on a real tiny Llama: batching must not change outputs, and slots must free up."""

from __future__ import annotations

import dataclasses
import random
import threading
import time

import pytest
from tiny import full_greedy_text

from nlg_assistant.backend import BusyError, GenerationError, GenerationTimeout, Prompt
from nlg_assistant.config import AppConfig, GenerationSettings
from nlg_assistant.engine import BUSY_MESSAGE, BatchedBackend
from nlg_assistant.generation import LocalBackend
from nlg_assistant.models import load_model

PROMPTS = [
    "Once upon a time",
    "The princess walked to the castle and opened the old wooden door.",
    "A",
    "Every morning the baker made bread, cakes and sweet buns for the town. The wind blew",
]
GREEDY = GenerationSettings(max_new_tokens=24, temperature=0.0, repetition_penalty=1.0)
# Penalties make the tiny model's greedy text vary, so a wrong row or position shows
PENALISED = GenerationSettings(
    max_new_tokens=24, temperature=0.0, repetition_penalty=1.3, no_repeat_ngram_size=2
)
LONG = GenerationSettings(max_new_tokens=200, temperature=0.0, repetition_penalty=1.0)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Two intra-op threads on a busy 2-core machine spin against each other; one keeps tests fast."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    return load_model(str(tiny_model_dir), "cpu")


@pytest.fixture
def engine(loaded):
    backend = BatchedBackend(loaded, max_batch_size=8, max_queue=16, timeout_s=30)
    yield backend
    backend.close()


def drain(stream):
    """Read a stream to its end; return it (texts in stream.result)."""
    for _ in stream:
        pass
    return stream


def run(backend, document: str, settings: GenerationSettings):
    """Start and drain one request; return its stream (texts in stream.result)."""
    return drain(backend.start(Prompt(document=document), settings))


def run_together(backend, documents, settings):
    """Start all requests before reading any, so they share the batch; return the streams."""
    streams = [backend.start(Prompt(document=d), settings) for d in documents]
    return [drain(stream) for stream in streams]


def wait_until(predicate, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.002)
    return False


@pytest.mark.parametrize("settings", [GREEDY, PENALISED], ids=["plain", "penalised"])
def test_batched_greedy_equals_single_and_generate(engine, loaded, settings):
    together = [s.result.texts[0] for s in run_together(engine, PROMPTS, settings)]
    assert engine.stats()["peak_rows"] >= 3  # they really decoded side by side
    alone = [run(engine, d, settings).result.texts[0] for d in PROMPTS]
    reference = [run(LocalBackend(loaded), d, settings).result.texts[0] for d in PROMPTS]
    assert together == alone == reference
    assert len(set(together)) == len(PROMPTS)  # really different sequences shared the batch


def test_answer_only_penalties_batched_equal_simple_and_differ_from_whole(engine, loaded):
    """A prompt with `penalise_prompt=False` (few-shot) decodes the same on both engines (penalty and
    2-gram ban), and differently from the whole-sequence rules (so the scope reaches the samplers)."""
    document = PROMPTS[1]
    settings = dataclasses.replace(PENALISED, repetition_penalty=1.8)
    scoped = Prompt(document=document, penalise_prompt=False)
    batched = drain(engine.start(scoped, settings)).result.texts[0]
    simple = drain(LocalBackend(loaded).start(scoped, settings)).result.texts[0]
    assert batched == simple
    assert batched != run(engine, document, settings).result.texts[0]


def test_copy_source_batched_equals_simple_and_changes_the_text(engine, loaded):
    """A prompt with a copy source decodes the same greedy text on both engines (the guide's bonus
    reaches both samplers), and, greedy or sampled, differs from the same prompt without one.
    (Sampled draws differ between the engines by design; test_sampling compares their distributions.)"""
    guided = Prompt(document=PROMPTS[1], penalise_prompt=False, copy_source=PROMPTS[1].split(".")[0])
    unguided = dataclasses.replace(guided, copy_source="")
    batched = drain(engine.start(guided, GREEDY)).result.texts[0]
    assert batched == drain(LocalBackend(loaded).start(guided, GREEDY)).result.texts[0]
    for settings in (GREEDY, dataclasses.replace(PENALISED, temperature=0.9, seed=4)):
        texts = [drain(engine.start(prompt, settings)).result.texts[0] for prompt in (guided, unguided)]
        assert texts[0] != texts[1]


class HeldScheduler:
    """Holds `backend`'s scheduler inside a prefill, so requests started meanwhile queue up together.

    A one-token request is started and its prefill waits in a forward hook until `release()`.
    `prefills` lists the (rows, length) of every multi-token forward pass after that one.
    """

    def __init__(self, backend, loaded) -> None:
        self.prefills: list[tuple[int, int]] = []
        self._held, self._release = threading.Event(), threading.Event()
        self._armed = True
        self._hook = loaded.model.get_input_embeddings().register_forward_pre_hook(self._on_forward)
        one_token = GenerationSettings(max_new_tokens=1, temperature=0.0)
        self.holder = backend.start(Prompt(document=PROMPTS[0]), one_token)
        assert self._held.wait(timeout=10), "the scheduler never ran a forward pass"

    def _on_forward(self, module, args) -> None:
        if self._armed:  # the holder's prefill: wait here
            self._armed = False
            self._held.set()
            self._release.wait(timeout=10)
        elif args[0].shape[1] > 1:
            self.prefills.append(tuple(args[0].shape))

    def release(self) -> None:
        self._release.set()

    def remove(self) -> None:
        self._release.set()
        self._hook.remove()


def test_requests_waiting_together_share_one_prefill_and_match_alone(engine, loaded):
    drafts = GenerationSettings(max_new_tokens=24, temperature=0.9, seed=5, num_drafts=2)
    jobs = [(d, GREEDY) for d in PROMPTS] + [(PROMPTS[1], PENALISED), (PROMPTS[3], drafts)]
    alone = [run(engine, d, settings).result.texts for d, settings in jobs]
    held = HeldScheduler(engine, loaded)
    try:
        streams = [engine.start(Prompt(document=d), settings) for d, settings in jobs]
        held.release()
        together = [drain(stream).result.texts for stream in streams]
    finally:
        held.remove()
    longest = max(stream.result.prompt_tokens for stream in streams)
    assert held.prefills == [(len(jobs), longest)]  # one left-padded prefill for all six
    assert together == alone  # mixed lengths, penalties, seeded drafts: same as one by one


def test_prefill_groups_keep_order_and_bound_padded_tokens():
    from types import SimpleNamespace

    from nlg_assistant.engine import _prefill_groups

    def requests(*lengths):
        return [SimpleNamespace(ids=[7] * n, n=n) for n in lengths]

    def sizes(groups):
        return [[request.n for request in group] for group in groups]

    assert sizes(_prefill_groups(requests(10, 12, 9), 2048)) == [[10, 12, 9]]
    # a long prompt would make the others' padding cost 3 x 1500 tokens: it goes alone
    assert sizes(_prefill_groups(requests(10, 10, 1500, 10), 2048)) == [[10, 10], [1500], [10]]
    assert sizes(_prefill_groups(requests(3000, 5), 2048)) == [[3000], [5]]  # over budget alone: it runs
    assert sizes(_prefill_groups(requests(1024, 1024), 2048)) == [[1024, 1024]]  # exactly the budget
    assert sizes(_prefill_groups(requests(*[100] * 30), 2048)) == [[100] * 20, [100] * 10]
    assert _prefill_groups([], 2048) == []


LAYERS = dict(num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=256)
ARCHITECTURES = {  # absolute learned positions (gpt2, opt) and rotary ones (qwen2, gpt_neox)
    "gpt2": dict(n_embd=64, n_layer=2, n_head=4, n_positions=256),
    "opt": dict(hidden_size=64, ffn_dim=128, word_embed_proj_dim=64, **LAYERS),
    "qwen2": dict(hidden_size=64, intermediate_size=128, num_key_value_heads=2, **LAYERS),
    "gpt_neox": dict(hidden_size=64, intermediate_size=128, **LAYERS),
}


def _tiny_model(folder, architecture: str):
    """A tiny random model of another architecture, with the tests' tokenizer, saved to `folder`."""
    import torch
    from tiny import train_tokenizer
    from transformers import AutoConfig, AutoModelForCausalLM

    tokenizer = train_tokenizer()
    config = AutoConfig.for_model(
        architecture,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **ARCHITECTURES[architecture],
    )
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_other_architectures_batch_like_generate(tmp_path, architecture):
    other = load_model(str(_tiny_model(tmp_path, architecture)), "cpu")
    backend = BatchedBackend(other, max_batch_size=8, timeout_s=30)
    held = HeldScheduler(backend, other)
    try:
        streams = [backend.start(Prompt(document=d), PENALISED) for d in PROMPTS]
        held.release()
        together = [drain(stream).result.texts[0] for stream in streams]
    finally:
        held.remove()
        backend.close()
    assert [rows for rows, _ in held.prefills] == [len(PROMPTS)]  # one joint prefill
    assert together == [run(LocalBackend(other), d, PENALISED).result.texts[0] for d in PROMPTS]


def test_padded_prefill_cache_equals_each_prompt_alone(loaded):
    import torch

    from nlg_assistant.kvcache import new_cache, padded_forward

    model = loaded.model
    prompts = [loaded.tokenizer(d)["input_ids"] for d in PROMPTS]
    width = max(map(len, prompts))
    with torch.inference_mode():
        joint = new_cache(model)
        out = padded_forward(model, prompts, joint)
        for row, ids in enumerate(prompts):
            alone = new_cache(model)
            reference = model(input_ids=torch.tensor([ids]), cache=alone, use_cache=True, logits_to_keep=1)
            torch.testing.assert_close(out.logits[row, -1], reference.logits[0, -1], rtol=1e-4, atol=1e-4)
            pad = width - len(ids)
            for mine, its in zip(joint.layers, alone.layers, strict=True):
                # rotary keys carry absolute positions: a shifted row would differ here
                torch.testing.assert_close(mine.keys[row, :, pad:], its.keys[0], rtol=1e-4, atol=1e-4)
                torch.testing.assert_close(mine.values[row, :, pad:], its.values[0], rtol=1e-4, atol=1e-4)
                assert not mine.keys[row, :, :pad].any() and not mine.values[row, :, :pad].any()


def test_a_failing_prompt_in_a_joint_prefill_fails_alone(engine, loaded):
    poison = loaded.tokenizer("Z", add_special_tokens=False)["input_ids"][0]
    alone = [run(engine, d, GREEDY).result.texts[0] for d in PROMPTS[:2]]

    def fail_on_poison(module, args):
        if args[0].shape[1] > 1 and (args[0] == poison).any():
            raise RuntimeError("injected fault in the forward pass")

    held = HeldScheduler(engine, loaded)
    hook = loaded.model.get_input_embeddings().register_forward_pre_hook(fail_on_poison)
    try:
        good = [engine.start(Prompt(document=d), GREEDY) for d in PROMPTS[:2]]
        bad = engine.start(Prompt(document="Z Z Z"), GREEDY)
        held.release()
        with pytest.raises(GenerationError, match="injected fault"):
            list(bad)
        texts = [drain(stream).result.texts[0] for stream in good]
    finally:
        hook.remove()
        held.remove()
    assert held.prefills[0][0] == 3  # they were tried together first
    assert texts == alone


def test_stream_chunks_add_up_to_result(engine):
    stream = engine.start(Prompt(document=PROMPTS[1]), PENALISED)
    text = "".join(chunk.text for chunk in stream)
    result = stream.result
    assert text == result.texts[0]
    assert list(stream) == [] and stream.result is result  # iterating again: nothing more, no wait
    assert result.finish_reason == "length" and result.generated_tokens == 24
    assert result.prompt_tokens > 0 and result.time_to_first_token_s > 0 and result.tokens_per_s > 0


def test_join_and_leave_mid_batch(engine):
    solo_long = run(engine, PROMPTS[0], LONG).result.texts[0]
    solo_short = run(engine, PROMPTS[3], PENALISED).result.texts[0]

    long_stream = engine.start(Prompt(document=PROMPTS[0]), LONG)
    long_iter = iter(long_stream)
    head = [next(long_iter).text for _ in range(5)]  # the long request is decoding
    short = run(engine, PROMPTS[3], PENALISED)  # joins, finishes and leaves
    assert wait_until(lambda: engine.stats()["rows"] == 1)  # the short one left within its last step
    assert long_stream.result is None  # the long one still runs
    rest = [chunk.text for chunk in long_iter]

    assert short.result.texts[0] == solo_short
    assert "".join(head + rest) == long_stream.result.texts[0] == solo_long
    assert wait_until(lambda: engine.stats()["cache_columns"] == 0)


def test_num_drafts_decode_as_separate_rows(engine):
    settings = GenerationSettings(max_new_tokens=12, temperature=1.0, num_drafts=3, seed=7)
    first = run(engine, PROMPTS[1], settings).result
    again = run_together(engine, [PROMPTS[1], PROMPTS[0]], settings)[0].result
    assert len(first.texts) == 3 and len(set(first.texts)) == 3  # three rows, each its own draft
    assert again.texts == first.texts
    assert 3 <= first.generated_tokens <= 36


def test_greedy_drafts_collapse_to_one_like_the_simple_engine(engine):
    settings = GenerationSettings(max_new_tokens=12, temperature=0.0, num_drafts=3, repetition_penalty=1.0)
    result = run(engine, PROMPTS[1], settings).result
    assert result.texts == run(engine, PROMPTS[1], GREEDY.capped(12)).result.texts
    assert result.notices  # the user is told why there is one draft


def test_sampling_with_a_seed_reproduces_alone_and_in_a_batch(engine):
    settings = GenerationSettings(max_new_tokens=20, temperature=1.0, top_k=40, top_p=0.9, seed=1234)
    alone = run(engine, PROMPTS[0], settings).result
    with_others = run_together(engine, [PROMPTS[1], PROMPTS[0], PROMPTS[2]], settings)[1].result
    other_seed = run(engine, PROMPTS[0], settings.with_seed(99)).result
    assert alone.texts == with_others.texts and alone.seed == 1234
    assert other_seed.texts != alone.texts


def test_random_seed_is_drawn_and_reported(engine):
    settings = GenerationSettings(max_new_tokens=5, temperature=0.8, seed=-1)
    first = run(engine, PROMPTS[0], settings).result
    assert first.seed >= 0
    again = run(engine, PROMPTS[0], settings.with_seed(first.seed)).result
    assert again.texts == first.texts


def test_cancel_frees_the_slot(loaded):
    backend = BatchedBackend(loaded, max_batch_size=1, max_queue=4, timeout_s=30)
    try:
        first = backend.start(Prompt(document=PROMPTS[0]), LONG)
        chunks = iter(first)
        next(chunks)
        waiting = backend.start(Prompt(document=PROMPTS[1]), GREEDY)  # no free row yet
        first.cancel()
        first.cancel()  # twice is fine
        assert "".join(c.text for c in waiting) == waiting.result.texts[0]
        assert waiting.result.finish_reason == "length"
        list(chunks)
        assert first.result.finish_reason == "stopped" and first.result.generated_tokens < 200
    finally:
        backend.close()


def test_abandoned_stream_frees_its_rows_within_a_step(engine, loaded):
    stream = engine.start(Prompt(document=PROMPTS[0]), LONG)
    chunks = iter(stream)
    next(chunks)
    assert wait_until(lambda: engine.stats()["rows"] == 1)  # it joins the batch right after its prefill
    inside, release, forwards = threading.Event(), threading.Event(), []

    def hold_first_forward(module, args):
        forwards.append(args[0].shape)
        if not inside.is_set():  # the scheduler waits here, inside a decode step
            inside.set()
            release.wait(timeout=10)

    hook = loaded.model.get_input_embeddings().register_forward_pre_hook(hold_first_forward)
    try:
        assert inside.wait(timeout=10)
        steps = engine.stats()["steps"]
        chunks.close()  # what happens when the browser goes away mid-stream
        release.set()
        assert wait_until(lambda: engine.stats()["rows"] == 0)
    finally:
        release.set()
        hook.remove()
    assert engine.stats()["steps"] == steps + 1  # only the step already running was finished
    assert len(forwards) == 1  # and no forward pass ran after it


def test_full_queue_raises_busy(loaded):
    backend = BatchedBackend(loaded, max_batch_size=1, max_queue=1, timeout_s=30)
    try:
        running = backend.start(Prompt(document=PROMPTS[0]), LONG)
        running_chunks = iter(running)  # kept: a dropped iterator cancels its request
        next(running_chunks)  # admitted: it holds the only row
        queued = backend.start(Prompt(document=PROMPTS[1]), LONG)
        with pytest.raises(BusyError, match=BUSY_MESSAGE):
            backend.start(Prompt(document=PROMPTS[2]), GREEDY)
        queued.cancel()
        running.cancel()
        assert wait_until(lambda: backend.stats()["waiting"] == 0 and backend.stats()["rows"] == 0)
        assert run(backend, PROMPTS[2], GREEDY).result.finish_reason == "length"  # accepted again
    finally:
        backend.close()


def test_waiting_too_long_times_out_and_leaves_the_queue(loaded):
    backend = BatchedBackend(loaded, max_batch_size=1, max_queue=4, timeout_s=0.05)
    try:
        running = backend.start(Prompt(document=PROMPTS[0]), LONG)
        running_chunks = iter(running)
        next(running_chunks)
        waiting = backend.start(Prompt(document=PROMPTS[1]), LONG)
        with pytest.raises(GenerationTimeout):
            list(waiting)
        running.cancel()
        assert wait_until(lambda: backend.stats()["waiting"] == 0 and backend.stats()["rows"] == 0)
    finally:
        backend.close()


def test_too_many_drafts_for_the_batch_is_a_clear_error(loaded):
    backend = BatchedBackend(loaded, max_batch_size=2)
    with pytest.raises(GenerationError, match="num_drafts"):
        backend.start(Prompt(document="x"), GenerationSettings(num_drafts=3))
    backend.close()


def test_cap_stop_string_and_long_prompt(loaded):
    backend = BatchedBackend(loaded, max_new_tokens_cap=5)
    try:
        capped = run(backend, PROMPTS[0], GenerationSettings(max_new_tokens=50, temperature=0.0))
        assert capped.result.generated_tokens == 5

        full = run(backend, PROMPTS[1], PENALISED.capped(5)).result.texts[0]
        stop = full[len(full) // 2 :][:2]
        stream = backend.start(Prompt(document=PROMPTS[1], stop=(stop,)), PENALISED.capped(5))
        streamed = "".join(c.text for c in stream)
        assert streamed == stream.result.texts[0] == full[: full.index(stop)]
        assert stream.result.finish_reason == "eos"

        long_prompt = " ".join(PROMPTS * 20)  # far beyond the tiny model's 256-token window
        result = run(backend, long_prompt, GenerationSettings(max_new_tokens=5, temperature=0.0)).result
        assert result.dropped_prompt_tokens > 0 and result.prompt_tokens == 256 - 5
    finally:
        backend.close()


def test_chat_template_is_used_for_messages(tiny_chat_model_dir):
    chat = load_model(str(tiny_chat_model_dir), "cpu")
    backend = BatchedBackend(chat)
    try:
        prompt = Prompt(document="ignored", messages=({"role": "user", "content": "Tell a story"},))
        batched = run(backend, "", GREEDY).result  # empty document: starts from BOS
        assert batched.prompt_tokens == 1
        via_chat = backend.start(prompt, GREEDY)
        list(via_chat)
        reference = LocalBackend(chat).start(prompt, GREEDY)
        list(reference)
        assert via_chat.result.texts == reference.result.texts
        assert via_chat.result.prompt_tokens == reference.result.prompt_tokens > 5
    finally:
        backend.close()


def test_prefill_error_goes_to_its_stream_only(engine, loaded):
    poison = loaded.tokenizer("Z", add_special_tokens=False)["input_ids"][0]

    def fail_on_poison(module, args):
        if args[0].shape[1] > 1 and (args[0] == poison).any():
            raise RuntimeError("injected fault in the forward pass")

    solo = run(engine, PROMPTS[0], LONG).result.texts[0]
    hook = loaded.model.model.embed_tokens.register_forward_pre_hook(fail_on_poison)
    try:
        healthy = engine.start(Prompt(document=PROMPTS[0]), LONG)
        chunks = iter(healthy)
        next(chunks)
        bad = engine.start(Prompt(document="Z Z Z"), GREEDY)
        with pytest.raises(GenerationError, match="injected fault"):
            list(bad)
        with pytest.raises(GenerationError, match="injected fault"):
            list(bad)  # again: the same error at once, not a wait for the timeout
        list(chunks)
    finally:
        hook.remove()
    assert healthy.result.texts[0] == solo


def test_a_failed_merge_ends_every_stream_and_the_engine_recovers(loaded, monkeypatch):
    engine = BatchedBackend(loaded, max_batch_size=8, timeout_s=30, eos_token_ids=())  # no early ends
    try:
        running = engine.start(Prompt(document=PROMPTS[0]), LONG)
        chunks = iter(running)
        next(chunks)
        assert wait_until(lambda: engine.stats()["rows"] == 1)  # merged (its first chunk comes before)
        batch_add = engine._batch.add

        def fail_once(rows, cache):
            monkeypatch.setattr(engine._batch, "add", batch_add)
            raise RuntimeError("injected fault while merging")

        monkeypatch.setattr(engine._batch, "add", fail_once)
        arriving = engine.start(Prompt(document=PROMPTS[1]), GREEDY)
        started = time.monotonic()
        with pytest.raises(GenerationError, match="injected fault while merging"):
            list(arriving)  # ends at once: no wait for the timeout
        with pytest.raises(GenerationError, match="injected fault while merging"):
            list(chunks)  # the batch may have been half-merged: it fails too
        assert time.monotonic() - started < 5
        assert wait_until(lambda: engine.stats()["rows"] == 0)
        assert run(engine, PROMPTS[2], GREEDY).result.generated_tokens == 24
    finally:
        engine.close()


def test_decode_error_fails_the_batch_and_the_scheduler_survives(engine, loaded):
    broken = threading.Event()

    def fail_decode(module, args):
        if broken.is_set() and args[0].shape[1] == 1:
            raise RuntimeError("injected decode fault")

    hook = loaded.model.model.embed_tokens.register_forward_pre_hook(fail_decode)
    try:
        streams = [engine.start(Prompt(document=d), LONG) for d in PROMPTS[:2]]
        first_chunks = iter(streams[0])
        next(first_chunks)
        broken.set()
        with pytest.raises(GenerationError, match="injected decode fault"):
            list(first_chunks)
        with pytest.raises(GenerationError, match="injected decode fault"):
            list(streams[1])
        broken.clear()
    finally:
        hook.remove()
    assert wait_until(lambda: engine.stats()["rows"] == 0)
    assert run(engine, PROMPTS[2], GREEDY).result.generated_tokens == 24
    assert engine.stats()["thread_alive"] == 1


def test_close_ends_streams_with_an_error(loaded):
    backend = BatchedBackend(loaded, max_batch_size=1)
    running = backend.start(Prompt(document=PROMPTS[0]), LONG)
    waiting = backend.start(Prompt(document=PROMPTS[1]), LONG)
    running_chunks = iter(running)
    next(running_chunks)
    backend.close()
    with pytest.raises(GenerationError, match="shut down"):
        list(running_chunks)
    with pytest.raises(GenerationError, match="shut down"):
        list(waiting)
    with pytest.raises(GenerationError, match="shut down"):
        backend.start(Prompt(document="x"), GREEDY)


def test_from_config_and_info(loaded):
    config = AppConfig(max_batch_size=3, max_queue=5, max_new_tokens_cap=7)
    backend = BatchedBackend.from_config(loaded, config)
    assert (backend.max_batch_size, backend.max_queue, backend.max_new_tokens_cap) == (3, 5, 7)
    assert backend.info.context_window == 256 and "batched" in backend.info.device
    assert backend.count_tokens("Once upon a time") > 0
    assert backend.stats()["thread_alive"] == 0  # started lazily by the first request
    backend.close()


def test_soak_with_random_cancels_leaks_nothing(loaded):
    baseline = threading.active_count()
    before = set(threading.enumerate())  # other tests' threads may come and go meanwhile
    backend = BatchedBackend(loaded, max_batch_size=6, max_queue=300, timeout_s=30)
    rng = random.Random(0)
    plans = [(rng.choice(PROMPTS), rng.randint(1, 16), rng.random() < 0.3) for _ in range(200)]
    finished = []

    def client(share):
        for document, tokens, cancel in share:
            settings = GenerationSettings(max_new_tokens=tokens, temperature=0.7, seed=tokens)
            stream = backend.start(Prompt(document=document), settings)
            chunks = iter(stream)
            for i, _ in enumerate(chunks):
                if cancel and i == 1:
                    chunks.close()  # abandoned mid-stream
                    break
            finished.append(stream)

    clients = [threading.Thread(target=client, args=(plans[i::8],)) for i in range(8)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(timeout=60)
    assert len(finished) == 200
    assert wait_until(lambda: backend.stats()["rows"] == 0 and backend.stats()["waiting"] == 0)
    assert backend.stats()["cache_columns"] == 0
    new_threads = set(threading.enumerate()) - before
    assert [t.name for t in new_threads] == ["nlg-batch-scheduler"]  # one thread, whatever the load
    backend.close()
    assert wait_until(lambda: not (set(threading.enumerate()) - before))
    assert threading.active_count() <= baseline


def test_top_k_one_and_tiny_top_p_sample_the_greedy_token(engine):
    greedy = run(engine, PROMPTS[1], PENALISED).result.texts
    for top_k, top_p in ((1, 1.0), (0, 0.0), (5, 0.0)):
        settings = GenerationSettings(
            max_new_tokens=24, temperature=1.5, top_k=top_k, top_p=top_p, repetition_penalty=1.3,
            no_repeat_ngram_size=2, seed=3,
        )  # fmt: skip
        assert run(engine, PROMPTS[1], settings).result.texts == greedy, (top_k, top_p)


def test_mixed_settings_share_a_batch(engine):
    """Greedy, penalised and sampled rows in one batch each keep their own settings."""
    sampled = GenerationSettings(max_new_tokens=24, temperature=0.9, top_k=0, top_p=1.0, seed=11)
    plans = [(PROMPTS[0], GREEDY), (PROMPTS[1], PENALISED), (PROMPTS[2], sampled), (PROMPTS[3], PENALISED)]
    alone = [run(engine, d, s).result.texts for d, s in plans]
    streams = [engine.start(Prompt(document=d), s) for d, s in plans]
    together = [drain(s).result.texts for s in streams]
    assert together == alone


def test_shipped_model_stream_joins_the_prompt_with_a_space(shipped_loaded):
    """The house model's sentencepiece tokenizer: the first streamed word keeps its leading space."""
    document = "Once upon a time there was"
    backend = BatchedBackend(shipped_loaded, max_batch_size=4, max_queue=4, timeout_s=60)
    try:
        streamed = run(backend, document, GREEDY).result.texts[0]
    finally:
        backend.close()
    assert streamed.startswith(" ")
    assert document + streamed == full_greedy_text(shipped_loaded, document, GREEDY.max_new_tokens)
