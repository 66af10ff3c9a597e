"""`eval` command: validation perplexity and speed of a model folder, plus the trigram baseline."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nlg_assistant.training import corpus, data
from nlg_assistant.training import tokenizer as tk


def load_model(folder: Path):
    """Model (fp32, eval mode) and tokenizer through the Auto classes, as the app loads them."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    return model, tk.load_tokenizer(folder)


def val_documents(
    files: list[Path],
    manifest: Path | None,
    val_fraction: float,
    seed: int,
    max_docs: int = 0,
    max_chars: int = 0,
) -> tuple[list[str], list[str]]:
    """The (train, val) texts exactly as `prepare` splits them, optionally cut to a small val slice."""
    docs = corpus.load_corpus(files, manifest)
    train, val = corpus.split_documents(docs, val_fraction, seed)
    val_texts = [d.text for d in (val[:max_docs] if max_docs else val)]
    if max_chars:
        val_texts = [t[:max_chars] for t in val_texts]
    return [d.text for d in train], val_texts


@torch.no_grad()
def perplexity(model, tokens: np.ndarray, seq_len: int, max_windows: int = 0, batch_size: int = 16) -> dict:
    """Mean NLL / perplexity over non-overlapping windows and the scoring speed in tokens/s."""
    starts = data.val_windows(len(tokens), seq_len, max_windows)
    total, count, t0 = 0.0, 0, time.perf_counter()
    for i in range(0, len(starts), batch_size):
        x, y = data.get_batch(tokens, starts[i : i + batch_size], seq_len)
        logits = model(input_ids=x).logits  # (B, T, V)
        total += F.cross_entropy(
            logits.float().reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum"
        ).item()
        count += y.numel()
    seconds = time.perf_counter() - t0
    nll = total / max(1, count)
    return {
        "nll": nll,
        "ppl": math.exp(nll),
        "tokens": count,
        "windows": len(starts),
        "score_tokens_per_s": count / max(seconds, 1e-9),
        "starts": starts,
    }


def target_positions(starts: np.ndarray, seq_len: int) -> np.ndarray:
    """Stream positions of the tokens predicted by the windows (each window predicts o+1 .. o+T)."""
    return (starts[:, None] + np.arange(1, seq_len + 1)[None, :]).reshape(-1)


@torch.no_grad()
def generation_speed(model, tok, new_tokens: int = 64, prompt: str = "Once upon a time") -> float:
    """Batch-1 `model.generate` tokens/s (sampling, no early stop), after one warm-up call."""
    ids = tok(prompt, return_tensors="pt")
    kwargs = {
        "do_sample": True,
        "top_k": 50,
        "max_new_tokens": new_tokens,
        "min_new_tokens": new_tokens,
        "pad_token_id": tok.pad_token_id,
    }
    model.generate(**ids, **(kwargs | {"max_new_tokens": 8, "min_new_tokens": 8}))
    t0 = time.perf_counter()
    out = model.generate(**ids, **kwargs)
    produced = out.shape[1] - ids["input_ids"].shape[1]
    return produced / (time.perf_counter() - t0)


def _eval_tokens(args, files: list[Path] | None, tok) -> tuple[np.ndarray, list[str] | None]:
    """Validation tokens (and the train texts when raw files were given)."""
    if files is None:
        return data.open_tokens(Path(args.data_dir) / "val.bin"), None
    manifest = Path(args.manifest) if args.manifest else files[0].parent / corpus.MANIFEST_NAME
    train, val = val_documents(
        files,
        manifest if manifest.exists() else None,
        args.val_fraction,
        args.seed,
        args.max_docs,
        args.max_chars,
    )
    return data.encode_documents(tok, val), train


def trigram_nll(args, tok, train_texts: list[str] | None, val_tokens: np.ndarray, positions) -> float:
    """Kneser-Ney trigram NLL on the same target positions, fitted on the training split."""
    from nlg_assistant.training.ngram import KneserNeyTrigram

    if train_texts is None:
        train_tokens = data.open_tokens(Path(args.data_dir) / "train.bin")
    else:
        train_tokens = data.encode_documents(tok, train_texts)
    return KneserNeyTrigram.fit(train_tokens, len(tok)).mean_nll(val_tokens, positions)


def eval_command(args, files: list[Path] | None, repo_root: Path) -> dict:
    """Print (and optionally save) perplexity, scoring and generation speed, and the trigram baseline."""
    model, tok = load_model(Path(args.model))
    tokens, train_texts = _eval_tokens(args, files, tok)
    res = perplexity(model, tokens, args.seq_len, args.max_windows)
    starts = res.pop("starts")
    res["generate_tokens_per_s"] = generation_speed(model, tok)
    if args.trigram:
        nll = trigram_nll(args, tok, train_texts, tokens, target_positions(starts, args.seq_len))
        res |= {"trigram_nll": nll, "trigram_ppl": math.exp(nll)}
    res |= {
        "model": str(args.model),
        "seq_len": args.seq_len,
        "max_windows": args.max_windows,
        "max_docs": args.max_docs,
        "max_chars": args.max_chars,
        "val_fraction": args.val_fraction,
        "seed": args.seed,
        "source": "raw files" if files else str(args.data_dir),
    }
    print(
        f"val ppl {res['ppl']:.3f} over {res['tokens']} tokens; "
        f"scoring {res['score_tokens_per_s']:.0f} tok/s; "
        f"generate {res['generate_tokens_per_s']:.1f} tok/s"
        + (f"; KN trigram ppl {res['trigram_ppl']:.3f}" if args.trigram else "")
    )
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return res
