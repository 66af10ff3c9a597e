"""The writing tasks, as plain Python generators of `Progress` (no gradio, no torch).

`TASKS` is the one registry that the HTTP API (`ui/api.py`) and the command line
(`__main__.py`) loop over: each `Task` names its endpoint and command, its fields (the first is
the main text) and the function that runs it. The UI tabs call the same task functions.
Adding a task: its prompt builder (`prompts/`), its module here plus a `TASKS` row, its tab (`ui/`).

>>> [task.name for task in TASKS]
['story', 'article_outline', 'article', 'fewshot']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..limits import InputError, check_text_size
from .article import continue_article_steps, outline_steps, outline_then_article
from .fewshot import fewshot_from_spec
from .progress import Progress, stream_progress
from .story import story_steps


@dataclass(frozen=True)
class Field:
    """One task input: its name (API argument, CLI flag), default (None: required), type and help."""

    name: str
    default: Any
    help: str
    kind: type = str


@dataclass(frozen=True)
class Task:
    """A task as the API and the CLI see it.

    `run(backend, settings, **values)` streams `Progress`; `values` are `fields` (then `options`)
    by name. In API signatures `fields` come before the sampling settings and `options` after.
    """

    name: str
    command: str
    summary: str
    fields: tuple[Field, ...]
    run: Callable[..., Iterator[Progress]]
    options: tuple[Field, ...] = ()

    @property
    def inputs(self) -> tuple[Field, ...]:
        """Every input, fields then options."""
        return self.fields + self.options


_BRIEF = (
    Field("keywords", "", "keywords to cover, comma-separated"),
    Field("audience", "", "who the article is for"),
    Field("tone", "", "e.g. friendly"),
    Field("length_words", 600, "target article length in words (sets each section's length)", int),
)

TASKS: tuple[Task, ...] = (
    Task(
        "story",
        "story",
        "Continue a story (memory: characters and facts to keep; style: style notes).",
        (
            Field("story", None, "the story so far"),
            Field("memory", "", "characters, setting and facts to keep"),
            Field("style", "", "style notes"),
        ),
        story_steps,
    ),
    Task(
        "article_outline",
        "outline",
        "Draft an article outline, one numbered heading per line.",
        (Field("topic", None, "what the article is about"), *_BRIEF),
        outline_steps,
    ),
    Task(
        "article",
        "article",
        "Write an article section by section from `outline` (drafted first when empty); "
        "the target length sets each section's length.",
        (
            Field("topic", None, "what the article is about"),
            Field("outline", "", "one heading per line (drafted when empty)"),
            *_BRIEF,
        ),
        outline_then_article,
    ),
    Task(
        "fewshot",
        "fewshot",
        'Apply the examples\' pattern to `new_input`. `examples_json`: JSON [["in", "out"], ...], '
        'a preset name, or "" (the first preset).',
        (
            Field("new_input", None, "the text to apply the pattern to"),
            Field("examples_json", "", "a preset name or a JSON list of [input, output] pairs"),
            Field("instruction", "", "what the examples do (a preset's own when empty)"),
        ),
        fewshot_from_spec,
        (
            Field(
                "stop_at_line_end",
                None,
                "end the output at the end of its line (default: the preset's)",
                bool,
            ),
            Field(
                "keep_input_words",
                None,
                "nudge a rewrite to keep the input's words, local models only "
                "(default: the preset's on a base model, off on an instruct one)",
                bool,
            ),
        ),
    ),
)
BY_NAME: dict[str, Task] = {task.name: task for task in TASKS}


def checked_inputs(task: Task, values: Mapping[str, Any], max_chars: int) -> dict[str, Any]:
    """`task`'s inputs from `values` (missing ones at their defaults), each of its field's type.

    Text fields must be text of at most `max_chars` characters; numbers whole numbers; flags
    true/false (or absent when the default is automatic). Raises `InputError` (a `LimitError`)
    with a message fit for the caller, before any prompt is built. A required text that is
    missing counts as empty (the task then says what it needs).

    >>> checked_inputs(BY_NAME["story"], {"story": 7}, 100)
    Traceback (most recent call last):
    ...
    nlg_assistant.limits.InputError: The story must be text (got a number)
    """
    checked = {}
    for field in task.inputs:
        value = values.get(field.name, field.default)
        label = field.name.replace("_", " ")
        if field.kind is str:
            checked[field.name] = check_text_size(label, value, max_chars)
        elif value is None and field.default is None:
            checked[field.name] = None  # "automatic"
        elif field.kind is bool and not isinstance(value, bool):
            raise InputError(f"{label} must be true or false (got {type(value).__name__})")
        elif field.kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise InputError(f"{label} must be a whole number (got {type(value).__name__})")
        else:
            checked[field.name] = value
    return checked


__all__ = [
    "BY_NAME",
    "TASKS",
    "Field",
    "Progress",
    "Task",
    "checked_inputs",
    "continue_article_steps",
    "stream_progress",
]
