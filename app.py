"""Start the NLG Assistant web app.

    python app.py --model path/or/hub-id [--device auto|cpu|cuda] [--port 7860] [--engine batched|simple]
    python app.py --model path/or/hub-id --engine simple --static-cache   # one writer, lowest latency (GPU)
    python app.py --backend openai --base-url http://localhost:8000/v1 --model served-name

Without --model the NLG_MODEL environment variable is used, then the house model in
assets/models/storyteller. NLG_ARGS holds more flags (a Hugging Face Space runs app.py without
any), read before the command line's. On Spaces (SPACE_ID set) the app binds 0.0.0.0.
NLG_AUTH holds login pairs (user:password,user2:password2; on Spaces a secret), never a flag;
--auth-file reads them from a file instead. docs/security.md lists what a public app should set.
Exit code 2 when the options are invalid, the port is taken, or the model cannot be loaded.
"""

import argparse
import errno
import os
import shlex
import socket
import sys

EXIT_BAD_START = 2


def _parser() -> argparse.ArgumentParser:
    """The command-line flags (defaults come from `AppConfig`)."""
    from nlg_assistant.config import LANGUAGES, AppConfig

    d = AppConfig()
    parser = argparse.ArgumentParser(prog="python app.py", description="Start the NLG Assistant web app.")
    parser.add_argument(
        "--model", help="local model folder or hub id (default: $NLG_MODEL, then the house model)"
    )
    parser.add_argument("--device", default=d.device, help="auto, cpu or cuda")
    parser.add_argument("--host", help=f"address to bind (default {d.host}; 0.0.0.0 on Spaces)")
    parser.add_argument("--port", type=int, default=d.port)
    parser.add_argument("--share", action="store_true", help="also open a public gradio share link")
    parser.add_argument(
        "--mcp",
        action="store_true",
        help="also serve the tasks as MCP tools (for Claude Desktop, Cursor...) at /gradio_api/mcp/",
    )
    parser.add_argument(
        "--lang",
        default=d.lang,
        choices=LANGUAGES,
        help="language of the API's status lines and errors (en or zh); the web page follows the browser",
    )
    parser.add_argument(
        "--max-new-tokens-cap",
        type=int,
        default=d.max_new_tokens_cap,
        help="server-side limit on max_new_tokens, whatever a client asks for",
    )
    parser.add_argument("--engine", default=d.engine, help="batched (many users at once) or simple")
    parser.add_argument(
        "--static-cache",
        action="store_true",
        help="with --engine simple: a static KV cache; on a CUDA GPU transformers then compiles the "
        "decode step, so the first request of each cache size waits for the compile and later ones "
        "decode faster (lowest latency for one writer at a time)",
    )
    parser.add_argument("--max-batch-size", type=int, default=d.max_batch_size)
    parser.add_argument("--max-queue", type=int, default=d.max_queue)
    parser.add_argument("--backend", default=d.backend, help="local (in-process model) or openai (a server)")
    parser.add_argument("--base-url", help="OpenAI-compatible server URL for --backend openai")
    parser.add_argument("--api-key-env", help="environment variable holding the API key for --backend openai")
    parser.add_argument(
        "--chat",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="--backend openai: use chat completions (--no-chat: plain completions); default: ask the server",
    )
    parser.add_argument(
        "--request-timeout-s",
        type=float,
        default=d.request_timeout_s,
        help="seconds to wait for the next token before giving up on a request",
    )
    _add_sharing_flags(parser, d)
    return parser


def _add_sharing_flags(parser: argparse.ArgumentParser, d) -> None:
    """The flags that make a public link safe to share (docs/security.md)."""
    group = parser.add_argument_group("sharing safely (see docs/security.md)")
    group.add_argument(
        "--auth-file",
        help="file of user:password lines ('#' comments) required to log in; or set NLG_AUTH "
        "(user:password pairs, comma-separated), e.g. as a Space secret",
    )
    # Only to refuse it by name: argparse would otherwise read --auth as --auth-file (a prefix).
    group.add_argument("--auth", help=argparse.SUPPRESS)
    group.add_argument(
        "--max-input-chars", type=int, default=d.max_input_chars, help="longest text field accepted"
    )
    group.add_argument(
        "--max-per-visitor",
        type=int,
        default=d.max_per_visitor,
        help="requests one visitor (address) may have running or queued at once",
    )
    group.add_argument(
        "--trust-proxy",
        action="store_true",
        help="behind one proxy that appends to X-Forwarded-For (Hugging Face Spaces): tell visitors "
        "apart by the header's last entry",
    )
    group.add_argument(
        "--show-backend-host",
        action="store_true",
        help="--backend openai: show the model server's host in the header (default: 'remote server')",
    )
    group.add_argument("--max-upload-mb", type=float, default=d.max_upload_mb, help="largest upload accepted")


