"""Tests for nlg_assistant.generation: streaming from the tiny local models with real forward passes."""

from __future__ import annotations

import copy
import dataclasses
import queue
import threading
import time

import pytest
import torch
from tiny import full_greedy_text, greedy_ids
from transformers import GenerationConfig, LlamaForCausalLM

from nlg_assistant.backend import Chunk, GenerationError, GenerationTimeout, Prompt
from nlg_assistant.config import GenerationSettings
from nlg_assistant.decoding import DraftDecoder, StreamEnd, copy_forms, source_ids
from nlg_assistant.generation import (
    LocalBackend,
    _BatchStreamer,
    build_generation_config,
    static_cache_length,
)
from nlg_assistant.models import load_model
from nlg_assistant.prompts import PRESETS, build_fewshot

GREEDY = GenerationSettings(max_new_tokens=24, temperature=0.0, repetition_penalty=1.0)
SAMPLED = GenerationSettings(max_new_tokens=16, temperature=1.0, top_k=0, top_p=1.0, num_drafts=3, seed=11)


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    return load_model(str(tiny_model_dir), "cpu")


@pytest.fixture(scope="module")
def chat_loaded(tiny_chat_model_dir):
    return load_model(str(tiny_chat_model_dir), "cpu")


@pytest.fixture(scope="module")
def backend(loaded):
    return LocalBackend(loaded)


def collect(stream) -> dict[int, str]:
    """Concatenate streamed chunks per draft index."""
    texts: dict[int, str] = {}
    for chunk in stream:
        assert isinstance(chunk, Chunk) and chunk.text
        texts[chunk.draft] = texts.get(chunk.draft, "") + chunk.text
    return texts


def reference_greedy(loaded, ids: list[int], max_new_tokens: int) -> tuple[str, int]:
    """Plain `model.generate` greedy output (text, new token count) for the same prompt ids."""
    new = greedy_ids(loaded, ids, max_new_tokens)[len(ids) :]
    text = loaded.tokenizer.decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    return text, len(new)


@pytest.mark.parametrize("document", ["Once upon a time", "The princess walked", "A clever crow found"])
def test_streamed_greedy_equals_generate(loaded, backend, document) -> None:
    stream = backend.start(Prompt(document=document), GREEDY)
    texts = collect(stream)
    expected, new_tokens = reference_greedy(loaded, loaded.tokenizer(document)["input_ids"], 24)
    assert texts.get(0, "") == expected == stream.result.texts[0]
    assert stream.result.generated_tokens == new_tokens
    assert stream.result.finish_reason == ("length" if new_tokens == 24 else "eos")
    assert stream.result.prompt_tokens == len(loaded.tokenizer(document)["input_ids"])
    assert stream.result.time_to_first_token_s > 0 and stream.result.tokens_per_s > 0


def test_sampled_drafts_are_reproducible_and_indexed(backend) -> None:
    prompt = Prompt(document="Every morning the baker")
    first, second = backend.start(prompt, SAMPLED), backend.start(prompt, SAMPLED)
    texts_a, texts_b = collect(first), collect(second)
    assert set(texts_a) == {0, 1, 2}
    assert texts_a == texts_b
    assert tuple(texts_a[i] for i in range(3)) == first.result.texts
    assert len(set(first.result.texts)) > 1  # drafts are sampled independently
    assert first.result.seed == 11 and first.result.generated_tokens <= 3 * 16


def test_different_seeds_differ_and_random_seed_is_reported(backend) -> None:
    prompt = Prompt(document="The wind blew")
    settings = dataclasses.replace(SAMPLED, num_drafts=1, max_new_tokens=20)
    texts = {seed: collect(backend.start(prompt, settings.with_seed(seed)))[0] for seed in (1, 2, 3)}
    assert len(set(texts.values())) > 1
    stream = backend.start(prompt, settings.with_seed(-1))
    drawn = collect(stream)
    assert stream.result.seed >= 0
    assert collect(backend.start(prompt, settings.with_seed(stream.result.seed))) == drawn


def test_generation_config_is_explicit() -> None:
    greedy = build_generation_config(GREEDY, [2], 3)
    assert greedy.do_sample is False and greedy.temperature == 1.0 and greedy.top_p == 1.0
    sampled = build_generation_config(dataclasses.replace(SAMPLED, top_k=0), [2, 5], 3)
    assert sampled.do_sample is True and sampled.top_k == 0 and sampled.temperature == 1.0
    assert sampled.num_return_sequences == 3 and sampled.eos_token_id == [2, 5] and sampled.pad_token_id == 3


