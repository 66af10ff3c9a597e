"""tasks/alternatives.py: the alternatives' prompt is the one each tab's Continue sends; k and position
are checked; prompt_tokens counts what the model will see. Real tiny model, real forward passes."""

from __future__ import annotations

import pytest
from test_tasks import Recorder

from nlg_assistant.backend import CHAT_MARGIN_TOKENS
from nlg_assistant.prompts import PromptError
from nlg_assistant.tasks.alternatives import (
    MAX_K,
    ONE_TOKEN,
    TabContext,
    alternatives_at,
    continue_prompt,
    cut_position,
    prompt_tokens,
)
from nlg_assistant.tasks.article import continue_article_steps
from nlg_assistant.tasks.fewshot import fewshot_steps
from nlg_assistant.tasks.story import story_steps

EXAMPLES = (("hey can u send it", "Could you please send it?"),)


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    from nlg_assistant.generation import LocalBackend
    from nlg_assistant.models import load_model

    return LocalBackend(load_model(str(tiny_model_dir), "cpu"), 1024, timeout_s=60)


class AltRecorder(Recorder):
    """Records the prompts of `start` (Recorder) and of `alternatives`."""

    def alternatives(self, prompt, k):
        self.prompts.append(prompt)
        return self.inner.alternatives(prompt, k)


def _continue_prompt(backend, tab, document):
    """The prompt the tab's Continue sends for `document` (its first request, recorded)."""
    recorder = AltRecorder(backend)
    settings = ONE_TOKEN
    if tab == "story":
        steps = story_steps(recorder, settings, "", "Pip, a fox", "Warm", document)  # as the story tab
    elif tab == "article":
        steps = continue_article_steps(recorder, settings, "Bees", "friendly", document)
    else:
        steps = fewshot_steps(recorder, settings, EXAMPLES, "pls call me", "Rewrite formally", document)
    next(iter(steps), None)
    return recorder.prompts[0]


CONTEXTS = {
    "story": TabContext(memory="Pip, a fox", style="Warm"),
    "article": TabContext(topic="Bees", tone="friendly"),
    "fewshot": TabContext(examples=EXAMPLES, instruction="Rewrite formally", new_input="pls call me"),
}


@pytest.mark.parametrize("tab", ["story", "article", "fewshot"])
def test_the_prompt_is_the_one_continue_sends(backend, tab):
    document = "Once upon a time there was a little fox who lived"
    assert continue_prompt(backend, tab, document, CONTEXTS[tab]) == _continue_prompt(backend, tab, document)


@pytest.mark.parametrize("tab", ["story", "article", "fewshot"])
def test_alternatives_at_a_position_continue_the_text_cut_there(backend, tab):
    text = " there was a little fox who lived in the woods."
    recorder = AltRecorder(backend)
    got = alternatives_at(recorder, tab, text, 12, 4, CONTEXTS[tab])
    assert recorder.prompts == [continue_prompt(backend, tab, text[:12], CONTEXTS[tab])]
    assert [a.token_id for a in got] == [a.token_id for a in backend.alternatives(recorder.prompts[0], 4)]
    assert len(got) == 4 and sum(a.probability for a in got) <= 1.0
    at_end = alternatives_at(backend, tab, text, -1, 3, CONTEXTS[tab])
    assert at_end == backend.alternatives(continue_prompt(backend, tab, text, CONTEXTS[tab]), 3)


@pytest.mark.parametrize(
    ("position", "k", "message"),
    [
        (-2, 5, "The position must be -1"),
        (99, 5, "0 to 5"),
        (1.5, 5, r"^The position must be a whole number \(got 1\.5\)\.$"),
        ("x", 5, r"^The position must be a whole number \(got 'x'\)\.$"),
        (0, "many", r"^The number of alternatives must be a whole number \(got 'many'\)\.$"),
        (0, 0, f"1 to {MAX_K}"),
        (0, MAX_K + 1, f"1 to {MAX_K}"),
    ],
)
def test_bad_positions_and_k_are_refused_with_a_message(backend, position, k, message):
    with pytest.raises(PromptError, match=message):
        alternatives_at(backend, "story", "Hello", position, k)


def test_an_unknown_tab_is_refused(backend):
    with pytest.raises(PromptError, match="Unknown tab 'poem'"):
        alternatives_at(backend, "poem", "Hello")


def test_prompt_tokens_counts_the_document_or_the_chat_turns(backend):
    prompt = continue_prompt(backend, "story", " and then", CONTEXTS["story"])
    assert prompt_tokens(backend, prompt) == backend.count_tokens(prompt.document)

    class Chat:
        info = backend.info.__class__(**{**backend.info.__dict__, "chat": True})
        count_tokens = staticmethod(backend.count_tokens)

    chat_prompt = continue_prompt(Chat(), "story", " and then", CONTEXTS["story"])
    contents = [m["content"] for m in chat_prompt.messages]
    expected = sum(backend.count_tokens(c) for c in contents) + CHAT_MARGIN_TOKENS
    assert prompt_tokens(Chat(), chat_prompt) == expected


def test_the_cut_can_be_anywhere_from_the_start_to_the_end():
    assert [cut_position("Hello", p) for p in (0, 3, 5, -1, "2", 4.0)] == [0, 3, 5, 5, 2, 4]
