"""GPU benchmark of the batched engine on a ~0.5B hub architecture (random weights), one call.

Builds a Qwen2-0.5B-shaped model from an explicit config (bf16, SDPA attention) and reports:

* batch-1 decode tokens/s for bare `generate` (dynamic cache), our engine's streaming, and the
  app's opt-in static cache + torch.compile path (`--engine simple --static-cache`, i.e.
  `LocalBackend(static_cache=True)`, streamed), each as a fraction of the memory-bandwidth
  roofline: every decode step reads all weights once, so
  roofline tokens/s = bandwidth / (weight bytes + KV bytes read per token);
* aggregate tokens/s of our engine with 1, 8 and 32 concurrent streams (and, as a reference,
  a bare `generate` on one static batch of the same size).

Decode rates use two lengths, rate = (long - short) / (t_long - t_short), so prefill and
start-up costs cancel. The tokenizer is the tests' tiny BPE (ids it does not know decode to
nothing): tokens are what is measured, not text.

    bench/gpu.sh                    # on the H200
    python bench/gpu_bench.py --tiny   # CPU dry run of the same code path, in seconds
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
H200_BANDWIDTH = 4.8e12  # bytes/s, HBM3e
PROMPT = "Once upon a time there was a little fox who lived in the woods."


def qwen2_config(tiny: bool):
    """Qwen2-0.5B's published shape written out (494M parameters), or a tiny one for dry runs."""
    from transformers import Qwen2Config

    if tiny:
        shape = dict(vocab_size=1024, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2)  # fmt: skip
    else:
        shape = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                     num_attention_heads=14, num_key_value_heads=2)  # fmt: skip
    return Qwen2Config(
        **shape,
        max_position_embeddings=32768,
        rope_theta=1_000_000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        use_sliding_window=False,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=3,
    )


def build_loaded(tiny: bool, device: str):
    """A `LoadedModel` with random weights (bf16 on GPU, fp32 on CPU) and the tiny test tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM

    from nlg_assistant.models import LoadedModel

    sys.path.insert(0, str(REPO / "tests"))
    from tiny import train_tokenizer

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(qwen2_config(tiny), attn_implementation="sdpa", dtype=dtype)
    model.eval()
    name = "qwen2-0.5b-shaped (random)" if not tiny else "qwen2-tiny (random)"
    return LoadedModel(model, train_tokenizer(), name, device, dtype, context_window=4096, chat=False)


def weight_bytes(model) -> int:
    """Bytes of all unique parameters (a tied embedding counts once): what one decode step reads."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def kv_bytes_per_token(config, dtype_bytes: int) -> int:
    """Bytes of K and V for one cached token over all layers."""
    head_dim = config.hidden_size // config.num_attention_heads
    return 2 * config.num_hidden_layers * config.num_key_value_heads * head_dim * dtype_bytes


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def time_generate(loaded, ids, tokens: int, batch: int = 1) -> float:
    """Seconds for a greedy `generate` of `tokens` new ids for `batch` copies of `ids` (eos ignored)."""
    import torch

    input_ids = torch.tensor([ids] * batch, device=loaded.model.device)
    start = time.perf_counter()
    with torch.inference_mode():
        loaded.model.generate(
            input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=tokens,
            do_sample=False, eos_token_id=-1, pad_token_id=loaded.tokenizer.pad_token_id,
        )  # fmt: skip
    _sync(loaded.device)
    return time.perf_counter() - start


def time_engine(backend, streams: int, tokens: int) -> float:
    """Seconds until `streams` concurrent requests of `tokens` greedy tokens have all streamed out.

    Raises if a request wrote fewer tokens (the backends are built to ignore eos).
    """
    from nlg_assistant.backend import Prompt
    from nlg_assistant.config import GenerationSettings

    settings = GenerationSettings(max_new_tokens=tokens, temperature=0.0, repetition_penalty=1.0)
    errors: list[BaseException] = []

    def consume(i: int) -> None:
        """Stream request `i` to its end (run in its own thread)."""
        try:
            stream = backend.start(Prompt(document=f"{PROMPT} {i}"), settings)
            for _ in stream:
                pass
            if stream.result.generated_tokens != tokens:
                raise RuntimeError(f"{stream.result.generated_tokens} tokens written, {tokens} asked for")
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(streams)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - start


def decode_rate(timer, short: int, long: int) -> float:
    """Tokens/s of decoding alone: (long - short) / (t(long) - t(short)), after warm-up calls.

    Both lengths are warmed up (a static cache is sized by the length, and each size compiles
    once); each time is the best of two runs, so one hiccup does not skew the rate.
    """
    timer(short), timer(long)
    t_short = min(timer(short), timer(short))
    t_long = min(timer(long), timer(long))
    overall = long / t_long  # prefill included: decoding alone is at least this fast
    if t_long <= t_short:  # noise swamped the difference (only seen on busy CPUs)
        return overall
    return min(max((long - short) / (t_long - t_short), overall), 3 * overall)


