"""The article tab: topic and brief, an editable outline, then the article written section by section."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from ..backend import Backend
from ..config import GenerationSettings
from ..tasks import Progress
from ..tasks.article import article_steps, continue_article_steps, outline_steps, tokens_per_word
from .alternatives import alternatives_panel, article_context
from .counters import counters
from .output import (
    base_model_hint,
    error_message,
    output_area,
    to_markdown,
    wire_area,
    wire_stop_and_export,
    write_markdown,
)
from .settings import settings_from_values, settings_validator, slider

ARTICLE_EXAMPLES = [
    ["Urban beekeeping", "hives, honey, neighbours", "city dwellers", "friendly", 450],
    ["How to start running", "shoes, pace, rest days", "beginners", "encouraging", 600],
    ["Why sleep matters", "memory, health, habits", "students", "clear and practical", 600],
]


def _article_inputs(backend: Backend) -> tuple[gr.Textbox, list, gr.Textbox, gr.Button]:
    """The article tab's fields: topic, [keywords, audience, tone, length], outline and its button."""
    topic = gr.Textbox(
        label="Topic", placeholder="What should the article be about?", elem_id="article-topic"
    )
    ratio = tokens_per_word(backend)
    length_info = (
        f"Sets each section's length: words ÷ sections, at about {ratio:.1f} tokens per word for this "
        "model (Max new tokens applies to the outline and Continue)."
    )
    with gr.Row():
        brief = [
            gr.Textbox(label="Keywords", placeholder="comma-separated"),
            gr.Textbox(label="Audience", placeholder="e.g. beginners"),
            gr.Textbox(label="Tone", placeholder="e.g. friendly"),
            slider(
                50,
                3000,
                600,
                step=50,
                label="Target length (words)",
                info=length_info,
                elem_id="article-length",
            ),
        ]
    with gr.Row():
        outline = gr.Textbox(
            label="Outline (editable: one section heading per line)",
            lines=4,
            scale=5,
            placeholder="Click “Draft outline” to plan the sections from the topic, or write your own.",
            elem_id="article-outline",
        )
        with gr.Column(scale=1, min_width=170):
            outline_button = gr.Button("Draft outline", elem_id="article-outline-button")
            gr.Markdown("Step 1: draft or write the outline.\nStep 2: **Write article**.", line_breaks=True)
    return topic, brief, outline, outline_button


def _outline_handler(backend: Backend, limit: int) -> Callable[..., Iterator[tuple[str, str]]]:
    """Streams an outline into the outline box; inputs: topic, the 4 brief fields, outline, settings."""

    def write_outline(topic: str, *values: Any) -> Iterator[tuple[str, str]]:
        brief, text, setting_values = values[:4], values[4], values[5:]
        try:
            settings = settings_from_values(setting_values, limit)
            for progress in outline_steps(backend, settings, topic, *brief):
                text = progress.text
                yield text, progress.status
        except Exception as error:  # keep the outline the user had, whatever failed
            yield text, error_message(error)

    return write_outline


def article_tab(backend: Backend, settings: list, limit: int) -> None:
    """Topic to article: fields, an editable outline, then the article written section by section."""
    with gr.Tab("Topic → Article", id="article"):
        base_model_hint(backend.info, "article")
        topic, brief, outline, outline_button = _article_inputs(backend)
        area = output_area("article", "Write article", "Article (editable Markdown)")
        counters(backend, "article", area.output, [topic, brief[2]], article_context, settings)
        alternatives_panel(backend, "article", area.output, [topic, brief[2]], article_context)
        gr.Examples(ARTICLE_EXAMPLES, [topic, *brief], elem_id="article-examples", api_visibility="private")

    def runner(mode: str, fields: tuple, base: str, s: GenerationSettings) -> Iterator[Progress]:
        if mode == "continue":  # fields: topic, outline, keywords, audience, tone, length
            return continue_article_steps(backend, s, fields[0], fields[4], base)
        return article_steps(backend, s, *fields)

    events = wire_area(area, [topic, outline, *brief], settings, runner, limit)
    outline_event = outline_button.click(
        _outline_handler(backend, limit),
        [topic, *brief, outline, *settings],
        [outline, area.status],
        api_visibility="private",
        validator=settings_validator(6, limit),
    )

    def export(topic_text: str, outline_text: str, output: str) -> str:
        return write_markdown("article", to_markdown(topic_text or "Article", [("", output)]))

    wire_stop_and_export(area, [*events, outline_event], [topic, outline, area.output], export)
