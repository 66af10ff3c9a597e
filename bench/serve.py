"""Serving benchmark: the real app, N concurrent `gradio_client` streams, batched engine vs simple.

It starts `python app.py --model M --engine E --port P` for both engines side by side, waits
until they answer and warms them up. Then for N = 1, 4, 8, 16 it submits N `/story` calls at
once (a round), each asking for the same number of new tokens (by default the app's own
default, 200; greedy, so both engines write the same tokens). Rounds alternate between the
two apps (ours, baseline, baseline, ours, ...), at least `--rounds` each, so a slow spell of
a shared machine hits both. Per stream it records the time to the first non-empty text and to
the end, and the token count from the final status line. It prints one markdown table:
aggregate tokens/s, the ours/baseline ratio (overall and the lowest and highest of one round
against the baseline round beside it), median per-stream tokens/s, TTFT p50/p95, CPU use.

    python bench/serve.py                          # house model, or a random stand-in of its shape
    python bench/serve.py --model path --tokens 64 --streams 1,4,8,16 --threads 2 --rounds 5

Not a test: it takes a few minutes. Targets on 2 cores: at N=8 aggregate >= 4x the simple
engine, TTFT p95 < 1 s.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_overhead import ensure_model  # noqa: E402  (bench/ is not a package)

sys.path.insert(0, str(REPO))
from nlg_assistant.config import GenerationSettings  # noqa: E402  (pure Python: no torch here)

APP_DEFAULT_TOKENS = GenerationSettings().max_new_tokens  # a story request as the app sends it

OPENINGS = [
    "Once upon a time, in a small village at the edge of a great forest, there lived a girl who",
    "The old lighthouse keeper had not seen a ship in years, until one stormy night",
    "Tom and his sister found a map in the attic. It showed",
    "Far away, beyond the mountains,",
    "The little fox was hungry, so he crept towards the farmer's house and",
    "Nobody in the town believed the baker when she said that her bread could talk, but",
]
TOKENS_IN_STATUS = re.compile(r"^(\d+) tokens")
POLL_S = 0.005  # how often the monitor looks at the jobs (one thread for all streams)


@dataclass
class StreamTiming:
    """One stream's measurements, in seconds from its submission."""

    first_text_s: float
    total_s: float
    tokens: int


