"""What keeps a tab's work: Undo/Redo, Save/Open as Markdown, New document and browser autosave.

Autosave keeps every field, the history and the generated span of each tab in the browser's
localStorage (`gr.BrowserState`, one key per tab); nothing is stored on
the server. The settings are kept in plain localStorage by the page's own script.
`wire_desk` adds these to a tab's `OutputArea`; `restore_on_load` brings the saved
values back when the page loads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr

from .. import document as doc
from ..limits import LimitError
from ..locales import LANGUAGES, message
from .i18n import language, localized, phrase, say
from .output import OutputArea, span_line, streaming
from .serving import Serving, refused
from .settle import settle_on

UPLOAD_LIMIT_BYTES = 1_000_000  # a novel's worth of text; anything larger is not a draft
# The browser keeps the values; this fixed key only lets them survive a server restart (a random
# one per start would make yesterday's saved work unreadable). It guards nothing secret: the
# values are the user's own text, in the user's own browser.
STORAGE_SECRET = "nlg-assistant-desk-v1"
DESK_CSS = """
#story-cards, #article-cards, #fewshot-cards { gap: 0.5em; }
.saved-line { font-size: 0.8em; opacity: 0.75; }
"""
SETTINGS_KEY = "nlg-desk-settings"
RESTORE_SETTINGS_JS = f"""(...now) => {{
  try {{
    const saved = JSON.parse(localStorage.getItem("{SETTINGS_KEY}"));
    return Array.isArray(saved) && saved.length === now.length ? saved : now;
  }} catch (error) {{ return now; }}
}}"""
SAVE_SETTINGS_JS = f"""(...values) => {{
  localStorage.setItem("{SETTINGS_KEY}", JSON.stringify(values));
}}"""
_QUESTIONS = json.dumps({lang: message(lang, "desk.confirm_new") for lang in LANGUAGES})
# The question is asked in the page's language (gradio sets <html lang> to it).
CONFIRM_NEW = (
    f"(...values) => confirm(({_QUESTIONS})[(document.documentElement.lang || 'en').slice(0, 2)] "
    f"|| ({_QUESTIONS}).en) ? [true, ...values.slice(1)] : [false, ...values.slice(1)]"
)


def file_row(tab: str) -> dict[str, Any]:
    """The row under the document: New, Save, Open, the saved file and the autosave indicator."""
    with gr.Row(elem_classes="action-row"):
        parts = {
            "new": gr.Button(phrase("button.new"), size="sm", scale=0, min_width=120, elem_id=f"{tab}-new"),
            "save": gr.Button(
                phrase("button.save"), size="sm", scale=0, min_width=100, elem_id=f"{tab}-save"
            ),
            "open": gr.UploadButton(
                phrase("button.open"),
                file_types=[".md", ".txt"],
                type="binary",
                size="sm",
                scale=0,
                min_width=120,
                elem_id=f"{tab}-open",
            ),
        }
        parts["saved"] = gr.Markdown("", elem_classes="saved-line", elem_id=f"{tab}-saved")
    parts["file"] = gr.File(label=phrase("desk.saved_file"), visible=False, height=60, elem_id=f"{tab}-file")
    parts["confirm"] = gr.Checkbox(False, visible=False)
    # Rendered outside the tabs by `restore_on_load`: a hidden tab's components mount only when
    # it is opened, and the page load must read every tab's saved work.
    store = gr.BrowserState(None, storage_key=f"nlg-desk-{tab}", secret=STORAGE_SECRET, render=False)
    parts["store"] = store
    return parts


def _split(area: OutputArea, values: Sequence[Any]) -> tuple[dict, list]:
    count = len(area.names)
    return dict(zip(area.names, values[:count], strict=True)), list(values[count:])


def _field_updates(area: OutputArea, snapshot: dict, current: dict) -> list:
    """One update per field: the snapshot's value where it has one, else unchanged.

    A slider or number box left unchanged gets its current value back rather than `gr.skip()`:
    gradio answers an update by rebuilding the component in the session, which would drop its
    unchecked range (see `settings.unchecked`). Text boxes get `gr.skip()`, so that a slow
    answer never overwrites what the writer typed meanwhile.
    """
    updates = []
    for name, field in zip(area.names, area.fields, strict=True):
        if name in snapshot:
            updates.append(snapshot[name])
        else:
            updates.append(current.get(name) if isinstance(field, gr.Slider | gr.Number) else gr.skip())
    return updates


def _step_handler(area: OutputArea, step: Callable, word: str) -> Callable[..., list]:
    """Undo (`step` = document.undo, `word` "undo") or Redo (document.redo, "redo") over the tab's fields."""

    def handler(*values: Any) -> list:
        fields, (history,) = _split(area, values)
        snapshot, history = step(history, fields)
        if snapshot is None:
            nothing = say(f"status.nothing_to_{word}")
            gr.Warning(nothing)
            same = [*_field_updates(area, {}, fields), gr.skip(), gr.skip()]
            return [*same, nothing, gr.skip()]
        undos, redos = doc.counts(history)
        status = say(f"status.{word}", undos=undos, redos=redos)
        return [*_field_updates(area, snapshot, fields), history, None, status, ""]

    return handler


