"""The writer's desk of a tab: one document that generation writes into, buttons, status and drafts.

Every tab builds one `output_area` around its fields (the document is one of them: the story
tab's story, the article, the few-shot output) and wires it with `wire_area`. A tab only
supplies a `Runner`: given the mode ("generate" or "continue"), its field values, the document
to build on and the settings, it returns the task's `Progress` generator whose text is the
whole new document (the document, then what was written).

Per-session values (`history`, `span`, `last`, `drafts`) live in `gr.State`s, and `desk.py`
keeps them with every field in the browser (autosave), does Undo/Redo, Save/Open and New.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from .. import document as doc
from ..backend import BackendInfo, GenerationError, GenerationResult
from ..config import GenerationSettings, SettingsError
from ..limits import LimitError
from ..locales import LANGUAGES, message
from ..prompts import PromptError
from ..refusals import log_refusal
from ..tasks import Progress
from .i18n import localized, phrase, say
from .serving import GENERATION_EVENTS, Serving
from .settings import settings_from_values, settings_validator

LOGGER = logging.getLogger("nlg_assistant.ui")
APP_TITLE = "NLG Assistant"
USER_ERRORS = (SettingsError, PromptError, GenerationError, LimitError)
MAX_CARDS = 4  # drafts shown side by side (the Drafts setting allows up to 4)


# ---------------------------------------------------------------------------- running a tab

Runner = Callable[[str, dict, str, GenerationSettings], Iterator[Progress]]


@dataclass(frozen=True)
class LastRequest:
    """What Regenerate redoes: the mode ("generate" or "continue") and the tab's fields then."""

    mode: str
    fields: dict


def span_line(document: str, span: Any) -> str:
    """The line under the document naming the live generated span (empty once accepted or edited)."""
    live = doc.live_span(document or "", span)
    if live is None:
        return ""
    return say("status.span", words=doc.word_count(live["text"]))


def _drive(
    run: Callable[[GenerationSettings], Iterator[Progress]],
    setting_values: Sequence[Any],
    limit: int,
    fields: dict,
    base: str,
    history: Any,
    request: LastRequest,
    original: str | None = None,
) -> Iterator[tuple]:
    """Stream into the document: yields (document, status, span line, history, span, last, drafts, *cards).

    `fields` (the tab as it is) become an Undo step once something is written; the document
    becomes `base` (the document without a regenerated span) plus what is written. Any error becomes
    a visible warning and the document keeps the user's text (plus whatever was written); when
    nothing was written it is `original` again (a Regenerate that failed gives its span back).
    """
    before = base
    text, skip, no_cards = before, gr.skip(), [gr.skip()] * (2 * MAX_CARDS)
    recorded = doc.record(history, fields)
    yield before, say("status.starting"), "", skip, skip, skip, None, *cards(None)
    progress, span = None, None
    try:
        for progress in run(settings_from_values(setting_values, limit)):
            text, first = progress.text, span is None
            span = doc.span_of(text, _start(before, text))
            once = (recorded, span, request) if first else (skip, span, skip)
            streaming = _streaming_cards(text, progress.drafts) if progress.drafts else no_cards
            yield text, localized(progress.status), span_line(text, span), *once, skip, *streaming
    except Exception as error:  # the server keeps serving and the user's text stays, whatever failed
        message = error_message(error)
        if text == before:
            yield original if original is not None else before, message, *[skip] * 4, skip, *no_cards
            return
        yield text, message, span_line(text, span), recorded, span, request, skip, *no_cards
        return
    span = doc.span_of(text, _start(before, text))
    drafts = _drafts(text, span["start"], progress.result if progress else None)
    status = localized(progress.status) if progress else say("status.done")
    yield text, status, span_line(text, span), recorded, span, request, drafts, *cards(drafts)


def _start(before: str, text: str) -> int:
    """Where the generated span begins: after the old document when it was kept, else at 0."""
    return len(before) if text.startswith(before) else 0


def _drafts(text: str, start: int, result: GenerationResult | None) -> dict | None:
    """Every draft as the document's shared beginning plus that draft (None with one draft)."""
    if result is None or len(result.texts) < 2:
        return None
    base = text[: len(text) - len(result.texts[0])]
    return {"start": min(start, len(base)), "texts": [base + draft for draft in result.texts]}


def _streaming_cards(text: str, drafts: Sequence[str]) -> list:
    """Card updates while drafts stream: each card shows the shared beginning plus its draft so far."""
    base = text[: len(text) - len(drafts[0])]
    return cards({"start": len(base), "texts": [base + draft for draft in drafts]})


def cards(drafts: dict | None) -> list:
    """Updates for the draft cards: (column, textbox) per card, shown for 2 or more drafts."""
    texts = (drafts or {}).get("texts") or []
    texts = texts if len(texts) > 1 else []
    updates = []
    for index in range(MAX_CARDS):
        shown = index < len(texts)
        updates += [gr.Column(visible=shown), gr.Textbox(value=texts[index] if shown else "")]
    return updates


