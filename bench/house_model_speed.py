"""Batch-1 generation speed of the shipped house model on this machine's CPU.

Usage: python bench/house_model_speed.py [--model assets/models/storyteller] [--threads 2] [--tokens 128]
Prints tokens/s (median of the repeats) and the ratio to the 30 tokens/s target.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

TARGET_TOKENS_PER_S = 30.0
REPO = Path(__file__).resolve().parents[1]


def measure(folder: Path, threads: int, new_tokens: int, repeats: int) -> list[float]:
    """tokens/s of `model.generate` (sampling with the folder's generation_config) per repeat."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    ids = tok("Once upon a time there was a little fox who", return_tensors="pt")
    model.generate(**ids, max_new_tokens=8, pad_token_id=tok.pad_token_id)  # warm-up
    rates = []
    for seed in range(repeats):
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        with torch.no_grad():
            out = model.generate(
                **ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, pad_token_id=tok.pad_token_id
            )
        rates.append((out.shape[1] - ids["input_ids"].shape[1]) / (time.perf_counter() - t0))
    return rates


def main() -> int:
    """Parse flags, measure, print the figure and the ratio to the target."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=str(REPO / "assets" / "models" / "storyteller"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default="", help="also write the result to this file")
    args = parser.parse_args()
    rates = measure(Path(args.model), args.threads, args.tokens, args.repeats)
    median = statistics.median(rates)
    result = {
        "tokens_per_s": median,
        "runs": rates,
        "target": TARGET_TOKENS_PER_S,
        "ratio_to_target": median / TARGET_TOKENS_PER_S,
        "threads": args.threads,
        "new_tokens": args.tokens,
        "model": args.model,
    }
    print(
        f"{median:.1f} tokens/s at batch 1 ({args.threads} threads, {args.tokens} new tokens); "
        f"{median / TARGET_TOKENS_PER_S:.2f}x the {TARGET_TOKENS_PER_S:.0f} tok/s target"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
