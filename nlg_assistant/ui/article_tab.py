"""The article tab: topic and brief, an editable outline, then the article written section by section."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from .. import document as doc
from ..backend import Backend
from ..config import GenerationSettings
from ..tasks import Progress
from ..tasks.article import article_steps, continue_article_steps, outline_steps, tokens_per_word
from .alternatives import alternatives_panel, article_context
from .counters import counters
from .desk import file_row, wire_desk
from .i18n import headers, phrase
from .output import OutputArea, base_model_hint, error_message, output_area, wire_area, wire_stop
from .serving import GENERATION_EVENTS, Serving
from .settings import settings_from_values, settings_validator, slider

NAMES = ("article", "topic", "outline", "keywords", "audience", "tone", "length")
ARTICLE_EXAMPLES = [
    ["Urban beekeeping", "hives, honey, neighbours", "city dwellers", "friendly", 450],
    ["How to start running", "shoes, pace, rest days", "beginners", "encouraging", 600],
    ["Why sleep matters", "memory, health, habits", "students", "clear and practical", 600],
]


def _article_inputs(backend: Backend) -> tuple[gr.Textbox, list, gr.Textbox, gr.Button]:
    """The article tab's fields: topic, [keywords, audience, tone, length], outline and its button."""
    topic = gr.Textbox(
        label=phrase("article.topic"),
        placeholder=phrase("article.topic_placeholder"),
        elem_id="article-topic",
    )
    length_info = phrase("article.length_info", ratio=f"{tokens_per_word(backend):.1f}")
    with gr.Row():
        brief = [
            gr.Textbox(label=phrase("article.keywords"), placeholder=phrase("article.keywords_placeholder")),
            gr.Textbox(label=phrase("article.audience"), placeholder=phrase("article.audience_placeholder")),
            gr.Textbox(label=phrase("article.tone"), placeholder=phrase("article.tone_placeholder")),
            slider(
                50,
                3000,
                600,
                step=50,
                label=phrase("article.length"),
                info=length_info,
                elem_id="article-length",
            ),
        ]
    with gr.Row():
        outline = gr.Textbox(
            label=phrase("article.outline"),
            lines=4,
            scale=5,
            placeholder=phrase("article.outline_placeholder"),
            elem_id="article-outline",
        )
        with gr.Column(scale=1, min_width=170):
            outline_button = gr.Button(phrase("article.outline_button"), elem_id="article-outline-button")
            gr.Markdown(phrase("article.steps"), line_breaks=True)
    return topic, brief, outline, outline_button


def _outline_handler(area: OutputArea, backend: Backend, serving: Serving) -> Callable[..., Iterator[tuple]]:
    """Streams an outline into the outline box (an Undo step); inputs: the fields, history, settings."""

    def write_outline(*values: Any) -> Iterator[tuple]:
        fields = dict(zip(NAMES, values[: len(NAMES)], strict=True))
        history, setting_values = values[len(NAMES)], values[len(NAMES) + 1 :]
        text, recorded = fields["outline"], gr.skip()
        brief = [fields[name] for name in NAMES[3:]]
        try:
            serving.check_fields(fields)
            settings = settings_from_values(setting_values, serving.limit)
            for progress in outline_steps(backend, settings, fields["topic"], *brief):
                text, recorded = progress.text, doc.record(history, fields)
                yield text, progress.status, recorded
        except Exception as error:  # keep the outline the user had, whatever failed
            yield text, error_message(error), recorded

    return write_outline


def article_tab(backend: Backend, settings: list, serving: Serving) -> tuple[OutputArea, dict]:
    """Topic to article: fields, an editable outline beside the article, written section by section."""
    with gr.Tab(phrase("tab.article"), id="article"):
        base_model_hint(backend.info, "article")
        topic, brief, outline, outline_button = _article_inputs(backend)
        article = gr.Textbox(
            label=phrase("article.article"),
            lines=12,
            max_lines=40,
            buttons=["copy"],
            elem_id="article-document",
        )
        fields = [article, topic, outline, *brief]
        area = output_area("article", "article.write", NAMES, fields, "article")
        parts = file_row("article")
        counters(backend, area, [topic, brief[2]], article_context, settings)
        alternatives_panel(backend, area, [topic, brief[2]], article_context)
        examples = gr.Examples(
            ARTICLE_EXAMPLES,
            [topic, *brief],
            elem_id="article-examples",
            label=phrase("examples"),
            api_visibility="private",
        )
        columns = ("article.topic", "article.keywords", "article.audience", "article.tone", "article.length")
        examples.dataset.headers = headers("article-examples", columns)

    def runner(mode: str, fields: dict, base: str, s: GenerationSettings) -> Iterator[Progress]:
        if mode == "continue":
            return continue_article_steps(backend, s, fields["topic"], fields["tone"], base)
        brief_values = [fields[name] for name in NAMES[3:]]
        return article_steps(backend, s, fields["topic"], fields["outline"], *brief_values)

    events = wire_area(area, settings, runner, serving)
    outline_event = outline_button.click(
        _outline_handler(area, backend, serving),
        [*area.fields, area.history, *settings],
        [outline, area.status, area.history],
        api_visibility="private",
        validator=settings_validator(len(fields) + 1, serving.limit),
        **GENERATION_EVENTS,
    )
    wire_stop(area, [*events, outline_event])
    blank = {name: "" for name in NAMES[:-1]}
    wire_desk(area, parts, blank, serving)
    return area, parts