def _config(args: argparse.Namespace):
    """`AppConfig` from the flags and the environment; raises `ValueError` naming a bad option."""
    from nlg_assistant.config import AppConfig

    host = args.host or ("0.0.0.0" if os.environ.get("SPACE_ID") else AppConfig.host)
    return AppConfig(
        model=args.model or os.environ.get("NLG_MODEL") or None,
        device=args.device,
        host=host,
        port=args.port,
        share=args.share,
        mcp=args.mcp,
        lang=args.lang,
        max_new_tokens_cap=args.max_new_tokens_cap,
        backend=args.backend,
        engine=args.engine,
        static_cache=args.static_cache,
        base_url=args.base_url,
        api_key_env=args.api_key_env,
        chat=args.chat,
        request_timeout_s=args.request_timeout_s,
        max_batch_size=args.max_batch_size,
        max_queue=args.max_queue,
        max_input_chars=args.max_input_chars,
        max_per_visitor=args.max_per_visitor,
        trust_proxy=args.trust_proxy,
        show_backend_host=args.show_backend_host,
        max_upload_mb=args.max_upload_mb,
        auth=_auth(args, os.environ.get("NLG_AUTH", "")),
    )


def _auth(args: argparse.Namespace, env_value: str) -> tuple[tuple[str, str], ...]:
    """Login pairs from --auth-file or NLG_AUTH (not both); () = no login. `ValueError` if unusable."""
    from nlg_assistant.auth import parse_auth_env, parse_auth_file

    if args.auth is not None:
        raise ValueError(
            "--auth is not taken: a password on the command line is visible to every user of this "
            "machine; set NLG_AUTH (user:password,...) or use --auth-file"
        )
    auth_file = args.auth_file
    if auth_file and env_value.strip():
        raise ValueError("set NLG_AUTH or --auth-file, not both")
    if env_value.strip():
        return parse_auth_env(env_value)
    if not auth_file:
        return ()
    try:
        with open(auth_file, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"--auth-file {auth_file}: cannot read it ({error.__class__.__name__})") from None
    return parse_auth_file(text, auth_file)


def _port_problem(host: str, port: int) -> str | None:
    """Why the app could not listen on `host:port` (naming the flag to change), or None if it can.

    Checked before the model loads, with SO_REUSEADDR as the web server sets it, so a port left
    in TIME_WAIT by a previous run is not reported as taken.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return f"Port {port} is in use; pick another with --port"
            if error.errno == errno.EACCES:
                return f"Port {port} needs more privileges; pick one above 1023 with --port"
            return f"cannot listen on {host}:{port} ({error.strerror}); check --host and --port"
    return None


def _arguments(argv: list[str] | None) -> list[str]:
    """`$NLG_ARGS` split like a shell would, then the command line's flags (which win over it).

    A Hugging Face Space runs `python app.py` without flags: its owner sets them in NLG_ARGS.
    Raises `ValueError` for an unclosed quote.
    """
    command_line = sys.argv[1:] if argv is None else argv
    return [*shlex.split(os.environ.get("NLG_ARGS", "")), *command_line]


def _fail(message: str) -> None:
    """Print `message` to stderr and exit with code 2 (no traceback)."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(EXIT_BAD_START)


def main(argv: list[str] | None = None) -> None:
    """Parse flags, load the backend, build the UI and serve it until interrupted."""
    try:
        arguments = _arguments(argv)
    except ValueError as error:
        _fail(f"could not read NLG_ARGS: {error}")
    args = _parser().parse_args(arguments)
    try:
        config = _config(args)
    except ValueError as error:
        _fail(str(error))
    problem = _port_problem(config.host, config.port)
    if problem:
        _fail(problem)
    from nlg_assistant.auth import describe
    from nlg_assistant.backend import GenerationError
    from nlg_assistant.factory import build_backend
    from nlg_assistant.models import ModelLoadError

    what = config.model or "the default model"
    if config.backend == "openai":
        from nlg_assistant.redact import redact_url

        what += f" from {redact_url(config.base_url or '')}"  # the operator's console: host, no credentials
    print(f"Loading {what} ({config.backend}, device {config.device}; {describe(config.auth)})…", flush=True)
    try:
        backend = build_backend(config)
    except (ModelLoadError, GenerationError, ValueError) as error:
        _fail(f"could not load {what}: {error}")
    from nlg_assistant.ui import build_ui, launch

    launch(build_ui(backend, config), config)


if __name__ == "__main__":
    main()
