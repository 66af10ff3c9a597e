"""The model's next-token alternatives at a point of a tab's document, and the prompt's size (pure Python).

The prompt is the one the tab's Continue would send for the document cut at that point (for a
one-token continuation), so the alternatives are what generation would choose from there (at
temperature 1). Each tab
has its prompt builder in `CONTINUE_PROMPTS`; a `TabContext` holds the fields it needs beside
the document.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..backend import CHAT_MARGIN_TOKENS, Alternative, Backend, Prompt
from ..config import GenerationSettings
from ..prompts import PromptError
from .article import continue_article_prompt
from .fewshot import fewshot_prompt
from .progress import whole_number
from .story import story_prompt

MAX_K = 20  # the most alternatives one request may ask for (OpenAI's top_logprobs limit too)
# The alternatives are one token long, so their prompt keeps all the text a one-token Continue keeps.
ONE_TOKEN = GenerationSettings(max_new_tokens=1, temperature=0.0)


@dataclass(frozen=True)
class TabContext:
    """What a tab's Continue puts in the prompt beside the document: the tab's other fields."""

    memory: str = ""
    style: str = ""
    topic: str = ""
    tone: str = ""
    examples: tuple[tuple[str, str], ...] = ()
    instruction: str = ""
    new_input: str = ""


PromptBuilder = Callable[[Backend, GenerationSettings, str, TabContext], Prompt]

CONTINUE_PROMPTS: dict[str, PromptBuilder] = {
    "story": lambda b, s, text, c: story_prompt(b, s, text, c.memory, c.style),
    "article": lambda b, s, text, c: continue_article_prompt(b, s, c.topic, c.tone, text),
    "fewshot": lambda b, s, text, c: fewshot_prompt(b, s, c.examples, c.new_input, c.instruction, text),
}


def continue_prompt(
    backend: Backend,
    tab: str,
    text: str,
    context: TabContext,
    settings: GenerationSettings = ONE_TOKEN,
) -> Prompt:
    """The prompt `tab`'s Continue builds with `settings` to extend the document `text`.

    Raises `PromptError` for an unknown tab or fields that make no prompt.
    """
    builder = CONTINUE_PROMPTS.get(tab)
    if builder is None:
        raise PromptError(f"Unknown tab {tab!r}: choose one of {', '.join(CONTINUE_PROMPTS)}.")
    return builder(backend, settings, text, context)


def cut_position(text: str, position: object) -> int:
    """Where to cut `text`: `position` characters in, or its end for -1; `PromptError` when outside."""
    cut = whole_number(position, "The position")
    if cut == -1:
        return len(text)
    if not 0 <= cut <= len(text):
        raise PromptError(f"The position must be -1 (the end) or 0 to {len(text)} (got {cut}).")
    return cut


def check_k(k: object) -> int:
    """The number of alternatives to list, 1 to `MAX_K`; `PromptError` otherwise."""
    count = whole_number(k, "The number of alternatives")
    if not 1 <= count <= MAX_K:
        raise PromptError(f"The number of alternatives must be 1 to {MAX_K} (got {count}).")
    return count


def alternatives_at(
    backend: Backend,
    tab: str,
    text: str,
    position: object = -1,
    k: object = 5,
    context: TabContext = TabContext(),
) -> list[Alternative]:
    """The `k` likeliest next tokens after `text[:position]` in `tab` (most likely first).

    Raises `PromptError` for a bad tab, position or k, `GenerationError` when the backend can't.
    """
    count, cut = check_k(k), cut_position(text or "", position)
    prompt = continue_prompt(backend, tab, (text or "")[:cut], context)
    return backend.alternatives(prompt, count)


def prompt_tokens(backend: Backend, prompt: Prompt) -> int:
    """About how many tokens `prompt` takes: its chat turns (plus the template's margin) or its document."""
    if backend.info.chat and prompt.messages:
        return sum(backend.count_tokens(m["content"]) for m in prompt.messages) + CHAT_MARGIN_TOKENS
    return backend.count_tokens(prompt.document)
