"""Start `app.py` in a subprocess on a free loopback port, for the server and browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AppServer:
    """A running `python app.py ...` process and its URL; `log()` reads what it printed."""

    process: subprocess.Popen
    url: str
    log_path: Path

    def log(self) -> str:
        """Everything the app printed so far (stdout and stderr)."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        """Terminate the app (kill it if it does not exit in 10 s)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def run_app(
    args: list[str], log_path: Path, timeout_s: float = 30.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run app.py to completion (for start-up failures), with `env` added; output captured as text."""
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "app.py"), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**_env(), **(env or {})},
    )


def start_app(
    args: list[str], log_path: Path, timeout_s: float = 120.0, env: dict[str, str] | None = None
) -> AppServer:
    """Start app.py with `args` (and `env` added) on a free port and wait until it answers HTTP."""
    port = free_port()
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "app.py"), *args, "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**_env(), **(env or {})},
        )
    server = AppServer(process, f"http://127.0.0.1:{port}/", log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with {process.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(server.url, timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"app.py did not answer within {timeout_s} s:\n{server.log()}")


def _env() -> dict[str, str]:
    """The environment for the app: no hub or analytics traffic, unbuffered output, none of our variables."""
    ours = ("SPACE_ID", "NLG_MODEL", "NLG_ARGS")
    env = {key: value for key, value in os.environ.items() if key not in ours}
    env.update(
        PYTHONUNBUFFERED="1",
        HF_HUB_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        NO_PROXY="127.0.0.1,localhost",
    )
    return env


def launch_behind(demo, middleware) -> str:
    """Launch the gradio `demo` on a free loopback port behind an ASGI `middleware`; returns its URL."""
    port = free_port()
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        app_kwargs={"middleware": [middleware]},
    )
    return f"http://127.0.0.1:{port}"
