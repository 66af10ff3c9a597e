"""The output side of a tab: buttons, the editable output, status, Undo history, drafts and export.

Every tab builds one `output_area` and wires it with `wire_area` (Generate, Continue,
Regenerate, Undo, drafts) and `wire_stop_and_export`. A tab only supplies a `Runner`: given
the mode ("generate" or "continue"), its field values, the text to build on and the settings,
it returns the task's `Progress` generator.

Per-session values live in the area's `gr.State`s (`history`, `last`, `drafts`), made in one
place (`_session_states`): a Redo stack is one more state next to `history` (pushed by `_undo`,
cleared by `_drive`), and autosave swaps these for `gr.BrowserState` there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ..backend import BackendInfo, GenerationError, GenerationResult
from ..config import GenerationSettings, SettingsError
from ..limits import LimitError
from ..prompts import PromptError
from ..tasks import Progress
from .serving import GENERATION_EVENTS, Serving, refused
from .settings import settings_from_values, settings_validator

LOGGER = logging.getLogger("nlg_assistant.ui")
APP_TITLE = "NLG Assistant"
HISTORY_LIMIT = 30  # Undo steps kept per tab and browser session
USER_ERRORS = (SettingsError, PromptError, GenerationError, LimitError)


def push_history(history: Sequence[str] | None, text: str) -> list[str]:
    """A new Undo history with `text` on top (the oldest entries dropped past `HISTORY_LIMIT`)."""
    return [*(history or []), text][-HISTORY_LIMIT:]


def pop_history(history: Sequence[str] | None) -> tuple[str | None, list[str]]:
    """The text to restore (None when there is nothing to undo) and the remaining history."""
    if not history:
        return None, []
    return history[-1], list(history[:-1])


def to_markdown(title: str, parts: Sequence[tuple[str, str]]) -> str:
    """A Markdown document: `# title`, then each non-empty (heading, text) part as a `## heading` section.

    A part with an empty heading is added as plain text.
    """
    blocks = [f"# {title.strip() or APP_TITLE}"]
    for heading, text in parts:
        if text and text.strip():
            blocks.append(f"## {heading}\n\n{text.strip()}" if heading else text.strip())
    return "\n\n".join(blocks) + "\n"


# ---------------------------------------------------------------------------- running a tab

Runner = Callable[[str, tuple, str, GenerationSettings], Iterator[Progress]]


@dataclass(frozen=True)
class LastRequest:
    """What Regenerate redoes: the mode ("generate" or "continue"), the tab's fields and output then."""

    mode: str
    fields: tuple
    base: str


def _drive(
    run: Callable[[GenerationSettings], Iterator[Progress]],
    setting_values: Sequence[Any],
    limit: int,
    before: str,
    history: list[str],
    request: LastRequest,
) -> Iterator[tuple]:
    """Stream a tab's output: yields (output, status, history, drafts, draft picker, last request).

    The text before the run goes on the Undo history once something is written. Any error
    becomes a visible warning and the output keeps the user's text (plus whatever was written).
    """
    text, new_history, skip = before, push_history(history, before), gr.skip()
    yield before, "Starting…", history, [], gr.Radio(visible=False), skip
    progress = None
    try:
        for progress in run(settings_from_values(setting_values, limit)):
            text = progress.text
            yield text, progress.status, new_history, skip, skip, request
    except Exception as error:  # the server keeps serving and the user's text stays, whatever failed
        message = error_message(error)
        written = text != before
        yield text, message, new_history if written else history, [], skip, request if written else skip
        return
    drafts = _draft_texts(text, progress.result if progress else None)
    choices = [f"Draft {number}" for number in range(1, len(drafts) + 1)]
    picker = gr.Radio(choices, value=choices[0] if choices else None, visible=len(drafts) > 1)
    yield text, progress.status if progress else "Done.", new_history, drafts, picker, request


def log_failure(error: Exception) -> None:
    """Log a failed or refused generation in one line (the operator may need it); bad input is not."""
    if isinstance(error, GenerationError):
        LOGGER.warning("generation failed: %s", error)
    elif isinstance(error, LimitError):
        LOGGER.info("refused: %s", error)


def error_message(error: Exception) -> str:
    """Show `error` as a warning toast and return it as a status line; unexpected ones are logged."""
    if isinstance(error, USER_ERRORS):
        log_failure(error)
        message = str(error)
    else:
        LOGGER.exception("unexpected error in a UI handler")
        message = "Something went wrong on the server (its log has the details). Your text was kept."
    gr.Warning(message)
    return f"⚠ {message}"


