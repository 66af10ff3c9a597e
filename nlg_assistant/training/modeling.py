"""Small Llama configurations and model construction (loads later with AutoModelForCausalLM)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelShape:
    """The few numbers that size a small Llama."""

    d_model: int
    n_layers: int
    n_heads: int
    d_ff: int
    seq_len: int


PRESETS = {
    "tiny": ModelShape(64, 2, 4, 172, 64),
    "student": ModelShape(192, 4, 6, 512, 256),
    "teacher": ModelShape(256, 6, 8, 688, 256),
    "teacher-l": ModelShape(320, 6, 10, 864, 256),
    # for a lent GPU: 17.3 M parameters, 33 MiB in bf16 (under the 50 MB asset budget), 512-token context
    "gpu": ModelShape(384, 8, 6, 1024, 512),
}


def llama_config(shape: ModelShape, tok):
    """A LlamaConfig with tied embeddings and the tokenizer's special-token ids."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tok),
        hidden_size=shape.d_model,
        intermediate_size=shape.d_ff,
        num_hidden_layers=shape.n_layers,
        num_attention_heads=shape.n_heads,
        num_key_value_heads=shape.n_heads,
        # the window apps may fill: RoPE stretches poorly past ~2x the trained length (storyteller,
        # trained at 256: held-out ppl 90 at positions 0-255, 130 at 256-511, 280 at 512-1023)
        max_position_embeddings=shape.seq_len * 2,
        rope_theta=10000.0,
        rms_norm_eps=1e-5,
        initializer_range=0.02,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )


def build_model(config, seed: int):
    """A freshly initialised LlamaForCausalLM; the init depends only on `seed`."""
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def count_parameters(model) -> int:
    """Unique parameters (tied embedding counted once)."""
    return sum(p.numel() for p in model.parameters())
