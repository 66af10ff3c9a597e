"""The model's next-token alternatives: a panel under each tab's document and the `/alternatives` API.

Select a word in the document (or leave the position at -1, the end) and click "Show
alternatives": the model's top-k next tokens at the start of the selection are listed with their
probabilities. Picking one branches: the text is cut there, the token inserted, and the tab's
Continue button resumes generation from that point. The prompt is the one Continue sends
(`tasks.alternatives`), so a tab only says which box holds the document and how its other
fields make a `TabContext`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr

from .. import document as doc
from ..backend import Alternative, Backend
from ..locales import translate
from ..tasks.alternatives import MAX_K, TabContext, alternatives_at, cut_position
from ..tasks.fewshot import examples_from_rows, examples_from_spec
from .i18n import phrase, say
from .output import USER_ERRORS, OutputArea, error_message, log_failure
from .serving import Serving

DEFAULT_K = 5
ALTERNATIVES_TEXTS = ("text", "memory", "style", "topic", "tone", "examples", "instruction", "new input")
ContextOf = Callable[..., TabContext]  # the tab's context box values -> TabContext


_VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥"}


def choice_label(rank: int, alternative: Alternative) -> str:
    """'2. ␣time — 23.4%': spaces, line breaks and control bytes made visible ('␣the' is not 'the')."""
    shown = "".join(_VISIBLE.get(c, c if c.isprintable() else f"\\x{ord(c):02x}") for c in alternative.text)
    return f"{rank}. {shown or '∅'} — {alternative.probability:.1%}"


def _show(backend: Backend, tab: str, context_of: ContextOf):
    """The "Show alternatives" handler: (document, position, k, *context values) -> radio, state, status."""

    def show(text: str, position: Any, k: Any, *context_values: Any) -> tuple:
        text = text or ""
        try:
            cut = cut_position(text, position)
            found = alternatives_at(backend, tab, text, cut, k, context_of(*context_values))
        except Exception as error:  # the document is never touched: only the panel says what failed
            return gr.Radio(choices=[], value=None), None, error_message(error)
        labels = [choice_label(rank, a) for rank, a in enumerate(found, 1)]
        branch = {"head": text[:cut], "tokens": [a.text for a in found]}
        total = sum(a.probability for a in found)
        where = say("alt.at_end") if cut == len(text) else say("alt.at_char", position=cut)
        status = say("alt.status", count=len(found), where=where, total=f"{total:.1%}")
        return gr.Radio(choices=labels, value=None), branch, status

    return show


def _branch(index: int | None, branch: dict | None) -> tuple:
    """The document cut at the position with the picked token inserted (unchanged when stale)."""
    if index is None or not branch or not 0 <= index < len(branch.get("tokens", [])):
        return gr.skip(), gr.skip()
    return branch["head"] + branch["tokens"][index], -1


def _branch_handler(area: OutputArea) -> Callable[..., tuple]:
    """Picking an alternative: (index, branch, *fields, history) -> document, position, history.

    The pick is an undo step that the generation Continue then resumes joins (`document.record`'s
    `after`): one Undo gives back the document from before the pick, whatever was written since.
    """
    count = len(area.names)

    def branch(index: int | None, state: dict | None, *values: Any) -> tuple:
        fields, history = dict(zip(area.names, values[:count], strict=True)), values[count]
        text, position = _branch(index, state)
        if not isinstance(text, str):
            return text, position, gr.skip()
        return text, position, doc.record(history, fields, after={**fields, area.main: text})

    return branch


def alternatives_panel(
    backend: Backend, area: OutputArea, context_boxes: Sequence[Any], context_of: ContextOf
) -> list:
    """The Alternatives panel for the document of `area`'s tab; returns its events (for Stop to cancel).

    Element ids: ``<tab>-alt-position``, ``<tab>-alt-k``, ``<tab>-alt-show``, ``<tab>-alt-choices``,
    ``<tab>-alt-status``. Branching clicks ``#<tab>-continue`` in the page.
    """
    tab, document_box = area.tab, area.document
    with gr.Accordion(phrase("alt.title"), open=False, elem_id=f"{tab}-alt"):
        with gr.Row():
            position = gr.Number(
                -1,
                label=phrase("alt.position"),
                precision=0,
                elem_id=f"{tab}-alt-position",
            )
            k = gr.Slider(1, MAX_K, DEFAULT_K, step=1, label=phrase("alt.k"), elem_id=f"{tab}-alt-k")
            show = gr.Button(phrase("alt.show"), size="sm", elem_id=f"{tab}-alt-show")
        choices = gr.Radio([], label=phrase("alt.choices"), type="index", elem_id=f"{tab}-alt-choices")
        status = gr.Markdown(elem_id=f"{tab}-alt-status")
    branch = gr.State(None)
    private = {"api_visibility": "private"}
    document_box.select(_selected, None, position, queue=False, **private)
    shown = show.click(
        _show(backend, tab, context_of),
        [document_box, position, k, *context_boxes],
        [choices, branch, status],
        concurrency_id="alternatives",
        **private,
    )
    branch_inputs = [choices, branch, *area.fields, area.history]
    branch_outputs = [document_box, position, area.history]
    picked = choices.input(_branch_handler(area), branch_inputs, branch_outputs, queue=False, **private)
    picked.then(None, js=f"() => document.querySelector('#{tab}-continue')?.click()", **private)
    return [shown]


def story_context(memory: str, style: str) -> TabContext:
    """The story tab's context: the story is the document itself; memory and style notes beside it."""
    return TabContext(memory=memory or "", style=style or "")


