"""Live counts under a tab's document: words, characters and tokens, and the prompt against the window.

Words and characters are `document.word_count` / `char_count` (CJK-aware); tokens are the
backend's own count. The prompt is the one the tab's Continue would send with the current Max new
tokens (`tasks.alternatives.continue_prompt`), so the line says how much of the window it takes.
Updates run when the tab settles (`settle.py`: its inputs stopped changing and no generation
runs), outside the generation concurrency group, only the latest pending one, and no progress is
shown: typing and streaming stay smooth. While a generation streams the line waits for its end:
tokenising the document ~7 times a second per writer costs the server what decoding needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gradio as gr

from ..backend import Backend
from ..config import SETTING_NAMES, GenerationSettings
from ..document import char_count, word_count
from ..locales import message, translate
from ..tasks.alternatives import TabContext, continue_prompt, prompt_tokens
from .alternatives import ContextOf
from .i18n import fixed, language
from .output import USER_ERRORS, OutputArea, streaming
from .settle import settle_on


def counts_line(
    backend: Backend, tab: str, text: str, context: TabContext, max_new_tokens: Any, lang: str = "en"
) -> str:
    """'12 words · 60 characters · 15 tokens — prompt 40 + 200 to write, window 2,048 tokens' in `lang`."""
    text = text or ""
    tokens = backend.count_tokens(text)
    words, chars = f"{word_count(text):,}", f"{char_count(text):,}"
    counts = message(lang, "counts.line", words=words, chars=chars, tokens=f"{tokens:,}")
    window = backend.info.context_window
    try:
        settings = GenerationSettings(max_new_tokens=max(1, int(max_new_tokens)))
        used = prompt_tokens(backend, continue_prompt(backend, tab, text, context, settings))
    except (*USER_ERRORS, TypeError, ValueError) as error:  # e.g. nothing to continue yet
        problem = translate(lang, str(error)).rstrip(".。")
        return message(lang, "counts.no_prompt", counts=counts, problem=problem)
    new, window_text = f"{settings.max_new_tokens:,}", f"{window:,}"
    return message(lang, "counts.prompt", counts=counts, used=f"{used:,}", new=new, window=window_text)


def counters(
    backend: Backend,
    area: OutputArea,
    context_boxes: Sequence[Any],
    context_of: ContextOf,
    settings: Sequence[Any],
) -> gr.Markdown:
    """The counts line for `area`'s tab (element id ``<tab>-counts``), kept up to date as anything changes."""
    tab = area.tab
    max_new_tokens = settings[SETTING_NAMES.index("max_new_tokens")]
    empty, tokens = context_of(*[""] * len(context_boxes)), GenerationSettings().max_new_tokens
    first = fixed(lambda lang: counts_line(backend, tab, "", empty, tokens, lang), "counts")
    line = gr.Markdown(first, elem_id=f"{tab}-counts", elem_classes="counts-line")

    def update(text: str, tokens: Any, status: str, *context_values: Any) -> str:
        if streaming(status):
            return gr.skip()
        return counts_line(backend, tab, text, context_of(*context_values), tokens, language())

    inputs = [area.document, max_new_tokens, area.status, *context_boxes]
    settle_on(area, inputs)
    area.settled.click(
        update,
        inputs,
        line,
        trigger_mode="always_last",
        show_progress="hidden",
        # Outside the queue: counting is cheap, and a queued event would count against the
        # visitor's cap on requests in flight (VisitorGate), refusing their next Generate.
        queue=False,
        api_visibility="private",
    )
    return line