@pytest.mark.parametrize("settings", [GREEDY, SAMPLED], ids=["greedy", "sampled"])
def test_model_sampling_defaults_neither_leak_in_nor_warn(settings) -> None:
    """generate fills unset values from the model's generation_config.json and validates the result:
    with the house model's defaults (temperature 0.8, top_p 0.95), a greedy request used to log
    "generation flags are not valid and may be ignored: ['temperature', 'top_p']"."""
    model_defaults = GenerationConfig(do_sample=True, temperature=0.8, top_k=20, top_p=0.95)
    config = build_generation_config(settings, [2], 3, model_defaults)
    config.update(**model_defaults.to_dict(), defaults_only=True)  # what generate does with unset values
    config.validate(strict=True)  # raises on any "not valid and may be ignored" flag
    kept = (config.do_sample, config.temperature, config.top_k, config.top_p)
    assert kept == ((False, 1.0, 50, 1.0) if settings.greedy else (True, 1.0, 0, 1.0))


def test_static_cache_length_is_a_power_of_two_within_the_window() -> None:
    assert static_cache_length(10, 4096) == 256
    assert static_cache_length(256, 4096) == 256
    assert static_cache_length(257, 4096) == 512
    assert static_cache_length(3000, 4096) == 4096  # capped at the window
    assert static_cache_length(4096, 4096) == 4096
    assert static_cache_length(100, 128) == 128  # a window under the smallest size


PENALISED = GenerationSettings(
    max_new_tokens=24, temperature=0.0, repetition_penalty=1.3, no_repeat_ngram_size=3
)


@pytest.mark.parametrize("settings", [GREEDY, PENALISED, SAMPLED], ids=["greedy", "penalised", "drafts"])
def test_static_cache_writes_what_the_dynamic_cache_writes(loaded, backend, settings) -> None:
    """`--static-cache` (the batch-1 latency path) changes the cache, not the text."""
    static = LocalBackend(loaded, static_cache=True)
    prompt = Prompt(document="Once upon a time")
    caches: set[str] = set()  # the cache each forward pass gets

    def record(module, args, kwargs) -> None:
        caches.add(type(kwargs.get("cache", kwargs.get("past_key_values"))).__name__)

    hook = loaded.model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        static_texts = collect(static.start(prompt, settings))
    finally:
        hook.remove()
    assert caches == {"StaticCache"}
    assert static_texts == collect(backend.start(prompt, settings))
    job = static._prepare(prompt, settings)
    needed = len(job.prepared.ids) + settings.max_new_tokens
    assert job.config.cache_implementation == "static"
    assert job.config.max_cache_len == static_cache_length(needed, loaded.context_window)
    assert backend._prepare(prompt, settings).config.cache_implementation is None
    assert static.info.device == "cpu (float32), static KV cache"  # no compile on CPU, and it says so


def test_end_ids_can_be_replaced(loaded) -> None:
    document = "Once upon a time"
    ids = loaded.tokenizer(document)["input_ids"]
    first = greedy_ids(loaded, ids, 1)[-1]
    stream = LocalBackend(loaded, eos_token_ids=[first]).start(Prompt(document=document), GREEDY)
    collect(stream)
    assert stream.result.finish_reason == "eos" and stream.result.generated_tokens == 1


class SlowLlama(LlamaForCausalLM):
    """The real tiny Llama, with a delay and a call counter on every forward pass."""

    delay_s = 0.02
    calls = 0

    def forward(self, *args, **kwargs):
        type(self).calls += 1
        time.sleep(self.delay_s)
        return super().forward(*args, **kwargs)


class BrokenLlama(LlamaForCausalLM):
    """The real tiny Llama whose forward pass fails, as a model bug or device error would."""

    def forward(self, *args, **kwargs):
        raise RuntimeError("boom in forward")


def backend_with(loaded, model_class, tiny_model_dir, timeout_s: float = 300.0) -> LocalBackend:
    model = model_class.from_pretrained(tiny_model_dir).eval()
    return LocalBackend(dataclasses.replace(loaded, model=model), timeout_s=timeout_s)