@dataclass
class App:
    """A running app under test and a connected client."""

    engine: str
    process: subprocess.Popen
    client: object


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(model: str, engine: str, port: int, batch: int, args, log: Path) -> subprocess.Popen:
    """Start the app in its own process, with `args.threads` / `args.omp_wait_policy` for OpenMP if set."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    if args.omp_wait_policy:  # PASSIVE: idle OpenMP threads sleep instead of spinning (shared machines)
        env["OMP_WAIT_POLICY"] = args.omp_wait_policy
    # every stream comes from this one address but stands for a writer of its own: the app's
    # per-visitor cap (2 by default) would refuse all but two of them at the door
    command = [sys.executable, "app.py", "--model", model, "--engine", engine, "--port", str(port),
               "--max-batch-size", str(batch), "--max-queue", str(4 * batch),
               "--max-per-visitor", str(batch)]  # fmt: skip
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def connect(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 180.0):
    """A `gradio_client.Client` once the app answers; fails with the app's log if it died."""
    from gradio_client import Client

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            # plain http on loopback: no TLS, but gradio_client builds a certificate-verifying SSL
            # context for every submit (~35 ms of CPU each), which made the bench's own client
            # the bottleneck for 8+ simultaneous submits on 2 cores
            return Client(url, verbose=False, ssl_verify=False)
        except Exception:  # not listening yet
            time.sleep(0.5)
    raise RuntimeError(f"the app did not answer within {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


def run_round(client, streams: int, tokens: int, temperature: float) -> tuple[list[StreamTiming], float]:
    """Submit `streams` /story calls at once; return per-stream timings and the round's wall time."""
    started = time.perf_counter()
    jobs = [
        client.submit(
            OPENINGS[i % len(OPENINGS)],
            max_new_tokens=tokens,
            temperature=temperature,
            seed=i,
            api_name="/story",
        )
        for i in range(streams)
    ]
    first: list[float | None] = [None] * streams
    ended: list[float | None] = [None] * streams
    while any(end is None for end in ended):
        now = time.perf_counter() - started
        for i, job in enumerate(jobs):
            if first[i] is None and any(output[0] for output in job.outputs()):
                first[i] = now
            if ended[i] is None and job.done():
                ended[i] = now
        time.sleep(POLL_S)
    wall = time.perf_counter() - started
    timings = []
    for i, job in enumerate(jobs):
        _, status = job.result()
        match = TOKENS_IN_STATUS.match(status)
        if not match:
            raise RuntimeError(f"unexpected status line from the app: {status!r}")
        first_text = first[i] if first[i] is not None else ended[i]
        timings.append(StreamTiming(first_text, ended[i], int(match.group(1))))
    return timings, wall


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc), 0.0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@dataclass
class Tally:
    """One engine's rounds at one stream count, added up."""

    samples: list[StreamTiming] = field(default_factory=list)
    tokens: int = 0
    wall_s: float = 0.0
    app_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    round_rates: list[float] = field(default_factory=list)  # aggregate tok/s of each round

    def run_round(self, app: App, streams: int, args) -> None:
        """One round of `streams` concurrent calls to `app`, added to the tally."""
        cpu_before, client_before = cpu_seconds(app.process.pid), time.process_time()
        timings, wall = run_round(app.client, streams, args.tokens, args.temperature)
        tokens = sum(t.tokens for t in timings)
        self.samples += timings
        self.tokens += tokens
        self.wall_s += wall
        self.app_cpu_s += cpu_seconds(app.process.pid) - cpu_before
        self.client_cpu_s += time.process_time() - client_before
        self.round_rates.append(tokens / wall)

    def summary(self) -> dict[str, float]:
        """Aggregate and per-stream tok/s, TTFT p50/p95, app CPU per token, client cores.

        `cpu_ms_per_token` is the app's CPU time per generated token: unlike tokens/s it does not
        depend on what else the machine is running. `client_cores` is the CPU this process (the
        gradio_client streams) used per wall second: on a small machine it competes with the app.
        """
        first = sorted(t.first_text_s for t in self.samples)
        per_stream = [t.tokens / max(t.total_s - t.first_text_s, 1e-9) for t in self.samples]
        return {
            "aggregate": self.tokens / self.wall_s,
            "per_stream": statistics.median(per_stream),
            "ttft_p50": _percentile(first, 50),
            "ttft_p95": _percentile(first, 95),
            "cpu_ms_per_token": 1000 * self.app_cpu_s / max(self.tokens, 1),
            "client_cores": self.client_cpu_s / self.wall_s,
        }


def measure_pair(apps: list[App], streams: int, args) -> dict[str, dict[str, float]]:
    """Rounds of `streams` concurrent calls, alternating the two apps round by round.

    Each engine runs at least `args.rounds` rounds and `args.min_samples` streams. Alternating
    (ours, baseline, baseline, ours, ...) means a slow spell of a shared machine hits both
    engines alike; `ratio_low`/`ratio_high` are the smallest and largest ratio of one round of
    ours to the baseline round next to it, so the table shows how much the machine moved.
    """
    tallies = {app.engine: Tally() for app in apps}
    rounds = max(args.rounds, math.ceil(args.min_samples / streams))
    for number in range(rounds):
        for app in apps if number % 2 == 0 else apps[::-1]:
            tallies[app.engine].run_round(app, streams, args)
    results = {engine: tally.summary() for engine, tally in tallies.items()}
    pairs = zip(tallies["batched"].round_rates, tallies["simple"].round_rates, strict=True)
    ratios = [ours / base for ours, base in pairs]
    results["batched"]["ratio_low"], results["batched"]["ratio_high"] = min(ratios), max(ratios)
    return results


