"""Alternatives, counters and keyboard shortcuts in the real app, in headless Chromium (and the API).

The listed alternatives are checked against the same tiny model run in this process on the prompt
the story tab's Continue builds, so the test fails if the panel lists anything else.
"""

from __future__ import annotations

import json
import re

import pytest
import test_browser
from test_browser import LONG_SEED, _output, _set_seed, _set_setting, _wait_for_status, _wait_value

from nlg_assistant.tasks.alternatives import TabContext, continue_prompt

pytestmark = pytest.mark.browser
# the same fixtures as test_browser: the app on the long-window tiny model (simple engine), Chromium,
# and a fresh page (its own browser context) on the app
long_tiny_model, server, browser = test_browser.long_tiny_model, test_browser.server, test_browser.browser
page = test_browser.page
STORY = "Once upon a time there was a little fox"


@pytest.fixture(scope="module")
def reference(long_tiny_model):
    """The app's model in this process, as a simple-engine backend."""
    from nlg_assistant.generation import LocalBackend
    from nlg_assistant.models import load_model

    return LocalBackend(load_model(str(long_tiny_model), "cpu"))


def _percentages(labels: list[str]) -> list[float]:
    return [float(re.search(r"— ([\d.]+)%$", label).group(1)) for label in labels]


def test_alternatives_at_a_selected_position_and_branching_continues_from_there(page, reference):
    document = STORY + " who lived in the woods."
    at = len(STORY) + 10  # the start of "in"
    _output(page, "story").fill(document)
    _set_setting(page, "Max new tokens", 12)
    page.locator("#story-alt").get_by_text("Alternatives").first.click()
    _output(page, "story").evaluate(f"el => {{ el.focus(); el.setSelectionRange({at}, {at + 2}); }}")
    page.wait_for_function(f"document.querySelector('#story-alt-position input').value === '{at}'")
    _set_setting(page, "How many", 4)
    page.locator("#story-alt-show").click()
    page.locator("#story-alt-choices label").nth(3).wait_for()
    labels = page.locator("#story-alt-choices label").all_inner_texts()
    assert len(labels) == 4 and sum(_percentages(labels)) <= 100.0

    prompt = continue_prompt(reference, "story", document[:at], TabContext())
    expected = reference.alternatives(prompt, 4)
    assert _percentages(labels) == pytest.approx([round(a.probability * 100, 1) for a in expected], abs=0.051)

    page.locator("#story-alt-choices label").nth(1).click()  # branch on the second likeliest token
    _wait_for_status(page, "story", "finish: eos", "finish: length")
    branched = document[:at] + expected[1].text
    text = _output(page, "story").input_value()
    assert text.startswith(branched) and len(text) > len(branched), (text, branched)
    page.locator("#story-undo").click()  # the pick and the generation it resumed are one step
    _wait_value(page, "#story-document textarea", document)
    page.locator("#story-redo").click()
    _wait_value(page, "#story-document textarea", text)


def test_ctrl_enter_generates_and_escape_stops(page):
    story = _output(page, "story")
    story.fill(STORY)
    _set_setting(page, "Max new tokens", 1024)
    _set_seed(page, LONG_SEED)
    story.focus()
    page.keyboard.press("Control+Enter")
    page.wait_for_function(f"document.querySelector('#story-document textarea').value.length > {len(STORY)}")
    page.keyboard.press("Escape")
    status = _wait_for_status(page, "story", "finish:")
    assert "finish: stopped" in status or "finish: eos" in status
    assert _output(page, "story").input_value()


def test_ctrl_shift_enter_continues_and_ctrl_z_outside_fields_undoes(page):
    _output(page, "story").fill(STORY + " who lived")
    _set_setting(page, "Max new tokens", 8)
    _output(page, "story").focus()
    page.keyboard.press("Control+Shift+Enter")
    _wait_for_status(page, "story", "finish: eos", "finish: length")
    assert _output(page, "story").input_value().startswith(STORY + " who lived")
    page.locator("#app-header").click()  # focus outside any text field: Ctrl+Z is the app's Undo
    page.keyboard.press("Control+z")
    expected = json.dumps(STORY + " who lived")
    page.wait_for_function(f"document.querySelector('#story-document textarea').value === {expected}")


def test_counters_follow_the_document(page, reference):
    _output(page, "story").fill("Once upon a time")
    page.get_by_text("4 words · 16 characters").wait_for()
    _output(page, "story").fill("Once upon a time 小狐狸 ran")
    line = page.locator("#story-counts")
    page.get_by_text("8 words · 24 characters").wait_for()  # each CJK character is a word
    tokens = reference.count_tokens("Once upon a time 小狐狸 ran")
    assert f"{tokens} tokens" in line.inner_text() and "window 4,096 tokens" in line.inner_text()


@pytest.mark.server
def test_the_alternatives_api_lists_the_models_top_k(server, reference):
    from gradio_client import Client

    client = Client(server.url, verbose=False)
    rows = client.predict(tab="story", text=STORY, position=-1, k=5, memory="Pip", api_name="/alternatives")
    expected = reference.alternatives(continue_prompt(reference, "story", STORY, TabContext(memory="Pip")), 5)
    assert [row[0] for row in rows] == [a.text for a in expected]
    assert [row[1] for row in rows] == pytest.approx([a.probability for a in expected], rel=1e-4)
    with pytest.raises(Exception, match="must be 1 to 20"):
        client.predict(tab="story", text=STORY, k=21, api_name="/alternatives")