def article_context(topic: str, tone: str) -> TabContext:
    """The article tab's context: Continue keeps the topic and tone in the prompt."""
    return TabContext(topic=topic or "", tone=tone or "")


def fewshot_context(rows: Any, instruction: str, new_input: str) -> TabContext:
    """The few-shot tab's context: the example table, the instruction and the new input."""
    pairs = tuple(examples_from_rows(rows))
    return TabContext(examples=pairs, instruction=instruction or "", new_input=new_input or "")


def _selected(event: gr.SelectData) -> int:
    """The start of the text the user selected in the document (where the alternatives apply)."""
    index = event.index
    return int(index[0] if isinstance(index, (list, tuple)) else index)


def alternatives_api(backend: Backend, serving: Serving) -> Callable[..., list[list]]:
    """The `/alternatives` endpoint: [[token, probability], ...] at `position` of `text` in `tab`."""

    def alternatives(
        tab: str = "story",
        text: str = "",
        position: int = -1,
        k: int = DEFAULT_K,
        memory: str = "",
        style: str = "",
        topic: str = "",
        tone: str = "",
        examples_json: str = "",
        instruction: str = "",
        new_input: str = "",
    ) -> list[list]:
        """The model's top-k next tokens (1 <= k <= 20) after `text[:position]` (-1: all of it), as the
        tab's Continue would see it; story: memory, style; article: topic, tone; fewshot: new_input,
        examples_json (a preset name or JSON pairs), instruction. Returns [[token, probability], ...].
        """
        try:
            texts = (text, memory, style, topic, tone, examples_json, instruction, new_input)
            serving.check_texts(ALTERNATIVES_TEXTS, texts)  # before any tokenising
            pairs, instruction_now = (), instruction
            if tab == "fewshot":
                pairs, instruction_now, _ = examples_from_spec(examples_json, instruction)
            context = TabContext(memory, style, topic, tone, tuple(pairs), instruction_now, new_input)
            found = alternatives_at(backend, tab, text, position, k, context)
        except USER_ERRORS as error:  # a message for the caller, not a traceback in the server log
            log_failure(error)
            raise gr.Error(translate(serving.lang, str(error)), print_exception=False) from None
        return [[a.text, a.probability] for a in found]

    return alternatives
