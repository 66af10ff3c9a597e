"""Abuse benchmark: one address floods the real app while another probes it, with and without a cap.

The app is started twice, one after the other, on loopback: "ours" with ``--max-per-visitor N``
and "uncapped" with a per-visitor cap no flood reaches. In each, `--flood` workers bound to
127.0.0.2 (a different visitor to the app) keep ``/story`` streams going for `--duration`
seconds (each worker resubmits as soon as its stream ends or is refused), while one client on
127.0.0.1 submits a probe every `--probe-every` seconds and waits for its first text. Clients
speak gradio's REST queue API (``POST /gradio_api/call/v2/story``, then the SSE stream of the
event) with httpx2 and a bound source address; no gradio_client, so the source can be chosen.

It prints one markdown table: probe TTFT p50/p95 and how many probes were refused, flood
streams accepted/refused, and the app's resident memory (VmRSS) before and after the flood.

    python bench/abuse.py                                  # house model (or a stand-in)
    python bench/abuse.py --model path --flood 200 --duration 60 --max-per-visitor 2

Not a test: it takes a few minutes. The target (issue 13): the probe's first token within
~1 s while one address floods. Both runs are the real app.py; the cap is `VisitorGate`, which
`ui.launch` installs (a refused join is HTTP 429 with our message).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve import OPENINGS, free_port  # noqa: E402  (bench/ is not a package)
from stream_overhead import ensure_model  # noqa: E402

FLOOD_ADDRESS = "127.0.0.2"
PROBE_ADDRESS = "127.0.0.1"
UNCAPPED = 1_000_000  # a per-visitor cap no flood reaches


@dataclass
class Tally:
    """What the clients saw in one run (appended to from many threads; list.append is atomic)."""

    probe_ttft_s: list[float] = field(default_factory=list)
    probe_refused: list[str] = field(default_factory=list)
    flood_ok: list[int] = field(default_factory=list)
    flood_refused: list[str] = field(default_factory=list)


def stream_once(client: httpx2.Client, base: str, story: str, tokens: int) -> tuple[float | None, str | None]:
    """Submit one /story call and read its stream: (seconds to the first text, refusal message)."""
    started = time.perf_counter()
    body = {"story": story, "max_new_tokens": tokens, "temperature": 0.0, "seed": 1}
    answer = client.post(f"{base}/gradio_api/call/v2/story", json=body)
    if answer.status_code != 200:
        return None, f"HTTP {answer.status_code}: {answer.text[:120]}"
    event_id = answer.json()["event_id"]
    first, event = None, ""
    with client.stream("GET", f"{base}/gradio_api/call/story/{event_id}") as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "error":
                return first, line[5:].strip()[:160] or "error"
            elif line.startswith("data:") and event == "generating" and first is None:
                data = json.loads(line[5:])
                if data and data[0]:
                    first = time.perf_counter() - started
    return first, None


def flood_worker(base: str, tokens: int, stop: threading.Event, tally: Tally, index: int) -> None:
    """Keep one stream going from the flooding address until `stop` is set."""
    transport = httpx2.HTTPTransport(local_address=FLOOD_ADDRESS)
    with httpx2.Client(transport=transport, timeout=600) as client:
        while not stop.is_set():
            try:
                _, refused = stream_once(client, base, OPENINGS[index % len(OPENINGS)], tokens)
            except httpx2.HTTPError as error:
                refused = f"{type(error).__name__}"
            (tally.flood_refused if refused else tally.flood_ok).append(refused or 1)
            if refused:
                time.sleep(0.2)  # a refused flooder retries, as a script would


def probe(base: str, tokens: int, every_s: float, stop: threading.Event, tally: Tally) -> None:
    """One probe every `every_s` seconds from the other address, each waited for to the end."""
    transport = httpx2.HTTPTransport(local_address=PROBE_ADDRESS)
    with httpx2.Client(transport=transport, timeout=600) as client:
        while not stop.is_set():
            began = time.monotonic()
            first, refused = stream_once(client, base, "The probe said hello and", tokens)
            if refused or first is None:
                tally.probe_refused.append(refused or "no text")
            else:
                tally.probe_ttft_s.append(first)
            stop.wait(max(0.0, every_s - (time.monotonic() - began)))


def rss_mb(pid: int) -> float:
    """Resident memory of `pid` in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_app(model: str, cap: int, args: argparse.Namespace, log: Path) -> tuple[subprocess.Popen, str]:
    """The app on a free port of 127.0.0.1 (127.0.0.2 reaches it too: all of 127/8 is loopback)."""
    port = free_port()
    command = [sys.executable, args.app, "--model", model, "--host", "127.0.0.1", "--port", str(port),
               "--max-batch-size", str(args.max_batch_size), "--max-queue", str(args.max_queue),
               "--max-per-visitor", str(cap)]  # fmt: skip
    env = {"PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    process = subprocess.Popen(
        command, cwd=REPO, env={**os.environ, **env}, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx2.get(base, timeout=2).status_code == 200:
                return process, base
        except httpx2.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"the app did not answer in 180 s:\n{log.read_text()[-3000:]}")


