"""The story tab: story so far, memory and style notes; the output continues the story."""

from __future__ import annotations

from collections.abc import Iterator

import gradio as gr

from ..backend import Backend
from ..config import GenerationSettings
from ..tasks import Progress
from ..tasks.story import story_steps
from .alternatives import alternatives_panel, story_context
from .counters import counters
from .output import output_area, to_markdown, wire_area, wire_stop_and_export, write_markdown

STORY_EXAMPLES = [
    ["Once upon a time there was a little fox who lived in the woods.", "Pip, a curious young fox.", "Warm"],
    ["The princess walked to the castle and opened the old wooden door.", "", "Suspenseful, short sentences"],
    ["Every morning the baker made bread, cakes and sweet buns for the town.", "The baker, Ada.", ""],
]


def story_tab(backend: Backend, settings: list, limit: int) -> None:
    """Story continuation: story so far, memory and style notes."""
    with gr.Tab("Story continuation", id="story"):
        with gr.Row():
            story = gr.Textbox(
                label="Story so far",
                lines=7,
                scale=3,
                placeholder="Once upon a time…",
                info="The model continues from the last word.",
                elem_id="story-text",
            )
            with gr.Column(scale=2):
                memory = gr.Textbox(label="Memory", lines=3, placeholder="Characters, places, facts to keep")
                style = gr.Textbox(label="Style notes", lines=2, placeholder="e.g. gentle, for children")
        area = output_area("story", "Generate", "Continuation (editable)")
        counters(backend, "story", area.output, [story, memory, style], story_context, settings)
        alternatives_panel(backend, "story", area.output, [story, memory, style], story_context)
        gr.Examples(
            STORY_EXAMPLES, [story, memory, style], elem_id="story-examples", api_visibility="private"
        )

    def runner(mode: str, fields: tuple, base: str, s: GenerationSettings) -> Iterator[Progress]:
        story_text, memory_text, style_text = fields
        return story_steps(
            backend, s, story_text, memory_text, style_text, base if mode == "continue" else ""
        )

    events = wire_area(area, [story, memory, style], settings, runner, limit)

    def export(story_text: str, memory_text: str, style_text: str, output: str) -> str:
        notes = [("Memory", memory_text), ("Style notes", style_text)]
        return write_markdown(
            "story", to_markdown("Story", [("", (story_text or "") + (output or "")), *notes])
        )

    wire_stop_and_export(area, events, [story, memory, style, area.output], export)