def test_cancel_from_another_thread_stops_within_a_step(loaded, tiny_model_dir) -> None:
    slow = backend_with(loaded, SlowLlama, tiny_model_dir)
    stream = slow.start(Prompt(document="Once upon a time"), dataclasses.replace(GREEDY, max_new_tokens=200))
    chunks = iter(stream)
    next(chunks)
    calls_at_cancel = SlowLlama.calls
    canceller = threading.Thread(target=stream.cancel)
    canceller.start()
    canceller.join()
    list(chunks)
    assert SlowLlama.calls <= calls_at_cancel + 1  # at most the step already running
    assert stream.result.finish_reason == "stopped"
    assert stream.result.generated_tokens < 20
    stream.cancel()  # twice, and after the end: harmless
    assert stream.result.finish_reason == "stopped"


def test_leaving_the_loop_early_frees_the_model(loaded, tiny_model_dir) -> None:
    slow = backend_with(loaded, SlowLlama, tiny_model_dir)
    prompt = Prompt(document="Once upon a time")
    for _chunk in slow.start(prompt, dataclasses.replace(GREEDY, max_new_tokens=200)):
        break  # the generator closes, which cancels the request
    calls_at_close = SlowLlama.calls
    follow_up = slow.start(prompt, dataclasses.replace(GREEDY, max_new_tokens=3))
    collect(follow_up)
    assert follow_up.result.finish_reason in ("length", "eos")
    # the step running at the close, then the follow-up's 3 tokens: the 200-token request stopped
    assert SlowLlama.calls - calls_at_close <= 1 + 3


def test_worker_exception_is_reraised(loaded, tiny_model_dir) -> None:
    broken = backend_with(loaded, BrokenLlama, tiny_model_dir)
    stream = broken.start(Prompt(document="Once upon a time"), GREEDY)
    with pytest.raises(GenerationError, match="boom in forward") as info:
        collect(stream)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_timeout_raises_and_does_not_hang(loaded, tiny_model_dir) -> None:
    slow = backend_with(loaded, SlowLlama, tiny_model_dir, timeout_s=0.2)
    slow.loaded.model.delay_s = 1.0
    started = time.perf_counter()
    stream = slow.start(Prompt(document="Once upon a time"), dataclasses.replace(GREEDY, max_new_tokens=3))
    with pytest.raises(GenerationTimeout):
        collect(stream)
    assert time.perf_counter() - started < 1.0


def test_long_prompt_is_trimmed_from_the_left(loaded, backend) -> None:
    document = " ".join(["The wind blew over the hills."] * 60)
    total = len(loaded.tokenizer(document)["input_ids"])
    stream = backend.start(Prompt(document=document), dataclasses.replace(GREEDY, max_new_tokens=20))
    collect(stream)
    assert total > 256
    assert stream.result.prompt_tokens == 256 - 20
    assert stream.result.dropped_prompt_tokens == total - (256 - 20)
    assert "left out" in stream.result.status_line()


def test_too_many_new_tokens_for_the_window_are_lowered(backend) -> None:
    stream = backend.start(Prompt(document="Hi"), dataclasses.replace(GREEDY, max_new_tokens=300))
    collect(stream)
    assert stream.result.generated_tokens <= 128
    assert any("lowered" in notice for notice in stream.result.notices)


def test_stop_string_cuts_the_output(backend) -> None:
    prompt = Prompt(document="Once upon a time")
    full = collect(backend.start(prompt, GREEDY))[0]
    stop = full[7:10]
    cut = full[: full.find(stop)]
    stream = backend.start(dataclasses.replace(prompt, stop=(stop, "never-appears")), GREEDY)
    assert collect(stream).get(0, "") == cut == stream.result.texts[0]
    assert stream.result.finish_reason == "eos"
    assert stream.result.generated_tokens < 24


def test_chat_template_used_when_present(chat_loaded) -> None:
    messages = ({"role": "user", "content": "Tell me about the fox."},)
    prompt = Prompt(document="The fox", messages=messages)
    stream = LocalBackend(chat_loaded).start(prompt, GREEDY)
    texts = collect(stream)
    templated = chat_loaded.tokenizer.apply_chat_template(
        list(messages), add_generation_prompt=True, tokenize=False
    )
    assert templated.endswith("<|assistant|>\n")
    ids = chat_loaded.tokenizer(templated, add_special_tokens=False)["input_ids"]
    assert stream.result.prompt_tokens == len(ids)
    assert texts.get(0, "") == reference_greedy(chat_loaded, ids, 24)[0]


