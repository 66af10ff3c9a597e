"""The streaming HTTP API: one `gr.api` endpoint per task in `tasks.TASKS`.

Each endpoint's signature is generated: the task's fields (the first is the main text), then
one keyword per row of `config.SETTINGS` with its default, then the task's options. gradio
reads it from the function's `__signature__` and `__annotations__`, so a new setting or task
field appears in every endpoint without a copied parameter list::

    from gradio_client import Client
    client = Client("http://127.0.0.1:7860/")
    text, status = client.predict("Once upon a time", api_name="/story")
    for text, status in client.submit("Urban beekeeping", api_name="/article", max_new_tokens=150):
        print(text)

Every endpoint streams `(text so far, status line)`. Settings are validated on the server, and
`max_new_tokens` is clamped to what this server and model allow.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import gradio as gr

from ..backend import Backend
from ..config import SETTING_NAMES, SETTINGS
from ..limits import LimitError
from ..locales import translate
from ..tasks import TASKS, Field, Task, checked_inputs
from ..tasks.progress import with_drafts
from .alternatives import alternatives_api
from .output import USER_ERRORS, log_failure
from .serving import GENERATION_EVENTS, Serving, refused
from .settings import settings_from_values

_KEYWORD = inspect.Parameter.POSITIONAL_OR_KEYWORD


def _annotation(field: Field) -> Any:
    """The Python type gradio describes an option with (`bool | None` when None means "automatic")."""
    return field.kind | None if field.default is None else field.kind


def signature(task: Task) -> inspect.Signature:
    """The endpoint's signature: task fields, then every setting with its default, then the task's options."""
    params = [
        inspect.Parameter(
            f.name,
            _KEYWORD,
            default=inspect.Parameter.empty if f.default is None else f.default,
            annotation=f.kind,
        )
        for f in task.fields
    ]
    params += [inspect.Parameter(s.name, _KEYWORD, default=s.default, annotation=s.type) for s in SETTINGS]
    params += [
        inspect.Parameter(f.name, _KEYWORD, default=f.default, annotation=_annotation(f))
        for f in task.options
    ]
    return inspect.Signature(params, return_annotation=tuple[str, str])


def endpoint(task: Task, backend: Backend, serving: Serving) -> Callable[..., Iterator[tuple[str, str]]]:
    """The API function of `task`, named after it, with its generated signature.

    Every input is type- and size-checked in the task layer (`checked_inputs`) before any prompt.
    """
    sig = signature(task)

    def run(*args: Any, **kwargs: Any) -> Iterator[tuple[str, str]]:
        values = sig.bind_partial(*args, **kwargs)  # a missing field is checked below, not a TypeError
        values.apply_defaults()
        given = values.arguments
        try:
            fields = checked_inputs(task, given, serving.max_input_chars)
        except LimitError as error:
            raise refused(error, serving.lang) from None
        settings = [given[name] for name in SETTING_NAMES]
        yield from _api_stream(
            lambda s: task.run(backend, s, **fields), settings, serving.limit, serving.lang
        )

    run.__name__ = run.__qualname__ = task.name
    run.__doc__ = _docstring(task)
    run.__signature__ = sig  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in sig.parameters.values()} | {
        "return": tuple[str, str]
    }
    return run


def _docstring(task: Task) -> str:
    """The endpoint's description, as the API page and MCP clients show it (one Args line per input)."""
    lines = [f"{task.summary} Streams (text so far, status line); the final text is the result.", "", "Args:"]
    lines += [f"    {f.name}: {f.help}" for f in task.inputs]
    lines += [f"    {s.name}: {s.help}" for s in SETTINGS]
    return "\n".join(lines)


def _api_stream(
    run: Callable[..., Iterator[Any]], setting_values: Sequence[Any], limit: int, lang: str = "en"
) -> Iterator[tuple[str, str]]:
    """Yield (text so far, status) for an API call; other drafts are appended to the final text.

    Status lines and errors are in `lang` (--lang). Bad input and generation failures become
    `gr.Error`, which `gradio_client` raises as `AppError`.
    """
    try:
        for progress in run(settings_from_values(setting_values, limit)):
            yield with_drafts(progress), translate(lang, progress.status)
    except USER_ERRORS as error:  # a message for the caller, not a traceback in the server log
        log_failure(error)
        raise gr.Error(translate(lang, str(error)), print_exception=False) from None


def register_api(backend: Backend, serving: Serving) -> None:
    """Register one streaming endpoint per task (`/story`, `/article_outline`, `/article`, `/fewshot`).

    They run in the same concurrency group as the UI's generation events.
    """
    for task in TASKS:
        gr.api(endpoint(task, backend, serving), api_name=task.name, **GENERATION_EVENTS)
    gr.api(alternatives_api(backend, serving), api_name="alternatives", concurrency_id="alternatives")
