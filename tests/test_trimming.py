"""A prompt too long for the window keeps its END (and a leading BOS), checked by content, in both engines."""

from __future__ import annotations

import pytest
from tiny import greedy_ids

from nlg_assistant.backend import Prompt
from nlg_assistant.config import GenerationSettings
from nlg_assistant.decoding import trim_left
from nlg_assistant.engine import BatchedBackend
from nlg_assistant.generation import LocalBackend
from nlg_assistant.models import load_model

NEW = 20
GREEDY = GenerationSettings(max_new_tokens=NEW, temperature=0.0, repetition_penalty=1.0)
# different words at the start and the end, so keeping the wrong end shows
LONG = " ".join(
    ["Once upon a time there was a little fox who lived in the woods."] * 25
    + ["The princess walked to the castle and opened the old wooden door."] * 5
)


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    return load_model(str(tiny_model_dir), "cpu")


def test_trim_left_keeps_the_last_ids_and_a_leading_bos():
    ids = [1, *range(10, 20)]  # BOS 1, then ten tokens
    assert trim_left(ids, 4, bos_id=1) == ([1, 17, 18, 19], 7)
    assert trim_left(ids, 4, bos_id=None) == ([16, 17, 18, 19], 7)
    assert trim_left(ids[1:], 4, bos_id=1) == ([16, 17, 18, 19], 6)  # no BOS to keep
    assert trim_left(ids, 1, bos_id=1) == ([19], 10)  # no room for the BOS
    assert trim_left(ids, 2, bos_id=1) == ([1, 19], 9)
    assert trim_left(ids, 10, bos_id=1) == ([1, *range(11, 20)], 1)  # one too many
    assert trim_left(ids, 11, bos_id=1) == (ids, 0)
    assert trim_left(ids, 50, bos_id=1) == (ids, 0)


def test_trimmed_prompt_is_the_end_of_the_document(loaded):
    full = loaded.tokenizer(LONG)["input_ids"]
    limit = loaded.context_window - NEW
    assert len(full) > loaded.context_window
    prepared = LocalBackend(loaded).prepare_prompt(Prompt(document=LONG), GREEDY)
    assert prepared.ids == full[-limit:]
    assert prepared.dropped_prompt_tokens == len(full) - limit


@pytest.mark.parametrize("engine", ["simple", "batched"])
def test_generation_after_a_trim_equals_generate_on_the_end(loaded, engine):
    end = loaded.tokenizer(LONG)["input_ids"][-(loaded.context_window - NEW) :]
    expected_ids = greedy_ids(loaded, end, NEW)[len(end) :]
    expected = loaded.tokenizer.decode(
        expected_ids, skip_special_tokens=True, clean_up_tokenization_spaces=False
    )
    backend = LocalBackend(loaded) if engine == "simple" else BatchedBackend(loaded, timeout_s=60)
    try:
        stream = backend.start(Prompt(document=LONG), GREEDY)
        text = "".join(chunk.text for chunk in stream)
    finally:
        if engine == "batched":
            backend.close()
    assert text == stream.result.texts[0] == expected
    assert stream.result.prompt_tokens == len(end)


def test_a_bos_tokenizer_keeps_its_bos_and_the_end(shipped_loaded):
    """The house model's tokenizer adds a BOS: the trimmed prompt is BOS + the document's end."""
    tokenizer = shipped_loaded.tokenizer
    document = " ".join(["The fox ran."] * 20 + ["The princess walked home."] * 20) * 8
    full = tokenizer(document)["input_ids"]
    window = shipped_loaded.context_window
    if tokenizer.bos_token_id is None or full[0] != tokenizer.bos_token_id or len(full) <= window:
        pytest.skip("the shipped tokenizer adds no BOS, or the document fits its window")
    prepared = LocalBackend(shipped_loaded).prepare_prompt(Prompt(document=document), GREEDY)
    limit = window - NEW
    assert prepared.ids == [full[0], *full[-(limit - 1) :]]
