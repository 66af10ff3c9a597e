"""Per-position perplexity: how well a model uses its context at tokens 0-255, 256-511, 512-1023."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from nlg_assistant.training import data

BUCKETS = ((0, 256), (256, 512), (512, 1024))


@torch.no_grad()
def token_nll(model, tokens: np.ndarray, seq_len: int, max_windows: int, batch_size: int = 4) -> torch.Tensor:
    """Per-token NLL of non-overlapping `seq_len` windows; shape (windows, seq_len), position = column."""
    starts = data.val_windows(len(tokens), seq_len, max_windows)
    rows = []
    for i in range(0, len(starts), batch_size):
        x, y = data.get_batch(tokens, starts[i : i + batch_size], seq_len)
        logits = model(input_ids=x).logits.float()  # (B, T, V)
        nll = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")  # (B, T)
        rows.append(nll)
    return torch.cat(rows)


def by_position(nll: torch.Tensor, buckets=BUCKETS) -> dict[str, float]:
    """Perplexity per position bucket ("0-255": ppl, ...) of a (windows, T) NLL table."""
    out = {}
    for lo, hi in buckets:
        if lo < nll.size(1):
            out[f"{lo}-{hi - 1}"] = math.exp(nll[:, lo:hi].mean().item())
    return out


def with_rope_theta(model, theta: float):
    """`model` with its rotary base changed in place (config + the cached inverse frequencies)."""
    model.config.rope_parameters = {"rope_theta": theta, "rope_type": "default"}
    rotary = model.model.rotary_emb
    inv_freq, scaling = rotary.compute_default_rope_parameters(model.config, device=rotary.inv_freq.device)
    rotary.inv_freq = inv_freq
    rotary.original_inv_freq = inv_freq
    rotary.attention_scaling = scaling
    return model
