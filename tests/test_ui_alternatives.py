"""ui/alternatives.py, ui/counters.py and ui/shortcuts.py without a browser (real tiny model, real gradio)."""

from __future__ import annotations

import gradio as gr
import pytest

from nlg_assistant import document, locales
from nlg_assistant.backend import Alternative
from nlg_assistant.config import SETTING_NAMES, GenerationSettings
from nlg_assistant.exports import ExportFolder
from nlg_assistant.tasks.alternatives import TabContext, continue_prompt
from nlg_assistant.tasks.story import story_steps
from nlg_assistant.ui import output
from nlg_assistant.ui.alternatives import (
    _branch,
    _branch_handler,
    alternatives_api,
    choice_label,
    fewshot_context,
)
from nlg_assistant.ui.counters import counts_line
from nlg_assistant.ui.serving import Serving
from nlg_assistant.ui.shortcuts import SHORTCUTS_JS


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    from nlg_assistant.generation import LocalBackend
    from nlg_assistant.models import load_model

    return LocalBackend(load_model(str(tiny_model_dir), "cpu"), 64, timeout_s=60)


def test_labels_show_spaces_line_breaks_and_control_bytes():
    assert choice_label(2, Alternative(" the\n", 0.2345)) == "2. ␣the↵ — 23.4%"
    assert choice_label(1, Alternative("\x17", 0.5)) == "1. \\x17 — 50.0%"
    assert choice_label(3, Alternative("", 0.01)) == "3. ∅ — 1.0%"


def test_branching_cuts_and_inserts_and_ignores_stale_picks():
    branch = {"head": "The fox ", "tokens": [" ran", "jumped"]}
    assert _branch(1, branch) == ("The fox jumped", -1)
    skip = type(gr.skip())
    assert all(isinstance(part, skip) for part in (*_branch(5, branch), *_branch(None, None)))


def test_a_branch_and_the_generation_it_resumes_are_undone_in_one_step(backend):
    with gr.Blocks():
        boxes = [gr.Textbox(), gr.Textbox(), gr.Textbox()]
        area = output.output_area("story", "button.generate", ("story", "memory", "style"), boxes, "story")
    before = {"story": "The fox ran home.", "memory": "Pip", "style": ""}
    history = document.record(None, {"story": "The fox", "memory": "Pip", "style": ""})
    branch = {"head": "The fox ", "tokens": [" ran", "jumped"]}
    text, position, history = _branch_handler(area)(1, branch, *before.values(), history)
    assert (text, position) == ("The fox jumped", -1)
    branched = {**before, "story": text}  # what the page's Continue click then sends

    def run(settings):
        return story_steps(backend, settings, "", "Pip", "", text)

    values = [getattr(GenerationSettings(max_new_tokens=6, seed=1), name) for name in SETTING_NAMES]
    request = output.LastRequest("continue", branched)
    last = list(output._drive(run, values, 64, branched, text, history, request))[-1]
    written, history = {**branched, "story": last[0]}, last[3]
    assert written["story"].startswith(text) and len(written["story"]) > len(text)
    back, history = document.undo(history, written)
    assert back == before  # one Undo: the document from before the pick
    assert document.redo(history, back)[0] == written
    stale = _branch_handler(area)(None, branch, *before.values(), history)
    assert all(isinstance(part, type(gr.skip())) for part in stale)


def test_the_api_function_validates_on_the_server_and_reads_fewshot_specs(backend):
    api = alternatives_api(backend, Serving(64, 1000, ExportFolder()))
    with pytest.raises(gr.Error, match="1 to 20"):
        api(tab="story", text="Once", k=0)
    with pytest.raises(gr.Error, match="0 to 4"):
        api(tab="story", text="Once", position=5)
    with pytest.raises(gr.Error, match="preset name"):
        api(tab="fewshot", new_input="hi", examples_json="{nope")
    rows = api(tab="fewshot", text=" Could", new_input="pls call me", examples_json="Formal rewrite", k=3)
    table = [["hey u there", "Are you there?"], ["", ""]]
    assert fewshot_context(table, "Rewrite", "pls").examples == (("hey u there", "Are you there?"),)
    assert len(rows) == 3 and sum(p for _, p in rows) <= 1.0


def test_counts_line_counts_the_whole_document_and_the_prompt(backend):
    context, story = TabContext(memory="Pip"), "Once upon a time there was"
    line = counts_line(backend, "story", story, context, 20)
    prompt = continue_prompt(backend, "story", story, context)
    assert line.startswith(f"6 words · 26 characters · {backend.count_tokens(story)} tokens — prompt ")
    assert f"+ 20 to write, window {backend.info.context_window:,} tokens" in line
    assert backend.count_tokens(prompt.document) > 0
    empty = counts_line(backend, "article", "", TabContext(), 20)
    assert empty.startswith("0 words · 0 characters · 0 tokens — prompt")


def test_the_shortcuts_click_the_buttons_named_in_the_help():
    for part in ("generate", "continue", "stop", "undo", "redo"):
        assert f'"{part}"' in SHORTCUTS_JS or f'? "{part}"' in SHORTCUTS_JS or part in SHORTCUTS_JS
    helps = [locales.message(language, "shortcuts.help") for language in locales.LANGUAGES]
    for key in ("Ctrl+Enter", "Ctrl+Shift+Enter", "Esc", "Ctrl+Z", "Ctrl+Y"):
        assert all(key in help_line for help_line in helps)