def test_chat_template_that_rejects_messages_falls_back_to_document(chat_loaded) -> None:
    tokenizer = copy.deepcopy(chat_loaded.tokenizer)
    tokenizer.chat_template = "{{ raise_exception('System role not supported') }}"
    backend = LocalBackend(dataclasses.replace(chat_loaded, tokenizer=tokenizer))
    prompt = Prompt(document="The fox", messages=({"role": "system", "content": "Be brief."},))
    stream = backend.start(prompt, dataclasses.replace(GREEDY, max_new_tokens=3))
    collect(stream)
    assert stream.result.prompt_tokens == len(tokenizer("The fox")["input_ids"])
    assert any("System role not supported" in notice for notice in stream.result.notices)


def test_document_used_without_chat_template(loaded, backend) -> None:
    prompt = Prompt(document="The fox", messages=({"role": "user", "content": "Tell me about the fox."},))
    stream = backend.start(prompt, GREEDY)
    collect(stream)
    assert stream.result.prompt_tokens == len(loaded.tokenizer("The fox")["input_ids"])


def sentencepiece_style_tokenizer():
    """A Llama-2-style tokenizer: '▁' for spaces, byte fallback for CJK/emoji, leading space stripped."""
    from tokenizers import Tokenizer, decoders, models, normalizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2} | {f"<0x{b:02X}>": 3 + b for b in range(256)}
    for char in ["▁", *map(chr, range(33, 127)), "▁f", "ox", "▁fox"]:
        vocab.setdefault(char, len(vocab))
    merges = [("▁", "f"), ("o", "x"), ("▁f", "ox")]
    bpe = models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True)
    tok = Tokenizer(bpe)
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def test_first_word_keeps_its_space_after_the_prompt() -> None:
    """Sentencepiece decoders strip the first token's leading space; the prompt's last id prevents it."""
    tokenizer = sentencepiece_style_tokenizer()
    prompt_ids = tokenizer("the", add_special_tokens=True)["input_ids"]
    new_ids = tokenizer("the fox and ox", add_special_tokens=True)["input_ids"][len(prompt_ids) :]
    decoder = DraftDecoder(tokenizer, (), prompt_ids)
    streamed = "".join(decoder.add(i) for i in new_ids) + decoder.finish("length")
    assert streamed == " fox and ox"
    assert DraftDecoder(tokenizer, ()).add(new_ids[0]) == "fox"  # no prompt: nothing to separate from


def test_shipped_model_stream_joins_the_prompt_with_a_space(shipped_loaded) -> None:
    document = "Once upon a time there was"
    stream = LocalBackend(shipped_loaded).start(Prompt(document=document), GREEDY)
    streamed = "".join(collect(stream).values())
    assert streamed.startswith(" ")
    assert document + streamed == full_greedy_text(shipped_loaded, document, GREEDY.max_new_tokens)


ROUND_TRIP_TEXTS = [
    "雪が降る。狐は森に住んでいた",
    "fox 🦊 and 👩‍👩‍👧 family 🎉!",
    "tab\there\nnew line\x07bell é è",
]


@pytest.mark.parametrize("style", ["byte-level", "sentencepiece"])
@pytest.mark.parametrize("text", ROUND_TRIP_TEXTS)
def test_multibyte_and_control_text_round_trips_through_the_streamer(loaded, style, text) -> None:
    """Real tokenizer ids of `text`, fed one per step as generate does: no split characters."""
    tokenizer = loaded.tokenizer if style == "byte-level" else sentencepiece_style_tokenizer()
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) > len(text) / 2  # these characters take several (byte) tokens each
    sink: queue.Queue = queue.Queue()
    streamer = _BatchStreamer([DraftDecoder(tokenizer, ())], {tokenizer.eos_token_id}, sink)
    streamer.put(torch.tensor([[1, 2, 3]]))  # the prompt comes first
    for token_id in ids:
        streamer.put(torch.tensor([token_id]))
    streamer.end()
    chunks = []
    while not isinstance(item := sink.get_nowait(), StreamEnd):
        chunks.append(item.text)
    assert "".join(chunks) == text
    assert not any("\ufffd" in chunk for chunk in chunks)


def test_stop_string_prefix_is_held_back_until_resolved(loaded) -> None:
    tokenizer = loaded.tokenizer
    decoder = DraftDecoder(tokenizer, ("\n###",))
    ids = tokenizer("story\n## more\n### Input", add_special_tokens=False)["input_ids"]
    pieces = [decoder.add(i) for i in ids]
    pieces.append(decoder.finish("length"))
    assert "".join(pieces) == "story\n## more"
    assert decoder.reason == "eos"