def _draft_texts(text: str, result: GenerationResult | None) -> list[str]:
    """Every draft as a full output text (the shared beginning of `text` plus that draft)."""
    if result is None or len(result.texts) < 2:
        return []
    base = text[: len(text) - len(result.texts[0])]
    return [base + draft for draft in result.texts]


def _stopped_status(status: str) -> str:
    """The status line after Stop: a running generation is marked stopped; anything else stays."""
    status = status or ""
    if "Writing…" not in status and "Starting…" not in status:
        return status
    label = status.split("Writing…")[0].split("Starting…")[0]
    return f"{label}finish: stopped (you pressed Stop)"


@dataclass
class OutputArea:
    """The output side of one tab: buttons, editable output, status, drafts and per-session state."""

    output: gr.Textbox
    status: gr.Markdown
    drafts_picker: gr.Radio
    generate: gr.Button
    cont: gr.Button
    regenerate: gr.Button
    undo: gr.Button
    stop: gr.Button
    export: gr.Button
    file: gr.File
    history: gr.State
    last: gr.State
    drafts: gr.State

    def run_outputs(self) -> list:
        """The outputs every generation event of this tab updates, in `_drive` order."""
        return [self.output, self.status, self.history, self.drafts, self.drafts_picker, self.last]


def output_area(tab: str, generate_label: str, output_label: str) -> OutputArea:
    """Build the buttons, the editable output box, the status line and the export row of a tab.

    Element ids are ``<tab>-<part>`` (e.g. ``story-output``) so browser tests and CSS can find them.
    """
    with gr.Row(elem_classes="action-row"):
        generate = gr.Button(generate_label, variant="primary", scale=2, size="md", elem_id=f"{tab}-generate")
        cont = gr.Button("Continue", scale=1, size="md", elem_id=f"{tab}-continue")
        regenerate = gr.Button("Regenerate", scale=1, size="md", elem_id=f"{tab}-regenerate")
        undo = gr.Button("Undo", scale=1, size="md", elem_id=f"{tab}-undo")
        stop = gr.Button("Stop", variant="stop", scale=1, size="md", elem_id=f"{tab}-stop")
    output = gr.Textbox(
        label=output_label,
        lines=10,
        max_lines=30,
        interactive=True,
        buttons=["copy"],
        elem_id=f"{tab}-output",
    )
    drafts_picker = gr.Radio(
        [], label="Drafts: pick one for the output box", type="index", visible=False, elem_id=f"{tab}-drafts"
    )
    status = gr.Markdown("Ready.", elem_classes="status-line", elem_id=f"{tab}-status", line_breaks=True)
    with gr.Row():
        export = gr.Button("Export as Markdown", size="sm", scale=0, min_width=180, elem_id=f"{tab}-export")
        file = gr.File(label="Markdown file", visible=False, height=60, scale=1, elem_id=f"{tab}-file")
    states = _session_states()
    return OutputArea(
        output, status, drafts_picker, generate, cont, regenerate, undo, stop, export, file, *states
    )


def _session_states() -> tuple[gr.State, gr.State, gr.State]:
    """The per-session values of an area: Undo history, the last request, the drafts."""
    return gr.State([]), gr.State(None), gr.State([])


def _run_handler(mode: str, count: int, runner: Runner, limit: int) -> Callable[..., Iterator[tuple]]:
    """The Generate (mode "generate") or Continue ("continue") handler of a tab with `count` fields.

    Its inputs are the tab's fields, the output box, the Undo history, then the settings.
    """

    def run(*values: Any) -> Iterator[tuple]:
        fields, output, history = tuple(values[:count]), values[count] or "", values[count + 1]
        request = LastRequest(mode, fields, output)
        steps = lambda s: runner(mode, fields, output, s)  # noqa: E731
        yield from _drive(steps, values[count + 2 :], limit, output, history, request)

    return run


def _regenerate_handler(runner: Runner, limit: int) -> Callable[..., Iterator[tuple]]:
    """The Regenerate handler: redo the last request from the text it started from, current settings.

    With seed -1 the backend picks a new seed; a fixed seed gives the same text again.
    """

    def regenerate(
        last: LastRequest | None, output: str, history: list[str], *values: Any
    ) -> Iterator[tuple]:
        if last is None:
            gr.Warning("Nothing to regenerate yet: click Generate first.")
            yield output, "Nothing to regenerate yet.", history, gr.skip(), gr.skip(), last
            return
        steps = lambda s: runner(last.mode, last.fields, last.base, s)  # noqa: E731
        yield from _drive(steps, values, limit, output or "", history, last)

    return regenerate


