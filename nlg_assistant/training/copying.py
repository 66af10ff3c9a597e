"""Does a model copy what it has just read? The loss on the second copy of a repeated passage.

A rewrite ("hey can u..." -> "Hello, can you...") is mostly copying, and copying text seen earlier in
the context needs "induction" heads. The check: a held-out passage, a blank line, the same passage
again, scored teacher-forced. A model that copies predicts the second copy almost perfectly (far
below 1 nat per token); one that cannot scores it about like the first. With the passage's words
shuffled, nothing but copying helps on the second copy.

Example::

    figures = copy_figures(model, tok, ["Pip the fox ran down to the river ..."], seed=0)
    figures["copy_scrambled_second_nll"]   # ~ the first copy's while the model cannot copy
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from nlg_assistant.training.finetune import sample_passages, shuffled_words


def passages(paragraphs: list[str], n: int, seed: int, words: tuple[int, int] = (20, 60)) -> list[str]:
    """`n` paragraphs of `words` words (at random, reproducibly)."""
    return sample_passages(paragraphs, random.Random(seed), n, words)


@torch.no_grad()
def copy_nll(model, tok, text: str) -> tuple[float, float]:
    """Mean loss (nats/token) on the first and on the second copy of `text` in "<s>text\\n\\ntext".

    The first token of each copy is left out: what starts a passage cannot be known either way."""
    first = tok(text + "\n\n")["input_ids"]  # <s> + text + the blank line
    again = tok(text, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([first + again])
    logits = model(input_ids=ids).logits[0, :-1].float()  # (T-1, V): position t predicts ids[t+1]
    nll = F.cross_entropy(logits, ids[0, 1:], reduction="none")
    # targets ids[2 : len(again)] are the first copy but its first token; ids[len(first) + 1 :] the second
    return nll[1 : len(again) - 1].mean().item(), nll[len(first) :].mean().item()


def copy_figures(model, tok, texts: list[str], seed: int) -> dict:
    """Mean first/second-copy losses over `texts`, as they are and with their words shuffled."""
    rng = random.Random(seed)
    out = {}
    for name, variant in (("copy", texts), ("copy_scrambled", [shuffled_words(t, rng) for t in texts])):
        pairs = [copy_nll(model, tok, t) for t in variant]
        out[f"{name}_first_nll"] = sum(p[0] for p in pairs) / len(pairs)
        out[f"{name}_second_nll"] = sum(p[1] for p in pairs) / len(pairs)
    return out | {"copy_passages": len(texts)}