def log_failure(error: Exception) -> None:
    """Log a failed or refused generation in one line (the operator may need it); bad input is not."""
    if isinstance(error, GenerationError):
        LOGGER.warning("generation failed: %s", error)
    elif isinstance(error, LimitError):
        log_refusal(str(error))  # the one refusal log (also used by `serving.refused`), rate-limited


def error_message(error: Exception) -> str:
    """Show `error` as a warning toast and return it as a status line; unexpected ones are logged."""
    if isinstance(error, USER_ERRORS):
        log_failure(error)
        text = localized(str(error))
    else:
        LOGGER.exception("unexpected error in a UI handler")
        text = say("error.unexpected")
    gr.Warning(text)
    return f"⚠ {text}"


def running_marks() -> tuple[str, ...]:
    """How a running generation's status line reads, in every language ("Writing… ", "Starting…")."""
    writing = [message(language, "task.writing").split("{")[0] for language in LANGUAGES]
    return (*writing, *(message(language, "status.starting") for language in LANGUAGES))


def streaming(status: str | None) -> bool:
    """Whether the status line says a generation is under way (started, writing), in any language."""
    return any(mark in (status or "") for mark in running_marks())


def _stopped_status(status: str) -> str:
    """The status line after Stop: a running generation is marked stopped; anything else stays."""
    status = status or ""
    marks = [mark for mark in running_marks() if mark in status]
    if not marks:
        return status
    label = status.split(marks[0])[0]
    return f"{label}{say('status.stopped')}"


@dataclass
class OutputArea:
    """One tab's desk: its fields (the document among them), buttons, status, drafts and state."""

    tab: str
    names: tuple[str, ...]
    fields: list
    main: str
    status: gr.Markdown
    span_info: gr.Markdown
    buttons: dict[str, gr.Button]
    card_columns: list
    card_boxes: list
    card_buttons: list
    history: gr.State
    span: gr.State
    last: gr.State
    drafts: gr.State
    settled: gr.Button  # hidden; clicked by the browser when the fields settle (`settle.py`)
    settling: set = field(default_factory=set)  # id() of the components `settle_on` already listens to

    @property
    def document(self) -> gr.Textbox:
        """The tab's document box."""
        return self.fields[self.names.index(self.main)]

    def run_outputs(self) -> list:
        """The outputs every generation event of this tab updates, in `_drive` order."""
        fixed = [self.document, self.status, self.span_info, self.history, self.span, self.last]
        return [*fixed, self.drafts, *_pairs(self.card_columns, self.card_boxes)]


def _pairs(columns: list, boxes: list) -> list:
    return [part for pair in zip(columns, boxes, strict=True) for part in pair]


def action_buttons(tab: str, generate_key: str) -> dict[str, gr.Button]:
    """The generation row (Generate, Continue, Regenerate, Stop) and the document row under it."""
    buttons = {}
    with gr.Row(elem_classes="action-row"):
        buttons["generate"] = gr.Button(
            phrase(generate_key), variant="primary", scale=2, elem_id=f"{tab}-generate"
        )
        for name in ("continue", "regenerate"):
            buttons[name] = gr.Button(phrase(f"button.{name}"), scale=1, elem_id=f"{tab}-{name}")
        buttons["stop"] = gr.Button(phrase("button.stop"), variant="stop", scale=1, elem_id=f"{tab}-stop")
    with gr.Row(elem_classes="action-row"):
        for name in ("undo", "redo", "accept", "reject"):
            buttons[name] = gr.Button(
                phrase(f"button.{name}"), size="sm", scale=1, min_width=60, elem_id=f"{tab}-{name}"
            )
    return buttons


def output_area(tab: str, generate_key: str, names: Sequence[str], fields: list, main: str) -> OutputArea:
    """Build the buttons, status, span line and draft cards of a tab around its `fields`.

    The Generate button reads the string `generate_key` (a key of `locales`).

    Element ids are ``<tab>-<part>`` (e.g. ``story-undo``) so browser tests and CSS can find them.
    """
    buttons = action_buttons(tab, generate_key)
    status = gr.Markdown(
        phrase("status.ready"), elem_classes="status-line", elem_id=f"{tab}-status", line_breaks=True
    )
    span_info = gr.Markdown("", elem_id=f"{tab}-span")
    columns, boxes, picks = [], [], []
    with gr.Row(elem_id=f"{tab}-cards"):
        for index in range(MAX_CARDS):
            with gr.Column(visible=False, min_width=160) as column:
                boxes.append(
                    gr.Textbox(label=phrase("desk.draft", number=index + 1), lines=6, interactive=False)
                )
                picks.append(
                    gr.Button(phrase("button.use_draft"), size="sm", elem_id=f"{tab}-use-{index + 1}")
                )
            columns.append(column)
    states = gr.State(doc.new_history()), gr.State(None), gr.State(None), gr.State(None)
    parts = (status, span_info, buttons, columns, boxes, picks)
    settled = gr.Button(visible="hidden", elem_id=f"{tab}-settled")
    return OutputArea(tab, tuple(names), fields, main, *parts, *states, settled)