def _checked(runner: Runner, fields: list, serving: Serving) -> Runner:
    """`runner` after the text fields and the text to build on pass `serving`'s size check."""
    names = [_text_name(field) for field in fields]

    def run(mode: str, values: tuple, base: str, s: GenerationSettings) -> Iterator[Progress]:
        texts = [(n, v) for n, v in zip(names, values, strict=False) if n] + [("output", base)]
        serving.check_texts([n for n, _ in texts], [v for _, v in texts])
        return runner(mode, values, base, s)

    return run


def _text_name(field: Any) -> str | None:
    """How a text field is named in a refusal ("story so far"); None for checkboxes and numbers."""
    if not isinstance(field, gr.Textbox | gr.Dataframe):
        return None
    return (field.label or "text").lower()


def wire_area(area: OutputArea, fields: list, settings: list, runner: Runner, serving: Serving) -> list:
    """Connect a tab's Generate/Continue/Regenerate/Undo and drafts; returns the generation events.

    The generation events share the app's one concurrency group; oversized text is refused.
    """
    limit, runner = serving.limit, _checked(runner, fields, serving)
    private = {"api_visibility": "private", "outputs": area.run_outputs(), **GENERATION_EVENTS}
    run_inputs = [*fields, area.output, area.history, *settings]
    regenerate_inputs = [area.last, area.output, area.history, *settings]
    checked = {**private, "validator": settings_validator(len(fields) + 2, limit)}
    events = [
        area.generate.click(_run_handler("generate", len(fields), runner, limit), run_inputs, **checked),
        area.cont.click(_run_handler("continue", len(fields), runner, limit), run_inputs, **checked),
        area.regenerate.click(
            _regenerate_handler(runner, limit),
            regenerate_inputs,
            **private,
            validator=settings_validator(3, limit),
        ),
    ]
    undo_outputs = [area.output, area.status, area.history, area.drafts_picker]
    area.undo.click(_undo, [area.output, area.history], undo_outputs, api_visibility="private")
    picker_inputs = [area.drafts_picker, area.drafts]
    area.drafts_picker.input(_pick_draft, picker_inputs, area.output, api_visibility="private")
    return events


def _undo(output: str, history: list[str]) -> tuple:
    """Restore the text from before the last generation (a warning when there is nothing to undo)."""
    previous, rest = pop_history(history)
    if previous is None:
        gr.Warning("Nothing to undo.")
        return output, "Nothing to undo.", history, gr.skip()
    return previous, "Restored the text from before the last generation.", rest, gr.Radio(visible=False)


def _pick_draft(index: int | None, drafts: list[str]) -> Any:
    """The chosen draft's full text for the output box (unchanged when the choice is stale)."""
    if index is None or not 0 <= index < len(drafts or []):
        return gr.skip()
    return drafts[index]


def wire_stop_and_export(
    area: OutputArea, events: list, export_inputs: list, export: Callable[..., str]
) -> None:
    """Stop cancels the tab's running events; Export writes the tab's Markdown file.

    `export` returns the file's path (written with `Serving.export`, which refuses oversized text).
    """
    # The status is marked only after the cancel went through, so that no update still on its
    # way from the cancelled stream can overwrite it.
    cancel = area.stop.click(None, cancels=events, queue=False, api_visibility="private")
    cancel.then(_stopped_status, area.status, area.status, queue=False, api_visibility="private")

    def export_file(*values: Any) -> gr.File:
        try:
            return gr.File(value=export(*values), visible=True)
        except LimitError as error:
            raise refused(error) from None

    area.export.click(export_file, export_inputs, area.file, api_visibility="private")


def base_model_hint(info: BackendInfo, tab: str) -> None:
    """On a base model, say where the article and few-shot tabs work better (instruct models)."""
    if info.chat:
        return
    gr.Markdown(
        f"**Tip:** {info.model_name} is a base model: it continues text rather than following "
        "instructions, so outlines and rewrites may wander. An instruct model does this well, e.g. "
        "`python app.py --model Qwen/Qwen2.5-0.5B-Instruct`.",
        elem_id=f"{tab}-base-hint",
    )
