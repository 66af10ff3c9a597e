"""Story continuation: continue the story so far, keeping memory and style notes (pure Python)."""

from __future__ import annotations

from collections.abc import Iterator

from ..backend import Backend, Prompt, prompt_budget
from ..config import GenerationSettings
from ..prompts import build_story
from .progress import Progress, stream_progress


def story_steps(
    backend: Backend,
    settings: GenerationSettings,
    story: str,
    memory: str = "",
    style: str = "",
    base: str = "",
) -> Iterator[Progress]:
    """Continue `story` + `base` (the text written so far), streaming `base` + the continuation.

    Memory and style notes always stay in the prompt; the oldest story text is left out first.
    """
    prompt = story_prompt(backend, settings, story + base, memory, style)
    yield from stream_progress(backend, prompt, settings, base)


def story_prompt(
    backend: Backend, settings: GenerationSettings, text: str, memory: str, style: str
) -> Prompt:
    """The prompt that continues `text` (the story so far), fitted to leave room for the output."""
    budget = prompt_budget(backend, settings)
    return build_story(text, memory, style, budget=budget, chat=backend.info.chat)