def _run_handler(area: OutputArea, mode: str, runner: Runner, limit: int) -> Callable[..., Iterator[tuple]]:
    """The Generate/Continue/Regenerate handler; inputs: the fields, history, span, last, then settings."""
    count = len(area.names)

    def run(*values: Any) -> Iterator[tuple]:
        fields = dict(zip(area.names, values[:count], strict=True))
        history, span, last = values[count : count + 3]
        if mode == "regenerate":
            live = doc.live_span(fields[area.main] or "", span)
            if last is None or live is None:
                warning = say("status.nothing_to_regenerate")
                gr.Warning(warning)
                yield gr.skip(), warning, *[gr.skip()] * (len(area.run_outputs()) - 2)
                return
            base = doc.without_span(fields[area.main], span)
            request, asked = last, {**last.fields, area.main: base}
        else:
            base = fields[area.main] or ""
            request, asked = LastRequest(mode, fields), fields
        steps = lambda s: runner(request.mode, asked, base, s)  # noqa: E731
        original = fields[area.main] or ""
        yield from _drive(steps, values[count + 3 :], limit, fields, base, history, request, original)

    return run


def _checked(runner: Runner, serving: Serving) -> Runner:
    """`runner` after every text field and the text to build on pass `serving`'s size check.

    The check runs when the task starts, inside `_drive`, so a refusal keeps the writer's text.
    """

    def run(mode: str, fields: dict, base: str, s: GenerationSettings) -> Iterator[Progress]:
        serving.check_fields({**fields, "document": base})
        return runner(mode, fields, base, s)

    return run


def wire_area(area: OutputArea, settings: list, runner: Runner, serving: Serving) -> list:
    """Connect Generate/Continue/Regenerate, Accept/Reject and the draft cards; returns generation events.

    The generation events share the app's one concurrency group; oversized text is refused.
    """
    limit, runner = serving.limit, _checked(runner, serving)
    inputs = [*area.fields, area.history, area.span, area.last, *settings]
    checked = {
        "api_visibility": "private",
        "outputs": area.run_outputs(),
        "validator": settings_validator(len(area.fields) + 3, limit),
        **GENERATION_EVENTS,
    }
    events = [
        area.buttons[mode].click(_run_handler(area, mode, runner, limit), inputs, **checked)
        for mode in ("generate", "continue", "regenerate")
    ]
    private = {"api_visibility": "private", "queue": False}
    span_outputs = [area.span, area.span_info]
    area.buttons["accept"].click(_accept, [area.document, area.span], span_outputs, **private)
    reject_outputs = [area.document, area.history, *span_outputs]
    reject_inputs = [*area.fields, area.history, area.span]
    area.buttons["reject"].click(_reject_handler(area), reject_inputs, reject_outputs, **private)
    area.document.input(_follow_edit, [area.document, area.span], span_outputs, **private)
    for index, button in enumerate(area.card_buttons):
        pick_inputs = [*area.fields, area.history, area.drafts]
        pick_outputs = [area.document, area.history, area.span, area.span_info]
        button.click(_pick_handler(area, index), pick_inputs, pick_outputs, **private)
    return events


def _accept(document: str, span: Any) -> tuple:
    """Keep the generated span as the user's text: it is no longer marked."""
    return None, say("status.accepted") if doc.live_span(document or "", span) else ""


def _follow_edit(document: str, span: Any) -> tuple:
    """An edit inside the generated span accepts it; the span line follows."""
    live = doc.live_span(document or "", span)
    return (gr.skip(), gr.skip()) if live else (None, "")


def _reject_handler(area: OutputArea) -> Callable[..., tuple]:
    def reject(*values: Any) -> tuple:
        fields = dict(zip(area.names, values[: len(area.names)], strict=True))
        history, span = values[len(area.names) :]
        text = fields[area.main] or ""
        if doc.live_span(text, span) is None:
            gr.Warning(say("status.nothing_to_reject"))
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return doc.without_span(text, span), doc.record(history, fields), None, ""

    return reject


def _pick_handler(area: OutputArea, index: int) -> Callable[..., tuple]:
    def pick(*values: Any) -> tuple:
        fields = dict(zip(area.names, values[: len(area.names)], strict=True))
        history, drafts = values[len(area.names) :]
        texts = (drafts or {}).get("texts") or []
        if index >= len(texts):
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        span = doc.span_of(texts[index], drafts.get("start", 0))
        if texts[index] == fields[area.main]:
            return gr.skip(), gr.skip(), span, span_line(texts[index], span)
        return texts[index], doc.record(history, fields), span, span_line(texts[index], span)

    return pick


def wire_stop(area: OutputArea, events: list) -> None:
    """Stop cancels the tab's running events and marks the status line."""
    # The status is marked only after the cancel went through, so that no update still on its
    # way from the cancelled stream can overwrite it.
    cancel = area.buttons["stop"].click(None, cancels=events, queue=False, api_visibility="private")
    cancel.then(_stopped_status, area.status, area.status, queue=False, api_visibility="private")


def base_model_hint(info: BackendInfo, tab: str) -> None:
    """On a base model, say where the article and few-shot tabs work better (instruct models)."""
    if info.chat:
        return
    gr.Markdown(phrase("hint.base_model", model=info.model_name), elem_id=f"{tab}-base-hint")