def _coerce(value: Any, like: Any) -> Any:
    """A front-matter string back in the type of the field's current value (number, flag, table)."""
    if not isinstance(value, str) or isinstance(like, str) or like is None:
        return value
    try:
        if isinstance(like, bool):
            return value.strip().lower() == "true"
        if isinstance(like, int | float):
            return float(value)
        return json.loads(value)
    except ValueError:
        return like


def _open_handler(area: OutputArea) -> Callable[..., list]:
    def open_file(data: bytes | None, *values: Any) -> list:
        fields, (history,) = _split(area, values)
        keep = [*_field_updates(area, {}, fields), gr.skip(), gr.skip()]
        if not data:
            return [*keep, gr.skip(), gr.skip()]
        try:
            text = doc.decode_upload(data, UPLOAD_LIMIT_BYTES)
            opened = doc.from_markdown(text, area.names, area.main)
        except doc.DocumentError as error:
            problem = say("status.open_failed", error=localized(str(error)))
            gr.Warning(problem)
            return [*keep, f"⚠ {problem}", gr.skip()]
        opened = {name: _coerce(value, fields.get(name)) for name, value in opened.items()}
        status = say("status.opened", words=doc.word_count(str(opened.get(area.main, ""))))
        return [*_field_updates(area, opened, fields), doc.record(history, fields), None, status, ""]

    return open_file


def _save_handler(area: OutputArea, serving: Serving) -> Callable[..., gr.File]:
    def save(*values: Any) -> gr.File:
        fields, _ = _split(area, values)
        markdown = doc.to_markdown(area.tab, fields, area.main)
        try:  # written to the app's one export folder, which deletes old files as it goes
            return gr.File(value=serving.export(area.tab, markdown), visible=True)
        except LimitError as error:
            raise refused(error, language()) from None

    return save


def _new_handler(area: OutputArea, blank: dict) -> Callable[..., list]:
    def new(confirmed: bool, *values: Any) -> list:
        fields, (history,) = _split(area, values)
        if not confirmed:
            return [*_field_updates(area, {}, fields), *[gr.skip()] * 4]
        status = say("status.new_document")
        return [*_field_updates(area, blank, fields), doc.record(history, fields), None, status, ""]

    return new


