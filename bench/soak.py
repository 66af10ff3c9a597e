"""Soak of the batched engine: thousands of requests, random cancels and abandoned streams.

It starts one `BatchedBackend` on a model (default: the house model), has 8 client threads send
`--requests` requests with random prompts, lengths and seeds, cancels some after their first
chunk and walks away from others without closing them (a browser that disconnects), and every
`--every` requests prints the process's resident memory, its thread count and the engine's
rows, queue and cache width. Nothing may grow with the request count: the table should be flat
once the first few hundred requests have warmed the allocator.

    python bench/soak.py                         # house model, 5000 requests
    python bench/soak.py --requests 20000 --every 2000

Not a test (it runs for minutes); tests/test_engine.py has a 200-request version that asserts.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_overhead import ensure_model  # noqa: E402  (bench/ is not a package)

OPENINGS = ["Once upon a time", "The old king called his sons", "In the dark forest", "A", "Far away,"]


def rss_mib() -> float:
    """Resident memory of this process (Linux /proc), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_request(backend, rng: random.Random) -> None:
    """Start a request and read it fully, cancel it after one chunk, or abandon it (no close)."""
    from nlg_assistant.backend import Prompt
    from nlg_assistant.config import GenerationSettings

    settings = GenerationSettings(
        max_new_tokens=rng.randint(1, 24), temperature=0.8, seed=rng.randint(0, 999)
    )
    stream = backend.start(Prompt(document=rng.choice(OPENINGS)), settings)
    fate = rng.random()
    chunks = iter(stream)
    for _ in chunks:
        if fate < 0.2:  # Stop pressed
            stream.cancel()
        elif fate < 0.3:  # the browser went away: the iterator is dropped (CPython then finalises it)
            return


def client(backend, seeds: range) -> None:
    """One client thread: a request per seed, one after the other."""
    for seed in seeds:
        one_request(backend, random.Random(seed))


def run(backend, requests: int, every: int, clients: int = 8) -> list[tuple[int, float, int, dict]]:
    """Send `requests` requests from `clients` threads; snapshot after each `every` requests."""
    rows = []
    for start in range(0, requests, every):
        end = min(start + every, requests)
        threads = [
            threading.Thread(target=client, args=(backend, range(start + i, end, clients)))
            for i in range(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        gc.collect()
        time.sleep(0.2)  # abandoned streams are noticed by the scheduler within a step
        rows.append((end, rss_mib(), threading.active_count(), backend.stats()))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None, help="model folder or id (default: house model or stand-in)")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()

    import torch

    from nlg_assistant.engine import BatchedBackend
    from nlg_assistant.models import load_model

    torch.set_num_threads(args.threads)
    backend = BatchedBackend(load_model(ensure_model(args.model), "cpu"), max_batch_size=8, max_queue=64)
    started = time.perf_counter()
    print("| requests | RSS MiB | threads | rows | waiting | cache columns | steps |")
    print("|---|---|---|---|---|---|---|")
    for count, rss, threads, stats in run(backend, args.requests, args.every):
        print(
            f"| {count} | {rss:.1f} | {threads} | {stats['rows']} | {stats['waiting']} "
            f"| {stats['cache_columns']} | {stats['steps']} |",
            flush=True,
        )
    backend.close()
    print(
        f"\n{args.requests} requests in {time.perf_counter() - started:.0f} s; threads after close: "
        f"{threading.active_count()}"
    )


if __name__ == "__main__":
    main()