def test_streamer_ends_a_draft_at_eos_and_ignores_its_padding(loaded) -> None:
    tokenizer = loaded.tokenizer
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    a, b = tokenizer("fox", add_special_tokens=False)["input_ids"][:1] * 2
    sink: queue.Queue = queue.Queue()
    decoders = [DraftDecoder(tokenizer, ()) for _ in range(2)]
    streamer = _BatchStreamer(decoders, {eos}, sink)
    streamer.put(torch.tensor([[1, 2], [1, 2]]))  # the prompt, once per draft
    for step in ([a, a], [b, eos], [a, pad], [b, pad]):  # generate pads rows that ended
        streamer.put(torch.tensor(step))
    streamer.end()
    assert [d.tokens for d in decoders] == [4, 2]
    assert [d.reason for d in decoders] == ["length", "eos"]
    assert decoders[1].text == tokenizer.decode([a])


def test_info_and_token_count(loaded, backend) -> None:
    info = backend.info
    assert info.model_name == loaded.name and info.context_window == 256 and info.chat is False
    assert info.device.startswith("cpu")
    assert backend.count_tokens("Once upon a time") == len(loaded.tokenizer("Once upon a time")["input_ids"])
    assert backend.count_tokens("") == 0


def test_second_iteration_after_the_end_is_empty(backend) -> None:
    stream = backend.start(Prompt(document="Once"), dataclasses.replace(GREEDY, max_new_tokens=2))
    collect(stream)
    assert list(stream) == [] and stream.result is not None


def test_greedy_with_several_drafts_writes_one(backend) -> None:
    settings = dataclasses.replace(GREEDY, max_new_tokens=4, num_drafts=3)
    stream = backend.start(Prompt(document="Once"), settings)
    assert set(collect(stream)) == {0}
    assert len(stream.result.texts) == 1 and any("one draft" in n for n in stream.result.notices)


@pytest.mark.parametrize("message", ["u may go if u wish", "hey, can u send it?", "ps 2) orpingtons 217"])
def test_copy_source_ids_are_the_input_as_tokenized_in_place(shipped_loaded, message) -> None:
    """The copy guide's ids: the input's own tokens where it stands in the few-shot prompt (the first
    word after a line break has no leading-space mark), through the token that ends its line."""
    tokenizer = shipped_loaded.tokenizer
    preset = PRESETS["Formal rewrite"]
    document = build_fewshot(preset.examples, message, preset.instruction, keep_words=True).document
    ids = list(source_ids(tokenizer, document, message))
    whole = tokenizer(document, add_special_tokens=False)["input_ids"]
    assert any(whole[i : i + len(ids)] == ids for i in range(len(whole)))  # a run of the prompt's ids
    assert tokenizer.decode(ids).strip() == message and tokenizer.decode(ids[-1:]).endswith("\n")
    assert ids[0] != tokenizer(message, add_special_tokens=False)["input_ids"][0]  # "u", not "▁u"


def test_copy_source_ids_fall_back_to_the_text_alone(loaded) -> None:
    tokenizer = loaded.tokenizer
    alone = tuple(tokenizer("not in it", add_special_tokens=False)["input_ids"])
    assert source_ids(tokenizer, "Some document.", "not in it") == alone
    assert source_ids(tokenizer, "Some document.", "  ") == ()


def test_a_prompts_copy_source_reaches_the_prepared_prompt(loaded, backend) -> None:
    document = "Input: the fox ran\nOutput:"
    prepared = backend.prepare_prompt(Prompt(document=document, copy_source="the fox ran"), GREEDY)
    assert prepared.copy_index.forms == copy_forms(loaded.tokenizer, document, "the fox ran")
    assert prepared.copy_index.forms and prepared.own_processors
    assert backend.prepare_prompt(Prompt(document=document), GREEDY).copy_index is None


def test_copy_forms_add_the_input_with_a_capital_first_letter(shipped_loaded) -> None:
    """A rewrite capitalises the first word most often: the guide gets that form too, tokenized in place."""
    tokenizer = shipped_loaded.tokenizer
    document = "### Input:\nand the day came\n\n### Output:\n"
    written, capital = copy_forms(tokenizer, document, "and the day came")
    assert tokenizer.decode(written).strip() == "and the day came"
    assert tokenizer.decode(capital).strip() == "And the day came" and capital[1:] == written[1:]
    assert copy_forms(tokenizer, document.replace("and the", "And the"), "And the day came") == (capital,)
    assert copy_forms(tokenizer, document, "") == ()
