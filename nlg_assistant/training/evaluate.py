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
        return data.open_tokens(Path(args.data_dir) / getattr(args, "val_name", "val.bin")), None
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


def chars_covered(tok, tokens: np.ndarray, starts: np.ndarray, seq_len: int) -> int:
    """Characters of the text whose tokens the windows predict (for bits per character)."""
    total = 0
    for o in starts:
        ids = np.asarray(tokens[o + 1 : o + seq_len + 1], dtype=np.int64).tolist()
        total += len(tok.decode(ids, skip_special_tokens=True))
    return total


def held_out_books(args, files: list[Path]) -> list[tuple[str, str]]:
    """(title, raw text) of the held-out books of the `prepare` split (for the per-tab figures)."""
    manifest = Path(args.manifest) if args.manifest else files[0].parent / corpus.MANIFEST_NAME
    manifest = manifest if manifest.exists() else None
    docs = corpus.load_corpus(files, manifest)
    _, val = corpus.split_documents(docs, args.val_fraction, args.seed)
    names = corpus.titles(manifest)
    return [(names.get((d.source, d.index)) or d.text.split("\n", 1)[0][:60], d.text) for d in val]


def extra_figures(args, model, tok, tokens: np.ndarray, tasks, passages=()) -> dict:
    """Per-position perplexity (1024-token windows), the per-tab figures and the copy check, as asked."""
    from nlg_assistant.training import copying, positions, taskeval

    out = copying.copy_figures(model, tok, list(passages), args.task_seed) if passages else {}
    if args.positions:
        nll = positions.token_nll(model, tokens, 1024, args.position_windows)
        out["ppl_by_position"] = positions.by_position(nll)
    if tasks:
        out |= taskeval.run_tasks(model, tok, tasks, args.task_seed)
    return out


def _tasks_for(args, files: list[Path] | None, repo_root: Path) -> list:
    """Per-tab tries on held-out books (none without --tasks); token counts by the first model's tokenizer."""
    from nlg_assistant.training import taskeval

    if not args.tasks:
        return []
    tok = tk.load_tokenizer(Path(args.model[0]))

    def count(text: str) -> int:
        return len(tok(text, add_special_tokens=False)["input_ids"])

    books = held_out_books(args, files or corpus.default_files(repo_root))
    return taskeval.build_tasks(books, args.tasks, args.task_seed, count)


def _passages_for(args, files: list[Path] | None, repo_root: Path) -> list[str]:
    """Held-out paragraphs for the copy check (none without --copying)."""
    from nlg_assistant.training import copying, finetune
    from nlg_assistant.training.clean import clean_document

    if not args.copying:
        return []
    books = held_out_books(args, files or corpus.default_files(repo_root))
    sections = [s for _, raw in books for s in finetune.book_sections(clean_document(raw))]
    paragraphs = [p for s in sections for p in s.paragraphs]
    return copying.passages(paragraphs, args.copying, args.task_seed)


def _one_model(args, folder: str, with_trigram: bool, files, repo_root: Path, tasks, passages=()) -> dict:
    """eval_command's figures for one model plus bits/char and the optional extra figures."""
    from argparse import Namespace

    one = Namespace(**(vars(args) | {"model": folder, "json": "", "trigram": with_trigram}))
    res = eval_command(one, files, repo_root)
    model, tok = load_model(Path(folder))
    tokens, _ = _eval_tokens(args, files, tok)
    starts = data.val_windows(len(tokens), args.seq_len, args.max_windows)
    bits = res["nll"] * res["tokens"] / math.log(2)
    res["bits_per_char"] = bits / chars_covered(tok, tokens, starts, args.seq_len)
    if "trigram_nll" in res:
        res["trigram_bits_per_char"] = res["bits_per_char"] * res["trigram_nll"] / res["nll"]
    return res | extra_figures(args, model, tok, tokens, tasks, passages)


def compare_models(args, files: list[Path] | None, repo_root: Path) -> dict:
    """`eval` for one or more models on the same windows and tries; prints them side by side."""
    tasks, passages = _tasks_for(args, files, repo_root), _passages_for(args, files, repo_root)
    results = {
        folder: _one_model(args, folder, args.trigram and i == 0, files, repo_root, tasks, passages)
        for i, folder in enumerate(args.model)
    }
    print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return results


def print_table(results: dict) -> None:
    """One row per figure, one column per model."""
    names = list(results)
    settings = {"seq_len", "max_windows", "max_docs", "max_chars", "val_fraction", "seed", "windows"}
    keys = [k for k, v in results[names[0]].items() if isinstance(v, (int, float)) and k not in settings]
    keys += [f"ppl {b}" for b in results[names[0]].get("ppl_by_position", {})]
    print("figure".ljust(28) + "".join(Path(n).name[:18].rjust(20) for n in names))
    for key in keys:
        cells = []
        for n in names:
            r = results[n]
            value = r["ppl_by_position"].get(key[4:]) if key.startswith("ppl ") else r.get(key)
            cells.append("-" if value is None else f"{value:.4g}")
        print(key.ljust(28) + "".join(c.rjust(20) for c in cells))
