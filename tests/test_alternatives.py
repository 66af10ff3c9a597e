"""Next-token alternatives come from the model's own distribution (checked against `generate`'s scores)."""

import pytest
import torch

from nlg_assistant.alternatives import MAX_ALTERNATIVES, token_text, top_alternatives
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