def _percentile(ordered: list[float], q: float) -> float:
    """The q-th percentile of sorted values (nearest rank)."""
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def start_apps(args) -> list[App]:
    """Start the batched and the simple app side by side and connect to both (warmed up)."""
    apps = []
    for engine in ("batched", "simple"):
        port = free_port()
        log = Path(tempfile.gettempdir()) / f"nlg-bench-serve-{engine}-{port}.log"
        process = start_app(args.model, engine, port, max(args.streams), args, log)
        apps.append(App(engine, process, None))
        apps[-1].client = connect(f"http://127.0.0.1:{port}/", process, log)
        run_round(apps[-1].client, 2, 8, args.temperature)  # warm-up: first forward passes, imports
    return apps


def stop_apps(apps: list[App]) -> None:
    """Stop the app processes this benchmark started."""
    for app in apps:
        if app.client is not None:
            app.client.close()
        app.process.terminate()
        try:
            app.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            app.process.kill()


def bench(args) -> dict[str, dict[int, dict[str, float]]]:
    """For each stream count, alternate rounds between the batched and the simple app."""
    apps: list[App] = []
    results: dict[str, dict[int, dict[str, float]]] = {"batched": {}, "simple": {}}
    try:
        apps = start_apps(args)
        for streams in args.streams:
            for engine, row in measure_pair(apps, streams, args).items():
                results[engine][streams] = row
                print(f"  {engine:8s} N={streams:<3d} aggregate {row['aggregate']:.0f} tok/s, "
                      f"TTFT p95 {row['ttft_p95']:.2f} s, app CPU {row['cpu_ms_per_token']:.2f} ms/token",
                      file=sys.stderr, flush=True)  # fmt: skip
    finally:
        stop_apps(apps)
    return results


def table(ours: dict, base: dict, args) -> str:
    """Markdown: one row per stream count, both engines side by side."""
    policy = f", OMP_WAIT_POLICY={args.omp_wait_policy}" if args.omp_wait_policy else ""
    lines = [
        f"Model `{Path(args.model).name}`, {args.tokens} new tokens per stream, at least {args.rounds} "
        "rounds per engine and stream count, alternating engines round by round, temperature "
        f"{args.temperature}, torch threads {args.threads or 'default'}{policy}, {os.cpu_count()} CPU cores "
        f"(1-min load average at the end: {os.getloadavg()[0]:.1f}); "
        "baseline = `--engine simple` (one generate per request, one at a time).",
        "",
        "| streams | aggregate tok/s ours | aggregate tok/s baseline | ours/baseline | per round "
        "| per-stream tok/s ours | per-stream tok/s baseline "
        "| TTFT p50/p95 ours (s) | TTFT p50/p95 baseline (s) | app CPU ms/token ours / baseline "
        "| client CPU (cores) ours / baseline |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in args.streams:
        o, b = ours[n], base[n]
        lines.append(
            f"| {n} | {o['aggregate']:.0f} | {b['aggregate']:.0f} | {o['aggregate'] / b['aggregate']:.2f}x "
            f"| {o['ratio_low']:.2f} to {o['ratio_high']:.2f}x "
            f"| {o['per_stream']:.0f} | {b['per_stream']:.0f} "
            f"| {o['ttft_p50']:.2f} / {o['ttft_p95']:.2f} | {b['ttft_p50']:.2f} / {b['ttft_p95']:.2f} "
            f"| {o['cpu_ms_per_token']:.2f} / {b['cpu_ms_per_token']:.2f} "
            f"| {o['client_cores']:.2f} / {b['client_cores']:.2f} |"
        )
    return "\n".join(lines)


def drive_in_process(
    backend, streams: int, settings, one_at_a_time: bool = False
) -> tuple[int, float, float]:
    """`streams` concurrent requests straight to `backend`; (tokens, wall s, process CPU s).

    `one_at_a_time` queues the requests behind one lock, as the app's queue does for the simple
    engine (concurrency 1): several `generate` calls at once would only fight over the cores.
    """
    import contextlib
    import threading

    from nlg_assistant.backend import Prompt

    counts: list[int] = []
    turn = threading.Lock() if one_at_a_time else contextlib.nullcontext()

    def consume(i: int) -> None:
        """Stream one request to its end (its own thread, like a UI worker)."""
        with turn:
            stream = backend.start(Prompt(document=OPENINGS[i % len(OPENINGS)]), settings)
            for _ in stream:
                pass
        counts.append(stream.result.generated_tokens)

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(streams)]
    wall, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts), time.perf_counter() - wall, time.process_time() - cpu


