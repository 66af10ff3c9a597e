"""Streaming helpers shared by every task: `Progress` updates and `stream_progress` (pure Python).

A task is a generator of `Progress`: the output text so far and a status line, the last one
of each generation step carrying its `GenerationResult`. The UI, the API and the CLI all read
the same generators; none of them knows how a task builds its prompts.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..backend import CHAT_MARGIN_TOKENS, Backend, GenerationError, GenerationResult, Prompt
from ..config import GenerationSettings
from ..prompts import PromptError

STREAM_EVERY_S = 0.15  # coalesce tokens: ~7 updates a second per stream reads smoothly, and each
# update costs gradio ~1.5 ms of CPU, which with many concurrent writers competes with decoding


@dataclass(frozen=True)
class Progress:
    """One streamed update: the output text so far and a status line (result set when a step ends).

    `drafts` holds what each draft has written so far while two or more stream (else empty), so
    that a UI can show them side by side as they grow.
    """

    text: str
    status: str
    result: GenerationResult | None = None
    drafts: tuple[str, ...] = ()


def stream_progress(
    backend: Backend,
    prompt: Prompt,
    settings: GenerationSettings,
    base: str = "",
    label: str = "",
    enough: Callable[[str], str | None] | None = None,
) -> Iterator[Progress]:
    """Stream draft 1 of `prompt` appended to `base`; the last `Progress` carries the result.

    `enough(written)` may return the text to keep once the output is complete (e.g. an outline
    with all its sections): generation then stops there and the result says "eos". The stream
    is cancelled in `finally`, so closing this generator (Stop button, browser gone, API client
    cancelled) stops the backend within a step.
    """
    stream = backend.start(prompt, settings)
    try:
        written, last_sent, kept, others = "", 0.0, None, {}
        for chunk in stream:
            if chunk.draft != 0:
                others[chunk.draft] = others.get(chunk.draft, "") + chunk.text
                continue
            written += chunk.text
            if enough is not None and (kept := enough(written)) is not None:
                break
            if time.monotonic() - last_sent >= STREAM_EVERY_S:
                last_sent = time.monotonic()
                drafts = (written, *(others[d] for d in sorted(others))) if others else ()
                status = f"{label}Writing… {len(written):,} characters so far"
                yield Progress(base + written, status, drafts=drafts)
        result = _finished(stream, kept)
        yield Progress(base + result.texts[0], label + result.status_line(), result)
    finally:
        stream.cancel()


def _finished(stream: Any, kept: str | None) -> GenerationResult:
    """The stream's result; when `kept` ended it early, drain the cancelled stream and keep that text."""
    if kept is not None:
        stream.cancel()
        for _ in stream:  # the backend ends within a step; its last pieces are not wanted
            pass
    result = stream.result
    if result is None:
        raise GenerationError("the generation ended without a result")
    if kept is None:
        return result
    return dataclasses.replace(result, texts=(kept, *result.texts[1:]), finish_reason="eos")


def fit_new_tokens(
    backend: Backend, settings: GenerationSettings, prompt: Prompt, extra: int = 0, least: int = 16
) -> GenerationSettings:
    """`settings` with fewer new tokens when `prompt` (plus `extra` tokens of room) would not fit next
    to them in the window; never fewer than `least`. Used where the prompt is mostly the app's own text.
    """
    text = "\n".join(m["content"] for m in prompt.messages) if backend.info.chat else prompt.document
    room = backend.info.context_window - CHAT_MARGIN_TOKENS - backend.count_tokens(text) - extra
    tokens = max(least, min(settings.max_new_tokens, room))
    return (
        settings
        if tokens == settings.max_new_tokens
        else dataclasses.replace(settings, max_new_tokens=tokens)
    )


def with_drafts(progress: Progress) -> str:
    """The text of `progress`, with the other drafts (if any) after `--- draft N ---` lines."""
    if progress.result is None or len(progress.result.texts) < 2:
        return progress.text
    others = progress.result.texts[1:]
    return progress.text + "".join(f"\n\n--- draft {n} ---\n{t}" for n, t in enumerate(others, 2))


def whole_number(value: Any, what: str) -> int:
    """A whole number from a UI or API field (600.0 -> 600); raises `PromptError` naming `what`."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PromptError(f"{what} must be a whole number (got {value!r}).") from None
    if not number.is_integer():
        raise PromptError(f"{what} must be a whole number (got {value!r}).")
    return int(number)
