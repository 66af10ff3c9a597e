"""Story continuation: continue the story so far, keeping memory and style notes (pure Python)."""

from __future__ import annotations

from collections.abc import Iterator

from ..backend import Backend, prompt_budget
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
    budget = prompt_budget(backend, settings)
    prompt = build_story(story + base, memory, style, budget=budget, chat=backend.info.chat)
    yield from stream_progress(backend, prompt, settings, base)
