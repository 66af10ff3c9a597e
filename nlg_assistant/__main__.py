"""Command line: stream one task's output to stdout (for scripts and quick checks).

    python -m nlg_assistant story "Once upon a time" --max-new-tokens 40 --model path/or/hub-id
    python -m nlg_assistant outline "Urban beekeeping" --audience beginners
    python -m nlg_assistant article "Urban beekeeping" --length-words 450
    python -m nlg_assistant fewshot "hey u coming?" --preset "Formal rewrite"
    python -m nlg_assistant fewshot "wool hat" --example "steel bottle=>A sleek bottle." --example ...

The status line (tokens, speed, finish reason, notices) goes to stderr. Exit codes: 0 done,
1 the model could not load or generation failed, 2 bad arguments or settings, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import TextIO

from .backend import Backend, GenerationError, GenerationResult, Prompt, prompt_budget
from .config import HELP, RANGES, GenerationSettings, SettingsError

TASKS = ("story", "outline", "article", "fewshot")
EXAMPLE_SEPARATOR = "=>"
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class UsageError(ValueError):
    """A command-line value is unusable; the message names it."""


def _parser() -> argparse.ArgumentParser:
    """The argument parser: task, main text, model options, task fields and every sampling setting."""
    from .prompts import PRESETS

    parser = argparse.ArgumentParser(prog="python -m nlg_assistant", description=__doc__.split("\n")[0])
    parser.add_argument("task", choices=TASKS, help="what to write")
    parser.add_argument("text", help="story so far (story), topic (outline, article) or new input (fewshot)")
    parser.add_argument("--model", help="local model folder or hub id (default: assets/models/storyteller)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for a token")
    story = parser.add_argument_group("story")
    story.add_argument("--memory", default="", help="characters, setting and facts to keep in mind")
    story.add_argument("--style", default="", help="style notes")
    article = parser.add_argument_group("outline and article")
    for name in ("keywords", "audience", "tone"):
        article.add_argument(f"--{name}", default="")
    article.add_argument("--length-words", type=int, default=600, help="target article length in words")
    fewshot = parser.add_argument_group("fewshot")
    fewshot.add_argument("--preset", help=f"a ready-made few-shot task: {', '.join(PRESETS)}")
    fewshot.add_argument(
        "--example", action="append", default=[], metavar=f"IN{EXAMPLE_SEPARATOR}OUT", help="repeatable"
    )
    fewshot.add_argument("--instruction", default="")
    sampling = parser.add_argument_group("sampling settings")
    for name, rng in RANGES.items():
        flag = "--" + name.replace("_", "-")
        sampling.add_argument(flag, dest=name, metavar="N", help=f"{HELP[name]} ({rng.low} to {rng.high})")
    return parser


def _settings(args: argparse.Namespace) -> GenerationSettings:
    """The sampling settings given as flags (others keep their defaults); raises `SettingsError`."""
    given = {name: getattr(args, name) for name in RANGES if getattr(args, name) is not None}
    return GenerationSettings.from_mapping(given)


def _examples(args: argparse.Namespace) -> tuple[str, list[tuple[str, str]]]:
    """Instruction and (input, output) pairs from --preset and --example; raises `UsageError`."""
    instruction, pairs = args.instruction, []
    if args.preset:
        from .prompts import PRESETS

        wanted = args.preset.strip().lower().replace("-", " ").replace("_", " ")
        matches = [p for name, p in PRESETS.items() if name.lower() == wanted]
        if not matches:
            raise UsageError(f"--preset: unknown preset {args.preset!r}; choose one of {', '.join(PRESETS)}")
        instruction = instruction or matches[0].instruction
        pairs.extend(matches[0].examples)
    for raw in args.example:
        source, separator, target = raw.partition(EXAMPLE_SEPARATOR)
        if not separator:
            raise UsageError(f"--example must look like 'input{EXAMPLE_SEPARATOR}output' (got {raw!r})")
        pairs.append((source.strip(), target.strip()))
    if args.task == "fewshot" and not pairs:
        raise UsageError("fewshot needs --preset NAME or at least one --example IN=>OUT")
    return instruction, pairs


def _stream(backend: Backend, prompt: Prompt, settings: GenerationSettings, out: TextIO) -> GenerationResult:
    """Print draft 1 as it streams, then any other drafts; the status line goes to stderr."""
    stream = backend.start(prompt, settings)
    try:
        for chunk in stream:
            if chunk.draft == 0:
                out.write(chunk.text)
                out.flush()
    except KeyboardInterrupt:
        stream.cancel()
        raise
    result = stream.result
    assert result is not None  # set by every stream that ended without an error
    for number, text in enumerate(result.texts[1:], start=2):
        out.write(f"\n\n--- draft {number} ---\n{text}")
    out.write("\n")
    print(result.status_line(), file=sys.stderr)
    return result


def _run_article(backend: Backend, args: argparse.Namespace, settings: GenerationSettings) -> None:
    """Write an outline, then each section in turn (one draft), streaming everything to stdout."""
    from .prompts import build_outline, build_section, parse_outline

    settings = dataclasses.replace(settings, num_drafts=1)
    fields = {"keywords": args.keywords, "audience": args.audience, "tone": args.tone}
    fields["length_words"] = args.length_words
    budget = prompt_budget(backend, settings)
    print("Outline:", flush=True)
    outline = _stream(backend, build_outline(args.text, **fields, budget=budget), settings, sys.stdout)
    headings = parse_outline(outline.texts[0])
    if not headings:
        raise GenerationError("the model wrote no usable outline; try again or with another seed")
    written: list[str] = []
    for index, heading in enumerate(headings):
        print(f"\n## {heading}", flush=True)
        prompt = build_section(
            args.text, outline.texts[0], index, "\n\n".join(written), **fields, budget=budget
        )
        body = _stream(backend, prompt, settings, sys.stdout).texts[0].strip()
        written.append(f"## {heading}\n{body}")


def _run_task(backend: Backend, args: argparse.Namespace, settings: GenerationSettings) -> None:
    """Build the task's prompt and stream its output."""
    from . import prompts

    if args.task == "article":
        _run_article(backend, args, settings)
        return
    budget = prompt_budget(backend, settings)
    if args.task == "story":
        prompt = prompts.build_story(args.text, args.memory, args.style, budget=budget)
    elif args.task == "outline":
        fields = (args.keywords, args.audience, args.tone, args.length_words)
        prompt = prompts.build_outline(args.text, *fields, budget=budget)
    else:
        instruction, pairs = _examples(args)
        prompt = prompts.build_fewshot(pairs, args.text, instruction, budget=budget)
    _stream(backend, prompt, settings, sys.stdout)


def _load_backend(args: argparse.Namespace) -> Backend:
    """The in-process model named by --model (or the house model); raises `ModelLoadError`."""
    from .generation import LocalBackend
    from .models import HOLDER, resolve_model_spec

    loaded = HOLDER.get_or_load(resolve_model_spec(args.model), args.device)
    return LocalBackend(loaded, int(RANGES["max_new_tokens"].high), args.timeout)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = _parser().parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")  # never die on a terminal that can't show a character
    try:
        settings = _settings(args)
        _examples(args)
    except (SettingsError, UsageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    from .models import ModelLoadError
    from .prompts import PromptError

    try:
        _run_task(_load_backend(args), args, settings)
    except PromptError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (ModelLoadError, GenerationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
