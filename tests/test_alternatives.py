"""Next-token alternatives come from the model's own distribution (checked against `generate`'s scores)."""

import pytest
import torch

from nlg_assistant.alternatives import MAX_ALTERNATIVES, token_text, top_alternatives
from nlg_assistant.backend import GenerationError, Prompt
from nlg_assistant.config import GenerationSettings
from nlg_assistant.decoding import PromptPreparer
from nlg_assistant.engine import BatchedBackend
from nlg_assistant.generation import LocalBackend
from nlg_assistant.models import load_model


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    return load_model(str(tiny_model_dir), "cpu")


def _reference_probs(loaded, ids):
    """The next-token distribution as transformers' own greedy `generate` scores it."""
    out = loaded.model.generate(
        torch.tensor([ids]),
        attention_mask=torch.ones(1, len(ids), dtype=torch.long),
        do_sample=False,
        max_new_tokens=1,
        output_logits=True,
        return_dict_in_generate=True,
        pad_token_id=loaded.tokenizer.pad_token_id,
    )
    return torch.softmax(out.logits[0][0].float(), dim=-1), out.sequences[0, -1].item()


def test_alternatives_are_the_models_top_k_with_its_probabilities(loaded):
    ids = loaded.tokenizer("Once upon a time there was")["input_ids"]
    alternatives = top_alternatives(loaded.model, loaded.tokenizer, ids, 5)
    probs, greedy = _reference_probs(loaded, ids)
    special = set(loaded.tokenizer.all_special_ids)
    expected = [t for t in torch.argsort(probs, descending=True).tolist() if t not in special][:5]
    assert [a.token_id for a in alternatives] == expected
    reference = [probs[t].item() for t in expected]
    assert [a.probability for a in alternatives] == pytest.approx(reference, rel=1e-4)
    assert sum(a.probability for a in alternatives) <= 1.0
    assert alternatives[0].token_id == greedy or greedy in special


def test_k_is_bounded_and_special_tokens_are_left_out(loaded):
    ids = loaded.tokenizer("The princess")["input_ids"]
    many = top_alternatives(loaded.model, loaded.tokenizer, ids, 10_000)
    assert len(many) == MAX_ALTERNATIVES
    assert len(top_alternatives(loaded.model, loaded.tokenizer, ids, 0)) == 1
    assert not {a.token_id for a in many} & set(loaded.tokenizer.all_special_ids)


def test_token_text_keeps_the_leading_space(loaded):
    tok = loaded.tokenizer
    ids = tok("Once upon a")["input_ids"]
    time_id = tok(" time", add_special_tokens=False)["input_ids"][0]
    assert token_text(tok, ids, time_id).startswith(" ")
    assert tok.decode([*ids, time_id], skip_special_tokens=True).endswith(token_text(tok, ids, time_id))


# ---------------------------------------------------------------------------- through the backends


@pytest.fixture(scope="module")
def chat_loaded(tiny_chat_model_dir):
    return load_model(str(tiny_chat_model_dir), "cpu")


def _reference(loaded, prompt, k):
    """`top_alternatives` on the ids generation prepares for `prompt` (one new token)."""
    preparer = PromptPreparer(loaded, 1024)
    ids = preparer.prepare(prompt, GenerationSettings(max_new_tokens=1, temperature=0.0)).ids
    return ids, top_alternatives(loaded.model, loaded.tokenizer, ids, k)


@pytest.mark.parametrize("engine", ["simple", "batched"])
def test_backends_list_k_alternatives_of_the_prepared_prompt(loaded, engine):
    backend = LocalBackend(loaded) if engine == "simple" else BatchedBackend(loaded)
    try:
        prompt = Prompt(document="Once upon a time there was a little")
        got = backend.alternatives(prompt, 7)
        ids, expected = _reference(loaded, prompt, 7)
        assert len(got) == 7 and sum(a.probability for a in got) <= 1.0
        assert [a.token_id for a in got] == [a.token_id for a in expected]
        assert [a.probability for a in got] == pytest.approx([a.probability for a in expected], rel=1e-5)
        assert ids == loaded.tokenizer(prompt.document)["input_ids"]  # as generation encodes a document
    finally:
        if engine == "batched":
            backend.close()


def test_a_long_document_is_fitted_to_the_window_like_generation(loaded):
    backend = LocalBackend(loaded)
    prompt = Prompt(document="The wind blew over the hills. " * 200)  # far over the 256-token window
    ids, expected = _reference(loaded, prompt, 3)
    assert len(ids) == loaded.context_window - 1
    assert [a.token_id for a in backend.alternatives(prompt, 3)] == [a.token_id for a in expected]


def test_a_chat_model_gets_its_chat_template(chat_loaded):
    prompt = Prompt(document="ignored", messages=({"role": "user", "content": "Tell a story"},))
    ids, expected = _reference(chat_loaded, prompt, 4)
    assert chat_loaded.tokenizer.decode(ids).endswith("<|assistant|>\n")
    got = LocalBackend(chat_loaded).alternatives(prompt, 4)
    assert [a.token_id for a in got] == [a.token_id for a in expected]


def test_the_batched_engine_answers_between_the_steps_of_running_streams(loaded):
    """Alternatives while streams decode: same answer as alone, and the streams' text is unchanged."""
    engine = BatchedBackend(loaded)
    settings = GenerationSettings(max_new_tokens=60, temperature=0.0)
    try:
        alone = "".join(c.text for c in engine.start(Prompt(document="The princess"), settings))
        prompt = Prompt(document="Every morning the baker")
        _, expected = _reference(loaded, prompt, 5)
        streams = [engine.start(Prompt(document="The princess"), settings) for _ in range(3)]
        answers = [engine.alternatives(prompt, 5) for _ in range(4)]
        texts = ["".join(c.text for c in stream) for stream in streams]
        assert texts == [alone] * 3
        for got in answers:
            assert [a.token_id for a in got] == [a.token_id for a in expected]
            assert [a.probability for a in got] == pytest.approx([a.probability for a in expected], rel=1e-4)
    finally:
        engine.close()
    with pytest.raises(GenerationError, match="shut down"):
        engine.alternatives(prompt, 5)


def test_an_empty_document_starts_from_the_start_token(loaded):
    got = LocalBackend(loaded).alternatives(Prompt(document=""), 3)
    assert len(got) == 3 and all(a.text for a in got)