def batch1_rates(paths: dict, roofline: float, short: int, long: int) -> dict:
    """Decode tokens/s and roofline fraction per batch-1 path; a failing path records its error."""
    rates = {}
    for name, timer in paths.items():
        try:
            rate = decode_rate(timer, short, long)
        except Exception as error:  # e.g. no compiler for torch.compile: report it, measure the rest
            rates[name] = {"error": f"{type(error).__name__}: {error}"[:300]}
            continue
        rates[name] = {"tokens_per_s": rate, "roofline_fraction": rate / roofline}
    return rates


def aggregate_rates(engine, loaded, ids, batches: list[int], short: int, long: int) -> dict:
    """Tokens/s with N concurrent engine streams, and one `generate` batch of N, per N (warmed up)."""
    rates = {}
    for streams in batches:
        time_engine(engine, streams, short), time_generate(loaded, ids, short, batch=streams)
        rates[streams] = {
            "engine_tokens_per_s": streams * long / time_engine(engine, streams, long),
            "generate_batch_tokens_per_s": streams * long / time_generate(loaded, ids, long, batch=streams),
        }
    return rates


def run(tiny: bool, device: str, short: int, long: int, batches: list[int], compile_: bool) -> dict:
    """All measurements as a dict (also printed as markdown by `main`)."""
    import torch
    import transformers

    from nlg_assistant.engine import BatchedBackend
    from nlg_assistant.generation import LocalBackend

    transformers.logging.set_verbosity_error()  # the eos_token_id=-1 warning on every call
    torch.backends.cuda.matmul.allow_tf32 = True
    loaded = build_loaded(tiny, device)
    ids = loaded.tokenizer(PROMPT)["input_ids"]
    element = torch.finfo(loaded.dtype).bits // 8
    per_token_bytes = weight_bytes(loaded.model) + kv_bytes_per_token(loaded.model.config, element) * (
        len(ids) + (short + long) // 2
    )
    roofline = H200_BANDWIDTH / per_token_bytes
    engine = BatchedBackend(loaded, max_batch_size=max(batches), max_queue=4 * max(batches), eos_token_ids=())
    results = {
        "model": loaded.name,
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "dtype": str(loaded.dtype),
        "parameters": sum(p.numel() for p in loaded.model.parameters()),
        "weight_bytes": weight_bytes(loaded.model),
        "roofline_tokens_per_s": roofline,
        "batch1": {},
        "aggregate": {},
    }
    paths = {
        "bare generate (dynamic cache)": lambda n: time_generate(loaded, ids, n),
        "our engine, streaming": lambda n: time_engine(engine, 1, n),
    }
    if compile_:
        static = LocalBackend(loaded, static_cache=True, eos_token_ids=())  # the app's --static-cache
        paths["static cache + torch.compile, streaming"] = lambda n: time_engine(static, 1, n)
    results["batch1"] = batch1_rates(paths, roofline, short, long)
    results["aggregate"] = aggregate_rates(engine, loaded, ids, batches, short, long)
    engine.close()
    return results


def markdown(results: dict, long: int) -> str:
    """The results as markdown tables."""
    lines = [
        f"{results['model']}, {results['parameters'] / 1e6:.1f}M parameters, {results['dtype']}, "
        f"on {results['device']}; weights {results['weight_bytes'] / 1e9:.3f} GB; "
        f"roofline at 4.8 TB/s: {results['roofline_tokens_per_s']:.0f} tokens/s",
        "",
        "| batch-1 decode path | tokens/s | fraction of roofline |",
        "|---|---|---|",
    ]
    for name, row in results["batch1"].items():
        if "error" in row:
            lines.append(f"| {name} | failed: {row['error']} | |")
            continue
        lines.append(f"| {name} | {row['tokens_per_s']:.1f} | {row['roofline_fraction']:.1%} |")
    lines += [
        "",
        f"| concurrent streams ({long} tokens each) | our engine, tokens/s "
        "| one generate() batch, tokens/s |",
        "|---|---|---|",
    ]
    for streams, row in results["aggregate"].items():
        lines.append(
            f"| {streams} | {row['engine_tokens_per_s']:.0f} | {row['generate_batch_tokens_per_s']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Parse flags, run, print markdown, and save JSON next to it when $OUT is set."""
    parser = argparse.ArgumentParser(description="GPU benchmark of the batched engine")
    parser.add_argument("--tiny", action="store_true", help="tiny config on CPU: a dry run of the script")
    parser.add_argument("--short", type=int, default=32, help="tokens of the short run (rates use two)")
    parser.add_argument("--long", type=int, default=288, help="tokens of the long run")
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--no-compile", action="store_true", help="skip the static cache + compile path")
    args = parser.parse_args(argv)
    device = "cpu" if args.tiny else "cuda"
    batches = [int(b) for b in args.batches.split(",")]
    results = run(args.tiny, device, args.short, args.long, batches, not args.no_compile)
    print(markdown(results, args.long))
    out = os.environ.get("OUT")
    if out:
        Path(out, "gpu_bench.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