def in_process(args) -> str:
    """The same workload straight against both backends in this process (no web layer), as markdown.

    Separates the engine's own gain from what gradio and HTTP streaming cost per token.
    """
    if args.omp_wait_policy:  # read when torch's OpenMP starts, so before the import
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy
    import torch

    from nlg_assistant.config import GenerationSettings
    from nlg_assistant.engine import BatchedBackend
    from nlg_assistant.generation import LocalBackend
    from nlg_assistant.models import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    loaded = load_model(args.model, "auto")
    engines = {
        "batched": lambda: BatchedBackend(loaded, max_batch_size=max(args.streams)),
        "simple": lambda: LocalBackend(loaded),
    }
    settings = GenerationSettings(max_new_tokens=args.tokens, temperature=args.temperature, seed=0)
    lines = [
        "| streams | tok/s batched | tok/s simple | ratio | CPU ms/token batched / simple |",
        "|---|---|---|---|---|",
    ]
    for streams in args.streams:
        row = {name: _in_process_run(make(), name, streams, settings) for name, make in engines.items()}
        ours, base = row["batched"], row["simple"]
        lines.append(
            f"| {streams} | {ours[0]:.0f} | {base[0]:.0f} | {ours[0] / base[0]:.2f}x "
            f"| {ours[1]:.2f} / {base[1]:.2f} |"
        )
    return "\n".join(lines)


def _in_process_run(backend, name: str, streams: int, settings) -> tuple[float, float]:
    """Warm up, then drive `backend` with `streams` requests; (tok/s, CPU ms per token).

    The batched engine is closed afterwards: while its scheduler thread lives, its OpenMP
    thread pool counts against the cores and libgomp stops spin-waiting in every other thread's
    pool, which made the simple engine here run at about 40% of its speed (measured 111 vs 290
    tok/s on 2 cores). The app has one engine per process, so it never meets this.
    """
    one_at_a_time = name == "simple"  # as the app serves it: one request at a time
    drive_in_process(backend, min(streams, 2), settings, one_at_a_time)  # warm-up
    tokens, wall, cpu = drive_in_process(backend, streams, settings, one_at_a_time)
    if hasattr(backend, "close"):
        backend.close()
    return tokens / wall, 1000 * cpu / tokens


def main(argv: list[str] | None = None) -> None:
    """Benchmark both engines in one run and print the markdown table."""
    parser = argparse.ArgumentParser(description="Serving benchmark: batched vs simple engine")
    parser.add_argument("--model", default=None, help="model folder or id (default: house model or stand-in)")
    parser.add_argument("--streams", default="1,4,8,16")
    parser.add_argument(
        "--tokens",
        type=int,
        default=APP_DEFAULT_TOKENS,
        help=f"new tokens per stream (default {APP_DEFAULT_TOKENS}, the app's own default)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per engine and stream count, at least")
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS for the app (0 = unset)")
    parser.add_argument("--min-samples", type=int, default=8, help="streams measured per stream count")
    parser.add_argument("--omp-wait-policy", default="", help="OMP_WAIT_POLICY for the app, e.g. PASSIVE")
    parser.add_argument("--skip-in-process", action="store_true", help="only the app benchmark")
    args = parser.parse_args(argv)
    args.streams = [int(n) for n in args.streams.split(",")]
    args.model = ensure_model(args.model)
    results = bench(args)
    print(table(results["batched"], results["simple"], args))
    if not args.skip_in_process:
        print("\nThe same workload in-process, without the web layer (engine alone):\n")
        print(in_process(args))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