def run(model: str, cap: int, args: argparse.Namespace, log: Path) -> dict:
    """One app, one flood, one probe series; returns the row's figures."""
    process, base = start_app(model, cap, args, log)
    try:
        with httpx2.Client(timeout=600) as warm:
            stream_once(warm, base, "Warm up", args.tokens)
        before = rss_mb(process.pid)
        tally, stop = Tally(), threading.Event()
        flooders = [
            threading.Thread(target=flood_worker, args=(base, args.tokens, stop, tally, i), daemon=True)
            for i in range(args.flood)
        ]
        for worker in flooders:
            worker.start()
        time.sleep(args.settle)  # let the flood fill the queue before the first probe
        prober = threading.Thread(target=probe, args=(base, args.tokens, args.probe_every, stop, tally))
        prober.start()
        time.sleep(args.duration)
        stop.set()
        prober.join(timeout=600)
        for worker in flooders:
            worker.join(timeout=600)
        return {"tally": tally, "rss": (before, rss_mb(process.pid))}
    finally:
        process.terminate()
        process.wait(timeout=30)


def big_inputs(model: str, args: argparse.Namespace, log: Path) -> str:
    """`--big N`: N /story calls with a `--big-chars` story each (all refused); RSS after each 5."""
    process, base = start_app(model, args.max_per_visitor, args, log)
    story, sizes, reasons = "x" * args.big_chars, [rss_mb(process.pid)], Counter()
    try:
        with httpx2.Client(timeout=600) as client:
            for number in range(1, args.big + 1):
                _, refused = stream_once(client, base, story, args.tokens)
                if not refused:
                    return f"a {args.big_chars:,}-character story was not refused"
                reasons[refused[:90]] += 1
                if number % 5 == 0:
                    sizes.append(rss_mb(process.pid))
        return (
            f"{args.app}: {args.big} refused stories of {args.big_chars:,} characters, RSS MB every 5: "
            + " -> ".join(f"{s:.0f}" for s in sizes)
            + "".join(f"\n- {n} x {why}" for why, n in reasons.most_common(2))
        )
    finally:
        process.terminate()
        process.wait(timeout=30)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def row(name: str, result: dict) -> str:
    """One markdown table row."""
    tally, (before, after) = result["tally"], result["rss"]
    ttft = tally.probe_ttft_s
    probes = len(ttft) + len(tally.probe_refused)
    return (
        f"| {name} | {probes} | {statistics.median(ttft) if ttft else float('nan'):.2f} | "
        f"{percentile(ttft, 95):.2f} | {len(tally.probe_refused)} | {len(tally.flood_ok)} | "
        f"{len(tally.flood_refused)} | {before:.0f} → {after:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model")
    parser.add_argument("--flood", type=int, default=200, help="concurrent streams from the flooding address")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of probing under the flood")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds of flood before the first probe")
    parser.add_argument("--probe-every", type=float, default=2.0)
    parser.add_argument("--tokens", type=int, default=32, help="max_new_tokens of every request")
    parser.add_argument("--max-per-visitor", type=int, default=2, help="the cap of the 'ours' run")
    parser.add_argument("--max-batch-size", type=int, default=16)
    parser.add_argument("--max-queue", type=int, default=64)
    parser.add_argument("--only", choices=("ours", "uncapped"), help="run one app only")
    parser.add_argument("--app", default="app.py", help="the app script to start (e.g. a patched copy)")
    parser.add_argument("--big", type=int, default=0, help="only send N oversized stories and report RSS")
    parser.add_argument("--big-chars", type=int, default=10_000_000, help="characters of each --big story")
    args = parser.parse_args()
    model = ensure_model(args.model)
    logs = Path(tempfile.mkdtemp(prefix="nlg-abuse-"))
    if args.big:
        print(big_inputs(model, args, logs / "big.log"))
        return
    runs = [("ours", args.max_per_visitor), ("uncapped", UNCAPPED)]
    rows, reasons = [], []
    for name, cap in runs:
        if args.only and name != args.only:
            continue
        print(f"running {name} (--max-per-visitor {cap}); app log in {logs}", file=sys.stderr, flush=True)
        label = f"{name} (cap {cap if cap != UNCAPPED else 'none'})"
        result = run(model, cap, args, logs / f"{name}.log")
        rows.append(row(label, result))
        for who in ("probe", "flood"):
            seen = Counter(getattr(result["tally"], f"{who}_refused")).most_common(2)
            reasons.append(f"{label}, {who}: " + ("; ".join(f"{n} x {why}" for why, n in seen) or "none"))
    print(f"\n{args.flood} flood streams from {FLOOD_ADDRESS}, probe from {PROBE_ADDRESS} every "
          f"{args.probe_every:g} s for {args.duration:g} s, {args.tokens} tokens each, "
          f"batch {args.max_batch_size}, queue {args.max_queue}\n")  # fmt: skip
    print(
        "| app | probes | probe TTFT p50 (s) | p95 (s) | probes refused | flood ok | flood refused | RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for line in rows:
        print(line)
    print("\nMost frequent refusals:")
    for line in reasons:
        print(f"- {line}")


if __name__ == "__main__":
    main()
