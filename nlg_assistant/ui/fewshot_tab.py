"""The few-shot tab: a preset or up to 8 example pairs, an instruction and the new input."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import gradio as gr

from ..backend import Backend
from ..config import GenerationSettings
from ..prompts import MAX_EXAMPLES, PRESETS
from ..tasks import Progress
from ..tasks.fewshot import (
    DEFAULT_PRESET,
    examples_from_rows,
    fewshot_steps,
    find_preset,
    keeps_words,
    preset_rows,
)
from .alternatives import alternatives_panel, fewshot_context
from .counters import counters
from .desk import file_row, wire_desk
from .i18n import headers, phrase
from .output import OutputArea, base_model_hint, output_area, wire_area, wire_stop
from .serving import Serving

# The preset is not kept: restoring it would refill the instruction and examples it was edited from.
NAMES = ("output", "instruction", "examples", "input", "one_line", "keep_words")
FEWSHOT_EXAMPLES = [
    ["Formal rewrite", "yo, meeting moved to 3, pls tell the others"],
    ["Product description", "Ceramic coffee mug, 350 ml, dishwasher safe, matte blue"],
    ["Headline", "The town's only bakery reopened on Saturday after a fire closed it for a year."],
]


def fill_preset(name: str | None, chat: bool) -> tuple:
    """Instruction, example rows, "stop at end of line" and "keep the input's words" for the chosen
    preset (unchanged when none) on a model with (`chat`) or without a chat template."""
    preset = find_preset(name or "")
    if preset is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    return (*preset_rows(preset.name), preset.one_line, keeps_words(preset, chat))


def _flag_boxes(chat: bool) -> tuple[gr.Checkbox, gr.Checkbox]:
    """The default preset's "stop at end of line" and "keep the input's words" options."""
    with gr.Column(scale=1, min_width=160):
        one_line = gr.Checkbox(
            PRESETS[DEFAULT_PRESET].one_line,
            label=phrase("fewshot.one_line"),
            info=phrase("fewshot.one_line_info"),
            elem_id="fewshot-one-line",
        )
        keep_words = gr.Checkbox(
            keeps_words(PRESETS[DEFAULT_PRESET], chat),
            label=phrase("fewshot.keep_words"),
            info=phrase("fewshot.keep_words_info"),
            elem_id="fewshot-keep-words",
        )
    return one_line, keep_words


def _fewshot_inputs(chat: bool) -> tuple[gr.Component, ...]:
    """The few-shot tab's fields: preset, instruction, the examples table, the new input, two options
    (`chat`: the model has a chat template)."""
    instruction_text, rows = preset_rows(DEFAULT_PRESET)
    with gr.Row():
        preset = gr.Dropdown(
            [(phrase(f"preset.{name}"), name) for name in PRESETS],
            value=DEFAULT_PRESET,
            label=phrase("fewshot.preset"),
            scale=1,
            info=phrase("fewshot.preset_info"),
        )
        instruction = gr.Textbox(instruction_text, label=phrase("fewshot.instruction"), lines=2, scale=3)
    table = gr.Dataframe(
        rows,
        headers=headers("fewshot-table", ("fewshot.example_input", "fewshot.example_output"), "span"),
        datatype=["str", "str"],
        type="array",
        row_count=MAX_EXAMPLES,
        column_count=2,
        wrap=True,
        column_widths=["50%", "50%"],
        interactive=True,
        max_height=360,
        label=phrase("fewshot.examples", count=MAX_EXAMPLES),
        elem_id="fewshot-table",
    )
    with gr.Row():
        new_input = gr.Textbox(
            label=phrase("fewshot.new_input"),
            lines=3,
            scale=4,
            placeholder=phrase("fewshot.new_input_placeholder"),
            elem_id="fewshot-input",
        )
        one_line, keep_words = _flag_boxes(chat)
    return preset, instruction, table, new_input, one_line, keep_words


def fewshot_tab(backend: Backend, settings: list, serving: Serving) -> tuple[OutputArea, dict]:
    """Few-shot style: a preset or up to 8 example pairs, an instruction, the input; output = document."""
    with gr.Tab(phrase("tab.fewshot"), id="fewshot"):
        base_model_hint(backend.info, "fewshot")
        preset, instruction, table, new_input, one_line, keep_words = _fewshot_inputs(backend.info.chat)
        output = gr.Textbox(
            label=phrase("fewshot.output"),
            lines=8,
            max_lines=30,
            buttons=["copy"],
            elem_id="fewshot-document",
        )
        fields = [output, instruction, table, new_input, one_line, keep_words]
        area = output_area("fewshot", "button.generate", NAMES, fields, "output")
        parts = file_row("fewshot")
        context = [table, instruction, new_input]
        counters(backend, area, context, fewshot_context, settings)
        alternatives_panel(backend, area, context, fewshot_context)
        examples = gr.Examples(
            FEWSHOT_EXAMPLES,
            [preset, new_input],
            elem_id="fewshot-examples",
            label=phrase("examples"),
            api_visibility="private",
        )
        examples.dataset.headers = headers("fewshot-examples", ("fewshot.preset", "fewshot.new_input"))
    fill = partial(fill_preset, chat=backend.info.chat)
    preset.change(fill, preset, [instruction, table, one_line, keep_words], api_visibility="private")

    def runner(mode: str, fields: dict, base: str, s: GenerationSettings) -> Iterator[Progress]:
        extend = base if mode == "continue" else ""
        pairs = examples_from_rows(fields["examples"])
        text, instruction = fields["input"], fields["instruction"]
        single, keep = bool(fields["one_line"]), bool(fields["keep_words"])
        return fewshot_steps(backend, s, pairs, text, instruction, extend, one_line=single, keep_words=keep)

    events = wire_area(area, settings, runner, serving)
    wire_stop(area, events)
    wire_desk(area, parts, {"output": "", "input": ""}, serving)
    return area, parts
