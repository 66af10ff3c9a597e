"""Every task through the real API, many seeds: do they all stream text without an error?

Start the app first (e.g. `python app.py --port 7860`, the bundled model, default settings), then

    python bench/tasks_check.py --url http://127.0.0.1:7860/ --seeds 20 [--parallel 8]

It calls `/story`, `/article_outline`, `/article` (topic only, and topic + an outline the app
drafted), and `/fewshot` with each preset, through `gradio_client`, with default settings and
seeds 1..N, and prints per call: runs, errors, empty outputs, mean characters and seconds.
Exit code 1 when any call failed or came back empty. Not a test: it takes minutes on CPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from gradio_client import Client

TOPIC = "Urban beekeeping"
FEWSHOT_INPUTS = {
    "Formal rewrite": "yo, meeting moved to 3, pls tell the others",
    "Product description": "Ceramic coffee mug, 350 ml, dishwasher safe, matte blue",
    "Headline": "The town's only bakery reopened on Saturday after a fire closed it for a year.",
}


def _calls(client: Client) -> dict[str, Callable[[int], str]]:
    """Name -> function(seed) returning the final text of one streamed call."""

    def final(api_name: str, *args: str, **kwargs: object) -> str:
        job = client.submit(*args, api_name=api_name, **kwargs)
        return job.result()[0]  # the final (text, status); raises what the server said on an error

    def article_with_outline(seed: int) -> str:
        outline = final("/article_outline", TOPIC, seed=seed)
        return final("/article", TOPIC, outline, seed=seed)

    calls: dict[str, Callable[[int], str]] = {
        "/story": lambda seed: final("/story", "Once upon a time", seed=seed),
        "/article_outline": lambda seed: final("/article_outline", TOPIC, seed=seed),
        "/article (topic only)": lambda seed: final("/article", TOPIC, seed=seed),
        "/article (topic + drafted outline)": article_with_outline,
    }
    for name, text in FEWSHOT_INPUTS.items():
        calls[f"/fewshot ({name})"] = lambda seed, n=name, t=text: final("/fewshot", t, n, seed=seed)
    return calls


def _timed(call: Callable[[int], str], seed: int) -> tuple[Exception | None, tuple[str, float]]:
    """(the error or None, (text, seconds)) of one call; errors are what a client would see."""
    started = time.perf_counter()
    try:
        text = call(seed)
    except Exception as error:
        return error, ("", 0.0)
    return None, (text, time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:7860/")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=1, help="seeds run at once (the batched engine)")
    parser.add_argument("--only", default="", help="run only the calls whose name contains this")
    args = parser.parse_args()
    client = Client(args.url, verbose=False)
    failed = 0
    print(f"{'call':40} {'runs':>4} {'errors':>6} {'empty':>5} {'chars':>7} {'s/run':>6}")
    for name, call in _calls(client).items():
        if args.only not in name:
            continue
        with ThreadPoolExecutor(args.parallel) as pool:
            runs = list(pool.map(lambda seed, c=call: _timed(c, seed), range(1, args.seeds + 1)))
        errors = [
            f"seed {seed}: {outcome}" for seed, (outcome, _) in enumerate(runs, 1) if outcome is not None
        ]
        sizes = [len(text) for outcome, (text, _) in runs if outcome is None]
        times = [took for outcome, (_, took) in runs if outcome is None]
        empty = sum(not text.strip() for outcome, (text, _) in runs if outcome is None)
        failed += len(errors) + empty
        mean_chars = statistics.mean(sizes) if sizes else 0
        mean_s = statistics.mean(times) if times else 0
        print(f"{name:40} {args.seeds:>4} {len(errors):>6} {empty:>5} {mean_chars:>7.0f} {mean_s:>6.1f}")
        for line in errors[:3]:
            print(f"    {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
