"""What the writer's desk costs the server per streamed token: a browser's stream vs an API stream.

While the story tab streams into its document, the desk keeps an autosave (fields, history and span
sent back into `gr.BrowserState`) and a counts line (the document and the prompt tokenised); both wait
for the tab to settle (`ui/settle.py`). `bench/serve.py` drives the API, which has neither. This
starts the real app once, then alternates rounds: one story generation clicked in headless Chromium
(a document of `--chars` characters with `--steps` undo steps in its history), and the same request
(same seed) through `gradio_client`. It prints the app's CPU time per generated token for each (from
/proc) and how many requests the page sent per generation. The app runs on the first core and
Chromium and the client on the others: sharing cores, the browser's own rendering slows the app's
torch threads, which is not the desk's cost (`--shared-cores` measures that way anyway).

    python bench/desk_stream.py                     # house model, or a random stand-in of its shape
    python bench/desk_stream.py --chars 8000 --steps 20 --tokens 200 --rounds 3

Target: the browser's CPU per token within 5% of the API's (the desk must not slow streaming).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO / "tests"))
from pagekit import set_number, set_seed, status_line  # noqa: E402
from serve import cpu_seconds  # noqa: E402  (bench/ is not a package)
from stream_overhead import ensure_model  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SENTENCE = "The little fox walked through the quiet wood and listened to the birds. "
TOKENS_IN_STATUS = re.compile(r"(\d+) tokens")


def tokens_in(status: str) -> int:
    """The token count of a finished generation's status line (an error or refusal stops the bench)."""
    print(f"  {status}", file=sys.stderr, flush=True)
    match = TOKENS_IN_STATUS.search(status)
    if "finish:" not in status or match is None:
        raise RuntimeError(f"the generation did not finish: {status!r}")
    return int(match.group(1))


def story_of(chars: int) -> str:
    """A plain story of about `chars` characters."""
    return (SENTENCE * (chars // len(SENTENCE) + 1))[:chars].rstrip() + "."


def _status(page) -> str:
    return status_line(page, "story")


def _click_and_wait(page, button: str, seed: int | None = None, timeout_s: float = 600) -> str:
    """Click the story tab's `button`; its status line once the generation it started finished.

    The status line first has to change: on a busy machine the new generation starts late, and
    the line still says how the last one finished (gradio's progress overlay may show above that
    old line first). With a `seed` (typed into the Seed box), the new line is the one that names it.
    """
    before, deadline = _status(page), time.monotonic() + timeout_s
    page.locator(f"#story-{button}").click()
    while time.monotonic() < deadline and _status(page) == before:
        page.wait_for_timeout(20)
    while time.monotonic() < deadline:
        status = _status(page)
        finished = "finish:" in status and (seed is None or re.search(rf"seed {seed}\b", status))
        if finished or status.startswith("⚠"):
            return status
        page.wait_for_timeout(50)
    raise RuntimeError("the generation did not finish")


def prepare_page(page, url: str, story: str, steps: int, tokens: int) -> None:
    """Open the app, type `story` and make `steps` undo steps (short generations), then settle."""
    page.goto(url)
    page.locator("#story-generate").wait_for()
    page.locator("#story-document textarea").fill(story)
    set_number(page, "Max new tokens", 2)
    for _ in range(steps):
        _click_and_wait(page, "continue")
    page.locator("#story-reject").click()
    page.wait_for_timeout(500)
    set_number(page, "Max new tokens", tokens)
    page.wait_for_timeout(1500)  # the autosave and counts of the preparation are done


def browser_round(page, pid: int, requests: list, seed: int) -> tuple[float, int, int]:
    """One Continue clicked in the page: (app CPU s, tokens, requests the page sent meanwhile)."""
    page.locator("#story-reject").click()  # the previous round's text goes: same document each round
    set_seed(page, seed)
    page.wait_for_timeout(1000)
    sent, cpu = len(requests), cpu_seconds(pid)
    status = _click_and_wait(page, "continue", seed)
    page.wait_for_timeout(1000)  # the last autosave and counts land
    return cpu_seconds(pid) - cpu, tokens_in(status), len(requests) - sent


def api_round(client, pid: int, story: str, tokens: int, seed: int) -> tuple[float, int]:
    """The same request through `/story` (same seed: the same text): (app CPU s, tokens)."""
    cpu = cpu_seconds(pid)
    _, status = client.predict(story, max_new_tokens=tokens, seed=seed, api_name="/story")
    time.sleep(1.0)  # as the browser round waits after its end
    return cpu_seconds(pid) - cpu, tokens_in(status)


def main(argv: list[str] | None = None) -> None:
    """Run the rounds and print a markdown table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None, help="model folder (default: house model or stand-in)")
    parser.add_argument("--chars", type=int, default=8000, help="characters in the document")
    parser.add_argument("--steps", type=int, default=20, help="undo steps in its history")
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--shared-cores",
        action="store_true",
        help="let the app, Chromium and the client share every core (default: the app on one core)",
    )
    args = parser.parse_args(argv)
    from appserver import start_app
    from gradio_client import Client
    from playwright.sync_api import sync_playwright

    model, story = ensure_model(args.model), story_of(args.chars)
    log = Path(tempfile.gettempdir()) / "nlg-bench-desk-stream.log"
    cores = sorted(os.sched_getaffinity(0))
    split = not args.shared_cores and len(cores) >= 2
    if split:  # the app (a child: it inherits this) on the first core, everything started later on the rest
        os.sched_setaffinity(0, cores[:1])
    app = start_app(["--model", model, "--engine", "batched"], log)
    if split:
        os.sched_setaffinity(0, cores[1:])
    results: dict[str, list[float]] = {"browser": [], "api": []}
    requests: list[str] = []
    try:
        client = Client(app.url, verbose=False, ssl_verify=False)
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.set_default_timeout(600_000)
            page.on("request", lambda r: requests.append(r.url) if r.method == "POST" else None)
            prepare_page(page, app.url, story, args.steps, args.tokens)
            sent_counts = []
            for seed in range(1, args.rounds + 1):
                cpu, tokens, sent = browser_round(page, app.process.pid, requests, seed)
                results["browser"].append(1000 * cpu / tokens)
                sent_counts.append(sent)
                cpu, tokens = api_round(client, app.process.pid, story, args.tokens, seed)
                results["api"].append(1000 * cpu / tokens)
            chromium.close()
        client.close()
    finally:
        app.stop()
    print(report(args, results, sent_counts))


def report(args, results: dict[str, list[float]], sent_counts: list[int]) -> str:
    """A markdown table: median app CPU ms per token for each path, their ratio, requests per round."""
    browser, api = statistics.median(results["browser"]), statistics.median(results["api"])
    rounds = {path: ", ".join(f"{v:.2f}" for v in values) for path, values in results.items()}
    verdict = "meets" if browser / api <= 1.05 else "MISSES"
    return "\n".join(
        [
            f"{args.tokens} tokens per round, {args.rounds} rounds alternating, a {args.chars:,}-character "
            f"document with {args.steps} undo steps; the page sent {statistics.median(sent_counts):.0f} "
            "requests per generation (median); "
            + ("every core shared" if args.shared_cores else "the app on one core, Chromium on the others"),
            "",
            "| path | app CPU ms/token (median) | rounds |",
            "|---|---|---|",
            f"| browser (desk: autosave, counts) | {browser:.2f} | {rounds['browser']} |",
            f"| API (`/story`) | {api:.2f} | {rounds['api']} |",
            "",
            f"Browser / API: {browser / api:.3f} ({verdict} the 5% target)",
        ]
    )


if __name__ == "__main__":
    main()
