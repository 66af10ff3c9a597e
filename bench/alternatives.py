"""What alternatives requests cost running streams on the batched engine (run on its scheduler thread).

Several greedy streams decode together, once alone and once while another thread asks for
alternatives in a loop (each one a prefill on the scheduler thread between decode steps). Rounds
are interleaved; medians are compared. The streams' text must be the same in both (checked), and
the alternatives' latency is shown while the engine is busy and while it is idle.

    python bench/alternatives.py                       # house model, or a stand-in of its shape
    python bench/alternatives.py --model path/to/model --streams 4 --tokens 128 --rounds 3

Reading it: each alternatives request costs the running streams about one prefill of its prompt
(it waits for the current step, then runs before the next), so the ratio grows with the request
rate. Measured on the house model, 4 streams, CPU: 1.01 at 5 requests/s (each answered in ~20 ms
busy, ~7 ms idle); back to back (--every 0) every decode step also runs one prefill. Nothing ever
runs two forward passes on the weights at once.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

PROMPT = "Once upon a time, in a small village at the edge of a great forest, there lived a girl who"


def _streams(engine, count: int, tokens: int) -> tuple[float, list[str]]:
    """Wall time and texts of `count` greedy streams decoding together."""
    from nlg_assistant.backend import Prompt
    from nlg_assistant.config import GenerationSettings

    settings = GenerationSettings(max_new_tokens=tokens, temperature=0.0)
    started = time.perf_counter()
    streams = [engine.start(Prompt(document=PROMPT), settings) for _ in range(count)]
    texts = ["".join(chunk.text for chunk in stream) for stream in streams]
    return time.perf_counter() - started, texts


def _with_alternatives(
    engine, count: int, tokens: int, every_s: float
) -> tuple[float, list[str], list[float]]:
    """Like `_streams`, while another thread asks for 5 alternatives every `every_s`; their latencies."""
    from nlg_assistant.backend import Prompt

    latencies: list[float] = []
    done = threading.Event()

    def ask() -> None:
        while not done.is_set():
            started = time.perf_counter()
            engine.alternatives(Prompt(document=PROMPT), 5)
            latencies.append(time.perf_counter() - started)
            done.wait(every_s)

    asker = threading.Thread(target=ask)
    asker.start()
    took, texts = _streams(engine, count, tokens)
    done.set()
    asker.join()
    return took, texts, latencies


def main() -> None:
    from stream_overhead import ensure_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--every", type=float, default=0.2, help="seconds between alternatives requests")
    args = parser.parse_args()

    import torch

    from nlg_assistant.backend import Prompt
    from nlg_assistant.engine import BatchedBackend
    from nlg_assistant.models import load_model

    torch.set_num_threads(args.threads)
    engine = BatchedBackend(load_model(ensure_model(args.model), "auto"), eos_token_ids=())
    _streams(engine, args.streams, 8)  # warm-up
    alone, busy, latencies = [], [], []
    for _ in range(args.rounds):
        took, reference = _streams(engine, args.streams, args.tokens)
        alone.append(took)
        took, texts, lat = _with_alternatives(engine, args.streams, args.tokens, args.every)
        assert texts == reference, "alternatives changed the streams' text"
        busy.append(took)
        latencies += lat
    idle = []
    for _ in range(5):
        started = time.perf_counter()
        engine.alternatives(Prompt(document=PROMPT), 5)
        idle.append(time.perf_counter() - started)
    engine.close()
    a, b = statistics.median(alone), statistics.median(busy)
    print(f"{args.streams} streams x {args.tokens} tokens: alone {a:.2f} s · with alternatives {b:.2f} s")
    rate = f"one every {args.every:g} s" if args.every else "back to back"
    print(f"ratio {b / a:.2f} ({len(latencies)} alternatives requests, {rate}, answered meanwhile)")
    print(
        f"alternatives latency: busy median {statistics.median(latencies) * 1000:.0f} ms · "
        f"idle median {statistics.median(idle) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
