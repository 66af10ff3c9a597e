"""What the few-shot copy guide ("Keep the input's words") costs per token, on both engines.

The Formal rewrite prompt for one message, with and without its copy source, in the same process:
rounds interleaved so machine noise hits both; every request writes exactly `--tokens` tokens (end
ids and stop strings off) at the app's default sampling settings; medians of tokens/s are compared.

    python bench/copy_guide.py                       # the house model, 2 threads
    python bench/copy_guide.py --tokens 128 --rounds 5 --threads 1

Target: guided / plain >= 0.95 (at most 5% slower).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MESSAGE = "hey, can't make the meeting tmrw, my train got cancelled. can u send me the notes after? thx"


def rate(backend, prompt, settings) -> float:
    """tokens/s of one request, streamed to its end."""
    started = time.perf_counter()
    stream = backend.start(prompt, settings)
    for _ in stream:
        pass
    assert stream.result.generated_tokens == settings.max_new_tokens  # end ids and stops are off
    return stream.result.generated_tokens / (time.perf_counter() - started)


def compare(backend, prompt, settings, rounds: int) -> tuple[float, float]:
    """Median tokens/s of the guided prompt and of the same prompt without its copy source."""
    plain = dataclasses.replace(prompt, copy_source="")
    rate(backend, prompt, settings)  # warm-up
    guided, unguided = [], []
    for _ in range(rounds):
        guided.append(rate(backend, prompt, settings))
        unguided.append(rate(backend, plain, settings))
    return statistics.median(guided), statistics.median(unguided)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(REPO / "assets" / "models" / "storyteller"))
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from nlg_assistant.config import GenerationSettings
    from nlg_assistant.engine import BatchedBackend
    from nlg_assistant.generation import LocalBackend
    from nlg_assistant.models import load_model
    from nlg_assistant.prompts import PRESETS, build_fewshot

    torch.set_num_threads(args.threads)
    loaded = load_model(args.model, "cpu")
    preset = PRESETS["Formal rewrite"]
    prompt = build_fewshot(preset.examples, MESSAGE, preset.instruction, keep_words=True)
    prompt = dataclasses.replace(prompt, stop=())  # write exactly --tokens tokens, guided or not
    settings = GenerationSettings(max_new_tokens=args.tokens, seed=1)
    engines = {
        "simple": LocalBackend(loaded, eos_token_ids=()),
        "batched": BatchedBackend(loaded, eos_token_ids=()),
    }
    print(f"{Path(args.model).name}, {args.threads} threads, {args.tokens} tokens, median of {args.rounds}")
    for name, backend in engines.items():
        guided, plain = compare(backend, prompt, settings, args.rounds)
        print(f"{name:8s} guided {guided:6.1f} tok/s | plain {plain:6.1f} tok/s | ratio {guided / plain:.3f}")
        getattr(backend, "close", lambda: None)()


if __name__ == "__main__":
    main()
