"""The model's most likely next tokens at a point in the text, with their probabilities (local models).

Writers pick one to branch the text there (the "alternatives" of Write With Transformer). One
forward pass over the prompt ids, a softmax over the last position's logits (temperature 1: the
model's own distribution, not the sampler's), the top k:

>>> from nlg_assistant.models import load_model          # doctest: +SKIP
>>> loaded = load_model("assets/models/storyteller", "cpu")  # doctest: +SKIP
>>> top_alternatives(loaded.model, loaded.tokenizer, loaded.tokenizer("Once upon a")["input_ids"], 3)
... # doctest: +SKIP
[Alternative(text=' time', probability=0.93), ...]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .backend import Alternative

MAX_ALTERNATIVES = 20


def next_token_probabilities(model: Any, ids: Sequence[int]) -> torch.Tensor:
    """The model's next-token distribution after `ids`: shape (vocab,), float32, sums to 1."""
    input_ids = torch.tensor([list(ids)], device=model.device)
    with torch.inference_mode():
        logits = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids)).logits  # (1, T, V)
    return torch.softmax(logits[0, -1].float(), dim=-1)


def token_text(tokenizer: Any, ids: Sequence[int], token: int) -> str:
    """What `token` adds to the text after `ids` (decoded in context, so a leading space survives)."""
    context = list(ids[-8:])  # a few tokens of context are enough to settle spacing and merges
    before = tokenizer.decode(context, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    after = tokenizer.decode([*context, token], skip_special_tokens=True, clean_up_tokenization_spaces=False)
    return after[len(before) :] if after.startswith(before) else tokenizer.decode([token])


def top_alternatives(model: Any, tokenizer: Any, ids: Sequence[int], k: int) -> list[Alternative]:
    """The `k` most likely next tokens after `ids` (special tokens left out), most likely first."""
    k = max(1, min(int(k), MAX_ALTERNATIVES))
    probs = next_token_probabilities(model, ids)
    special = set(tokenizer.all_special_ids)
    values, tokens = torch.topk(probs, min(k + len(special), probs.numel()))
    picks = [(t, p) for t, p in zip(tokens.tolist(), values.tolist(), strict=True) if t not in special]
    return [Alternative(token_text(tokenizer, ids, t), p, t) for t, p in picks[:k]]
