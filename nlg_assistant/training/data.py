"""Tokenise the corpus once into memory-mapped uint16 arrays and draw reproducible training batches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nlg_assistant.training import corpus
from nlg_assistant.training import tokenizer as tk


def encode_documents(tok, texts: list[str]) -> np.ndarray:
    """`<s> doc </s>` for every document, concatenated; shape (n_tokens,), dtype uint16."""
    assert len(tok) < 2**16, "uint16 storage needs a vocabulary under 65536"
    pieces = []
    for text in texts:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        pieces.append(np.asarray([tok.bos_token_id, *ids, tok.eos_token_id], dtype=np.uint16))
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.uint16)


def write_tokens(path: Path, tokens: np.ndarray) -> None:
    """Write `tokens` as a raw uint16 file that `open_tokens` memory-maps."""
    mm = np.memmap(path, dtype=np.uint16, mode="w+", shape=tokens.shape)
    mm[:] = tokens
    mm.flush()


def open_tokens(path: Path) -> np.ndarray:
    """Memory-map a token file written by `write_tokens` (read-only)."""
    return np.memmap(path, dtype=np.uint16, mode="r")


def prepare(
    files: list[Path],
    manifest: Path | None,
    out_dir: Path,
    vocab_size: int,
    val_fraction: float,
    sample_chars: int,
    seed: int,
    min_death_year: int = 1955,
) -> dict:
    """Filter, split, train the tokeniser on the training split, tokenise both splits; returns the meta."""
    out_dir.mkdir(parents=True, exist_ok=True)
    docs = corpus.load_corpus(files, manifest, min_death_year)
    train, val = corpus.split_documents(docs, val_fraction, seed)
    sp_model = tk.train_sentencepiece([d.text for d in train], out_dir / "sp", vocab_size, sample_chars, seed)
    tok = tk.build_hf_tokenizer(sp_model, out_dir / "tokenizer")
    meta = {
        "files": [str(f) for f in files],
        "min_death_year": min_death_year,
        "seed": seed,
        "vocab_size": len(tok),
        "n_docs": len(docs),
    }
    for name, split in (("train", train), ("val", val)):
        tokens = encode_documents(tok, [d.text for d in split])
        write_tokens(out_dir / f"{name}.bin", tokens)
        meta[name] = {
            "docs": [f"{d.source}#{d.index}" for d in split],
            "tokens": int(tokens.size),
            "chars": sum(len(d.text) for d in split),
        }
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=1))
    return meta


def batch_offsets(n_tokens: int, seq_len: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """Start offsets of the windows for `step`: a pure function of (seed, step), so resuming is exact
    and two runs with the same seed see the same data in the same order."""
    rng = np.random.default_rng([seed, step])
    return rng.integers(0, n_tokens - seq_len - 1, size=batch_size)


def get_batch(tokens: np.ndarray, offsets: np.ndarray, seq_len: int):
    """(inputs, targets) int64 tensors of shape (batch, seq_len); targets are inputs shifted by one."""
    import torch

    window = np.stack([np.asarray(tokens[o : o + seq_len + 1], dtype=np.int64) for o in offsets])
    x = torch.from_numpy(window[:, :-1].copy())
    y = torch.from_numpy(window[:, 1:].copy())
    return x, y


def copy_rows(vocab: np.ndarray, rng: np.random.Generator, n_rows: int, seq_len: int, span=(8, 64)):
    """`n_rows` copy drills as (inputs, targets), (n_rows, seq_len): each row is spans of token ids drawn
    uniformly from `vocab`, every span followed by itself again.

    Why: the second copy of a random span can only be predicted by looking back at the first, so these
    rows teach the model to copy what it has read ("induction"), which a rewrite needs; real text
    rewards copying too little for a small model to pick it up. Uniform ids, not the corpus's
    proportions: spans of common tokens can be half-guessed without copying. Copying appears abruptly
    and late (a toy model needs ~1,000 steps of drills; the house model had not after 200): see
    docs/training.md, sixth run."""
    import torch

    low, high = span[0], max(span[0], min(span[1], seq_len // 2))  # a span and its copy fit in a row
    rows = np.empty((n_rows, seq_len + 1), dtype=np.int64)
    for r in range(n_rows):
        row: list[int] = []
        while len(row) <= seq_len:
            piece = rng.choice(vocab, rng.integers(low, high + 1)).tolist()
            row += piece + piece
        rows[r] = row[: seq_len + 1]
    return torch.from_numpy(rows[:, :-1].copy()), torch.from_numpy(rows[:, 1:].copy())


def val_windows(n_tokens: int, seq_len: int, max_windows: int) -> np.ndarray:
    """Non-overlapping evaluation windows spread evenly over the validation tokens."""
    n_full = (n_tokens - 1) // seq_len
    starts = np.arange(n_full) * seq_len
    if max_windows and n_full > max_windows:
        starts = starts[np.linspace(0, n_full - 1, max_windows).astype(int)]
    return starts


def prepare_v2(
    files: list[Path],
    manifest: Path | None,
    out_dir: Path,
    tokenizer_folder: Path,
    val_fraction: float,
    seed: int,
    min_death_year: int = 1955,
) -> dict:
    """v2 data: the same book split as `prepare` (same seed: the held-out books stay held out), books
    cleaned by `clean.clean_document`, tokenised with an existing tokenizer (the shipped model's, so its
    weights can be trained on). Writes train.bin, val.bin (cleaned), val_raw.bin (uncleaned, v1's
    windows), tokenizer/ and meta.json."""
    from nlg_assistant.training.clean import clean_document

    out_dir.mkdir(parents=True, exist_ok=True)
    tok = tk.load_tokenizer(tokenizer_folder)
    tok.save_pretrained(str(out_dir / "tokenizer"))
    docs = corpus.load_corpus(files, manifest, min_death_year)
    train, val = corpus.split_documents(docs, val_fraction, seed)
    meta = {"files": [str(f) for f in files], "seed": seed, "vocab_size": len(tok), "n_docs": len(docs)}
    meta["tokenizer_from"] = str(tokenizer_folder)
    splits = {
        "train": [clean_document(d.text) for d in train],
        "val": [clean_document(d.text) for d in val],
        "val_raw": [d.text for d in val],
    }
    for name, texts in splits.items():
        tokens = encode_documents(tok, texts)
        write_tokens(out_dir / f"{name}.bin", tokens)
        meta[name] = {"tokens": int(tokens.size), "chars": sum(len(t) for t in texts)}
    meta["train"]["docs"] = [f"{d.source}#{d.index}" for d in train]
    meta["val"]["docs"] = [f"{d.source}#{d.index}" for d in val]
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=1))
    return meta