def wire_desk(area: OutputArea, parts: dict, blank: dict, serving: Serving) -> None:
    """Connect Undo/Redo, Save/Open, New and autosave of a tab; `blank` are the fields of a new document."""
    private = {"api_visibility": "private", "queue": False}
    state_inputs = [*area.fields, area.history]
    outputs = [*area.fields, area.history, area.span, area.status, area.span_info]
    area.buttons["undo"].click(_step_handler(area, doc.undo, "undo"), state_inputs, outputs, **private)
    area.buttons["redo"].click(_step_handler(area, doc.redo, "redo"), state_inputs, outputs, **private)
    parts["open"].upload(_open_handler(area), [parts["open"], *state_inputs], outputs, **private)
    parts["save"].click(_save_handler(area, serving), area.fields, parts["file"], **private)
    new_inputs = [parts["confirm"], *state_inputs]
    parts["new"].click(_new_handler(area, blank), new_inputs, outputs, js=CONFIRM_NEW, **private)
    kept = [*area.fields, area.history, area.span, area.status]
    saving = {"trigger_mode": "always_last", "show_progress": "hidden", **private}
    to_browser = [parts["store"], parts["saved"]]
    # The history and span change only with a field or the status line.
    settle_on(area, [*area.fields, area.status])
    area.settled.click(_save_to_browser(area), kept, to_browser, **saving)
    # The writer's own edits are saved even while the status line still says "Writing…" (a
    # generation whose connection broke off never replaces it).
    typed = [field.input for field in area.fields]
    gr.on(typed, _save_to_browser(area, typed=True), kept, to_browser, **saving)


def _save_to_browser(area: OutputArea, typed: bool = False) -> Callable[..., tuple]:
    """The autosave: every field, the history and the span into the tab's `gr.BrowserState`.

    Runs when the tab settles (`settle.py`), not on every streamed update: each of a generation's ~7
    updates a second would send the fields to the server and the whole history back. The end of
    the generation (its last status line, or Stop's mark) saves what it wrote; a browser closed
    mid-stream keeps the document from before it. With `typed` (the writer's own edits) it saves only
    while the status line says a generation runs: otherwise the same edit settles the tab, which
    saves. Without `typed` it also skips a running generation (a click that raced its start).
    """

    def save(*values: Any) -> tuple:
        fields, (history, span, status) = _split(area, values)
        if streaming(status) != typed:
            return gr.skip(), gr.skip()
        words = doc.word_count(str(fields.get(area.main) or ""))
        return {"fields": fields, "history": history, "span": span}, say("desk.saved_words", words=words)

    return save


def restore_handler(area: OutputArea) -> Callable[[Any], list]:
    """The page-load handler: the tab's saved fields, history and span (unchanged when none)."""

    def restore(saved: Any, *values: Any) -> list:
        now, _ = _split(area, values)
        if not isinstance(saved, dict) or not isinstance(saved.get("fields"), dict):
            return [*_field_updates(area, {}, now), *[gr.skip()] * 4]
        fields = {**now, **saved["fields"]}
        text = str(fields.get(area.main) or "")
        span = doc.live_span(text, saved.get("span"))
        history = saved.get("history") or doc.new_history()
        return [*_field_updates(area, fields, now), history, span, span_line(text, span), say("desk.saved")]

    return restore


def restore_on_load(demo: gr.Blocks, desks: Sequence[tuple[OutputArea, dict]], settings: list) -> None:
    """Bring back every tab's saved work and the settings when the page (re)loads; keep settings saved."""
    private = {"api_visibility": "private", "queue": False}
    for area, parts in desks:
        outputs = [*area.fields, area.history, area.span, area.span_info, parts["saved"]]
        parts["store"].render()
        demo.load(restore_handler(area), [parts["store"], *area.fields], outputs, **private)
    # The settings are kept by the browser alone (plain localStorage, no server round trip): a
    # server-side update would replace the sliders' unchecked copies in the session, bringing
    # back gradio's own range check (an "Error" badge instead of our message at the field).
    demo.load(None, settings, settings, js=RESTORE_SETTINGS_JS, **private)
    triggers = [setting.change for setting in settings]
    gr.on(triggers, None, settings, None, js=SAVE_SETTINGS_JS, trigger_mode="always_last", **private)
