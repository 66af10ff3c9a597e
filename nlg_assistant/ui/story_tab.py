"""The story tab: the story is the document generation writes into; memory and style notes beside it."""

from __future__ import annotations

from collections.abc import Iterator

import gradio as gr

from ..backend import Backend
from ..config import GenerationSettings
from ..tasks import Progress
from ..tasks.story import story_steps
from .alternatives import alternatives_panel, story_context
from .counters import counters
from .desk import file_row, wire_desk
from .i18n import headers, phrase
from .output import OutputArea, output_area, wire_area, wire_stop
from .serving import Serving

STORY_EXAMPLES = [
    ["Once upon a time there was a little fox who lived in the woods.", "Pip, a curious young fox.", "Warm"],
    ["The princess walked to the castle and opened the old wooden door.", "", "Suspenseful, short sentences"],
    ["Every morning the baker made bread, cakes and sweet buns for the town.", "The baker, Ada.", ""],
]
NAMES = ("story", "memory", "style")


def story_tab(backend: Backend, settings: list, serving: Serving) -> tuple[OutputArea, dict]:
    """Story continuation: the story (generation appends to it), memory and style notes."""
    with gr.Tab(phrase("tab.story"), id="story"):
        with gr.Row():
            story = gr.Textbox(
                label=phrase("story.story"),
                lines=10,
                max_lines=30,
                scale=3,
                placeholder=phrase("story.story_placeholder"),
                buttons=["copy"],
                elem_id="story-document",
            )
            with gr.Column(scale=2, min_width=200):
                memory = gr.Textbox(
                    label=phrase("story.memory"),
                    lines=3,
                    placeholder=phrase("story.memory_placeholder"),
                    elem_id="story-memory",
                )
                style = gr.Textbox(
                    label=phrase("story.style"),
                    lines=2,
                    placeholder=phrase("story.style_placeholder"),
                    elem_id="story-style",
                )
        area = output_area("story", "button.generate", NAMES, [story, memory, style], "story")
        parts = file_row("story")
        counters(backend, area, [memory, style], story_context, settings)
        alternatives_panel(backend, area, [memory, style], story_context)
        examples = gr.Examples(
            STORY_EXAMPLES,
            [story, memory, style],
            elem_id="story-examples",
            label=phrase("examples"),
            api_visibility="private",
        )
        examples.dataset.headers = headers("story-examples", ("story.column", "story.memory", "story.style"))

    def runner(mode: str, fields: dict, base: str, s: GenerationSettings) -> Iterator[Progress]:
        # Generate and Continue both append at the end of the story: the document is the story.
        return story_steps(backend, s, "", fields["memory"] or "", fields["style"] or "", base)

    events = wire_area(area, settings, runner, serving)
    wire_stop(area, events)
    wire_desk(area, parts, {"story": "", "memory": "", "style": ""}, serving)
    return area, parts
