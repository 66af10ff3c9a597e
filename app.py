"""Start the NLG Assistant web app.

    python app.py --model path/or/hub-id [--device auto|cpu|cuda] [--port 7860] [--engine batched|simple]
    python app.py --model path/or/hub-id --engine simple --static-cache   # one writer, lowest latency (GPU)
    python app.py --backend openai --base-url http://localhost:8000/v1 --model served-name

Without --model the NLG_MODEL environment variable is used, then the house model in
assets/models/storyteller. NLG_ARGS holds more flags (a Hugging Face Space runs app.py without
any), read before the command line's. On Spaces (SPACE_ID set) the app binds 0.0.0.0.
Exit code 2 when the options are invalid or the model cannot be loaded.
"""

import argparse
import os
import shlex
import sys

EXIT_BAD_START = 2


def _parser() -> argparse.ArgumentParser:
    """The command-line flags (defaults come from `AppConfig`)."""
    from nlg_assistant.config import AppConfig

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
    return parser


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
    )


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
    from nlg_assistant.backend import GenerationError
    from nlg_assistant.factory import build_backend
    from nlg_assistant.models import ModelLoadError

    what = config.model or "the default model"
    print(f"Loading {what} ({config.backend}, device {config.device})…", flush=True)
    try:
        backend = build_backend(config)
    except (ModelLoadError, GenerationError, ValueError) as error:
        _fail(f"could not load {what}: {error}")
    from nlg_assistant.ui import build_ui, launch

    launch(build_ui(backend, config), config)


if __name__ == "__main__":
    main()
