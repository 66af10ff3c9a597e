"""Command line: stream one task's output to stdout (for scripts and quick checks).

    python -m nlg_assistant story "Once upon a time" --max-new-tokens 40 --model path/or/hub-id
    python -m nlg_assistant outline "Urban beekeeping" --audience beginners
    python -m nlg_assistant article "Urban beekeeping" --length-words 450
    python -m nlg_assistant fewshot "hey u coming?" --preset "Formal rewrite"
    python -m nlg_assistant fewshot "wool hat" --example "steel bottle=>A sleek bottle." --example ...
    python -m nlg_assistant story "Once" --backend openai --base-url http://localhost:8000/v1 --model NAME
    python -m nlg_assistant story "从前" --lang zh      # the status line and errors in Chinese

The tasks, their fields and the sampling flags come from `tasks.TASKS` and `config.SETTINGS`
(the same as the web app's API); the backend is built by `factory.build_backend`, so
`--backend openai`, `--engine` and chat templates work as in the app. The status line
(tokens, speed, finish reason, notices) goes to stderr. Exit codes: 0 done, 1 the model could
not load or generation failed, 2 bad arguments or settings, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from .backend import GenerationError
from .config import LANGUAGES, RANGES, SETTINGS, AppConfig, GenerationSettings, SettingsError
from .locales import translate
from .tasks import TASKS, Task

EXAMPLE_SEPARATOR = "=>"
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
COMMANDS: dict[str, Task] = {task.command: task for task in TASKS}


class UsageError(ValueError):
    """A command-line value is unusable; the message names it."""


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _parser() -> argparse.ArgumentParser:
    """Task, main text, backend options, every task field and every sampling setting."""
    parser = argparse.ArgumentParser(prog="python -m nlg_assistant", description=__doc__.split("\n")[0])
    parser.add_argument("task", choices=list(COMMANDS), help="what to write")
    parser.add_argument("text", help="story so far (story), topic (outline, article) or new input (fewshot)")
    _backend_flags(parser.add_argument_group("model and backend"))
    fields = parser.add_argument_group("task fields")
    seen = set()
    for task in TASKS:
        for field in task.inputs[1:]:
            if field.name in seen:
                continue
            seen.add(field.name)
            if field.kind is bool:
                fields.add_argument(_flag(field.name), action=argparse.BooleanOptionalAction, help=field.help)
            else:
                fields.add_argument(_flag(field.name), type=field.kind, help=f"{task.command}: {field.help}")
    fewshot = parser.add_argument_group("fewshot shorthands")
    fewshot.add_argument("--preset", help=f"a ready-made few-shot task: {_preset_names()}")
    fewshot.add_argument(
        "--example", action="append", default=[], metavar=f"IN{EXAMPLE_SEPARATOR}OUT", help="repeatable"
    )
    sampling = parser.add_argument_group("sampling settings")
    for s in SETTINGS:
        sampling.add_argument(_flag(s.name), dest=s.name, metavar="N", help=f"{s.help} ({s.low} to {s.high})")
    return parser


def _backend_flags(group: argparse._ArgumentGroup) -> None:
    """The flags `AppConfig` needs to build a backend (a subset of app.py's)."""
    group.add_argument("--model", help="local model folder, hub id, or the served model's name (openai)")
    group.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    group.add_argument("--backend", default="local", help="local (in-process model) or openai (a server)")
    group.add_argument("--base-url", help="OpenAI-compatible server URL for --backend openai")
    group.add_argument("--api-key-env", help="environment variable holding the API key for --backend openai")
    group.add_argument("--chat", action=argparse.BooleanOptionalAction, default=None, help="openai: chat API")
    group.add_argument("--engine", default="simple", help="simple (one request) or batched")
    group.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for a token")
    group.add_argument(
        "--lang", default="en", choices=LANGUAGES, help="language of the status line and errors"
    )


def _preset_names() -> str:
    from .prompts import PRESETS

    return ", ".join(PRESETS)


def _settings(args: argparse.Namespace) -> GenerationSettings:
    """The sampling settings given as flags (others keep their defaults); raises `SettingsError`."""
    given = {name: getattr(args, name) for name in RANGES if getattr(args, name) is not None}
    return GenerationSettings.from_mapping(given)


def _examples_json(args: argparse.Namespace) -> str:
    """The fewshot `examples_json` field from --examples-json, --preset and --example; raises `UsageError`."""
    from .tasks.fewshot import find_preset

    if not (args.preset or args.example or args.examples_json):
        raise UsageError("fewshot needs --preset NAME, --example IN=>OUT or --examples-json")
    if not (args.preset or args.example):
        return args.examples_json
    pairs = []
    if args.preset:
        preset = find_preset(args.preset)
        if preset is None:
            raise UsageError(f"--preset: unknown preset {args.preset!r}; choose one of {_preset_names()}")
        if not args.example:
            return preset.name
        pairs.extend(preset.examples)
        args.instruction = args.instruction or preset.instruction
    for raw in args.example:
        source, separator, target = raw.partition(EXAMPLE_SEPARATOR)
        if not separator:
            raise UsageError(f"--example must look like 'input{EXAMPLE_SEPARATOR}output' (got {raw!r})")
        pairs.append((source.strip(), target.strip()))
    return json.dumps(pairs)


def _values(task: Task, args: argparse.Namespace) -> dict:
    """The task's inputs by name: the main text, then each field's flag or its default."""
    values = {task.inputs[0].name: args.text}
    if task.command == "fewshot":
        args.examples_json = _examples_json(args)
    for field in task.inputs[1:]:
        given = getattr(args, field.name)
        values[field.name] = field.default if given is None else given
    return values


def _config(args: argparse.Namespace) -> AppConfig:
    """The backend options as an `AppConfig`; raises `ValueError` naming a bad option."""
    return AppConfig(
        model=args.model,
        device=args.device,
        backend=args.backend,
        base_url=args.base_url,
        api_key_env=args.api_key_env,
        chat=args.chat,
        engine=args.engine,
        max_new_tokens_cap=int(RANGES["max_new_tokens"].high),
        request_timeout_s=args.timeout,
    )


def _run(
    task: Task, config: AppConfig, settings: GenerationSettings, values: dict, out: TextIO, lang: str = "en"
) -> None:
    """Build the backend, stream the task's text to `out` and its status line to stderr."""
    from .factory import build_backend
    from .tasks.progress import with_drafts

    backend = build_backend(config)
    shown, last = "", None
    for last in task.run(backend, settings, **values):
        text = with_drafts(last)
        if text.startswith(shown):
            out.write(text[len(shown) :])
        elif not shown.startswith(text):  # the text was replaced (not just trimmed): show it anew
            out.write("\n" + text)
        out.flush()
        shown = text
    out.write("\n")
    if last is not None:
        print(translate(lang, last.status), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = _parser().parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")  # never die on a terminal that can't show a character
    task = COMMANDS[args.task]
    try:
        settings, values, config = _settings(args), _values(task, args), _config(args)
    except (SettingsError, UsageError, ValueError) as error:
        print(f"error: {translate(args.lang, str(error))}", file=sys.stderr)
        return EXIT_USAGE
    from .models import ModelLoadError
    from .prompts import PromptError

    try:
        _run(task, config, settings, values, sys.stdout, args.lang)
    except PromptError as error:
        print(f"error: {translate(args.lang, str(error))}", file=sys.stderr)
        return EXIT_USAGE
    except (ModelLoadError, GenerationError) as error:
        print(f"error: {translate(args.lang, str(error))}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
