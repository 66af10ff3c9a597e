"""The Gradio web UI and its HTTP API (gradio only; never torch or transformers).

`build_ui(backend, config)` returns a `gr.Blocks` with three tabs (story continuation,
topic to article, few-shot style), one shared settings panel and four streaming API
endpoints (`/story`, `/article_outline`, `/article`, `/fewshot`) for `gradio_client`.
It knows the model only through the `backend.Backend` protocol.

The work is split in three layers:

* task steps (`story_steps`, `outline_steps`, `article_steps`, `fewshot_steps`): plain
  generators of `Progress` that build a prompt and stream it through `stream_progress`.
  They raise `SettingsError`, `PromptError` or `GenerationError` with a message for the user;
* UI handlers (`_drive`): run task steps for a tab, keep Undo history and drafts in
  `gr.State`, and turn every error into a warning that keeps the user's text;
* API functions (`_register_api`): typed thin wrappers that turn errors into `gr.Error`.

Every endpoint streams `(text so far, status line)` pairs; its first argument is the main
text and all others have defaults, including the eight sampling settings (validated and
capped at `AppConfig.max_new_tokens_cap` on the server)::

    from gradio_client import Client
    client = Client("http://127.0.0.1:7860/")
    text, status = client.predict("Once upon a time", api_name="/story")
    for text, status in client.submit("Urban beekeeping", api_name="/article", max_new_tokens=150):
        print(text)

No `from __future__ import annotations` here: `gr.api` reads the API functions' annotations
(the return annotation as a real type) to describe the endpoints.
"""

import dataclasses
import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from .backend import Backend, BackendInfo, GenerationError, GenerationResult, Prompt, prompt_budget
from .config import HELP, RANGES, AppConfig, GenerationSettings, SettingsError
from .prompts import (
    FEWSHOT_STOP,
    MAX_EXAMPLES,
    PRESETS,
    PromptError,
    build_fewshot,
    build_outline,
    build_section,
    build_story,
    parse_outline,
)

LOGGER = logging.getLogger(__name__)
APP_TITLE = "NLG Assistant"
SETTING_NAMES: tuple[str, ...] = tuple(RANGES)
DEFAULTS = GenerationSettings()
HISTORY_LIMIT = 30  # Undo steps kept per tab and browser session
STREAM_EVERY_S = 0.15  # coalesce tokens: ~7 updates a second per stream reads smoothly, and each
# update costs gradio ~1.5 ms of CPU, which with many concurrent writers competes with decoding
DEFAULT_PRESET = next(iter(PRESETS))
USER_ERRORS = (SettingsError, PromptError, GenerationError)

CSS = """
#app-header h1 { margin-bottom: 0.1em; }
#app-header p { margin-top: 0; opacity: 0.8; }
.status-line { min-height: 2.5em; font-size: 0.9em; opacity: 0.9; }
#fewshot-table table, #fewshot-table td, #fewshot-table th { font-family: var(--font); }
"""


# ---------------------------------------------------------------------------- pure helpers


@dataclass(frozen=True)
class Progress:
    """One streamed update: the output text so far and a status line (result set when a step ends)."""

    text: str
    status: str
    result: GenerationResult | None = None


def settings_from_values(values: Sequence[Any], cap: int) -> GenerationSettings:
    """`GenerationSettings` from the settings panel (or API) values in `SETTING_NAMES` order, capped.

    Raises `SettingsError` naming the field and its range when a value is invalid.
    """
    if len(values) != len(SETTING_NAMES):
        raise SettingsError(f"expected {len(SETTING_NAMES)} settings, got {len(values)}")
    return GenerationSettings.from_mapping(dict(zip(SETTING_NAMES, values, strict=True))).capped(cap)


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


def write_markdown(stem: str, markdown: str) -> str:
    """Write `markdown` to a fresh temporary `<stem>.md` file and return its path."""
    folder = Path(tempfile.mkdtemp(prefix="nlg-export-"))
    path = folder / f"{stem}.md"
    path.write_text(markdown, encoding="utf-8")
    return str(path)


def examples_from_rows(rows: Any) -> list[tuple[str, str]]:
    """(input, output) pairs from the examples table (a DataFrame or a list of rows); blank rows dropped."""
    if hasattr(rows, "values") and hasattr(rows, "columns"):  # a pandas DataFrame
        rows = rows.values.tolist()
    pairs = []
    for row in rows or []:
        cells = ["" if cell is None else str(cell) for cell in list(row)[:2]]
        cells += [""] * (2 - len(cells))
        if cells[0].strip() or cells[1].strip():
            pairs.append((cells[0], cells[1]))
    return pairs


def preset_rows(name: str) -> tuple[str, list[list[str]]]:
    """The instruction and the example table rows (padded to `MAX_EXAMPLES`) of preset `name`."""
    preset = PRESETS.get(name)
    if preset is None:
        raise PromptError(f"Unknown preset {name!r}: choose one of {', '.join(PRESETS)}.")
    rows = [[source, target] for source, target in preset.examples]
    return preset.instruction, rows + [["", ""]] * (MAX_EXAMPLES - len(rows))


def _fill_preset(name: str | None) -> tuple:
    """Instruction and example rows for the chosen preset (unchanged when none is chosen)."""
    if name not in PRESETS:
        return gr.skip(), gr.skip()
    return preset_rows(name)


def examples_from_spec(spec: str, instruction: str) -> tuple[list[tuple[str, str]], str]:
    """Examples and instruction for the API: a preset name, a JSON list of pairs, or "" (default preset).

    JSON may be ``[["in", "out"], ...]`` or ``[{"input": "in", "output": "out"}, ...]``. A preset's
    instruction is used when `instruction` is empty. Raises `PromptError` for anything else.
    """
    spec = (spec or "").strip() or DEFAULT_PRESET
    by_name = {name.lower(): preset for name, preset in PRESETS.items()}
    if spec.lower() in by_name:
        preset = by_name[spec.lower()]
        return list(preset.examples), instruction or preset.instruction
    try:
        data = json.loads(spec)
    except json.JSONDecodeError:
        raise PromptError(
            f"examples must be a preset name ({', '.join(PRESETS)}) or a JSON list of [input, output] pairs"
        ) from None
    if not isinstance(data, list):
        raise PromptError("examples JSON must be a list of [input, output] pairs")
    pairs = [_json_pair(item, number) for number, item in enumerate(data, 1)]
    return pairs, instruction


def _json_pair(item: Any, number: int) -> tuple[str, str]:
    """One example from JSON: a 2-item list or an object with "input" and "output"."""
    if isinstance(item, dict) and {"input", "output"} <= set(item):
        return str(item["input"]), str(item["output"])
    if isinstance(item, list) and len(item) == 2:
        return str(item[0]), str(item[1])
    raise PromptError(f'example {number} must be [input, output] or {{"input": ..., "output": ...}}')


# ---------------------------------------------------------------------------- streaming core


def stream_progress(
    backend: Backend, prompt: Prompt, settings: GenerationSettings, base: str = "", label: str = ""
) -> Iterator[Progress]:
    """Stream draft 1 of `prompt` appended to `base`; the last `Progress` carries the result.

    The stream is cancelled in `finally`, so closing this generator (Stop button, browser gone,
    API client cancelled) stops the backend within a step.
    """
    stream = backend.start(prompt, settings)
    try:
        written, last_sent = "", 0.0
        for chunk in stream:
            if chunk.draft != 0:
                continue
            written += chunk.text
            if time.monotonic() - last_sent >= STREAM_EVERY_S:
                last_sent = time.monotonic()
                yield Progress(base + written, f"{label}Writing… {len(written):,} characters so far")
        result = stream.result
        if result is None:
            raise GenerationError("the generation ended without a result")
        yield Progress(base + result.texts[0], label + result.status_line(), result)
    finally:
        stream.cancel()


def story_steps(
    backend: Backend,
    settings: GenerationSettings,
    story: str,
    memory: str = "",
    style: str = "",
    base: str = "",
) -> Iterator[Progress]:
    """Continue `story` + `base` (the text written so far), streaming `base` + the continuation."""
    budget = prompt_budget(backend, settings)
    prompt = build_story(story + base, memory, style, budget=budget, chat=backend.info.chat)
    yield from stream_progress(backend, prompt, settings, base)


def outline_steps(
    backend: Backend,
    settings: GenerationSettings,
    topic: str,
    keywords: str = "",
    audience: str = "",
    tone: str = "",
    length_words: int = 600,
) -> Iterator[Progress]:
    """Stream an article outline (numbered section headings) for the topic; one draft."""
    settings = dataclasses.replace(settings, num_drafts=1)
    budget = prompt_budget(backend, settings)
    fields = (keywords, audience, tone, _whole(length_words))
    prompt = build_outline(topic, *fields, budget=budget, chat=backend.info.chat)
    yield from stream_progress(backend, prompt, settings, label="Outline · ")


def article_steps(
    backend: Backend,
    settings: GenerationSettings,
    topic: str,
    outline: str,
    keywords: str = "",
    audience: str = "",
    tone: str = "",
    length_words: int = 600,
) -> Iterator[Progress]:
    """Write the article section by section from `outline`, streaming the growing Markdown text."""
    settings = dataclasses.replace(settings, num_drafts=1)
    headings = parse_outline(outline or "")
    if not headings:
        raise PromptError("The outline is empty: click “Draft outline” or write one heading per line.")
    brief = (keywords, audience, tone, _whole(length_words))
    article, tokens, started = "", 0, time.monotonic()
    for index, heading in enumerate(headings):
        budget = prompt_budget(backend, settings)
        prompt = build_section(topic, outline, index, article, *brief, budget=budget, chat=backend.info.chat)
        base = f"{article}\n\n## {heading}\n\n" if article else f"## {heading}\n\n"
        label = f"Section {index + 1}/{len(headings)} · "
        for progress in stream_progress(backend, prompt, settings, base, label):
            yield progress
        article, tokens = progress.text.rstrip(), tokens + progress.result.generated_tokens
    total = f"Article: {len(headings)} sections, {tokens} tokens in {time.monotonic() - started:.1f} s\n"
    yield dataclasses.replace(progress, text=article, status=total + progress.status)


def continue_article_steps(
    backend: Backend, settings: GenerationSettings, topic: str, tone: str, article: str
) -> Iterator[Progress]:
    """Extend the (possibly edited) article text where it stops."""
    memory = f"An article about: {topic}" if topic.strip() else ""
    budget = prompt_budget(backend, settings)
    prompt = build_story(article, memory, tone, budget=budget, chat=backend.info.chat)
    yield from stream_progress(backend, prompt, settings, article)


def fewshot_steps(
    backend: Backend,
    settings: GenerationSettings,
    examples: Sequence[tuple[str, str]],
    new_input: str,
    instruction: str = "",
    base: str = "",
) -> Iterator[Progress]:
    """Apply the examples' pattern to `new_input`; with `base`, extend that answer instead."""
    used = backend.count_tokens(base) if base else 0
    budget = prompt_budget(backend, settings, used)
    prompt = build_fewshot(examples, new_input, instruction, budget=budget, chat=backend.info.chat)
    if base:  # continue the open answer: plain document form, the model sees its earlier output
        prompt = Prompt(document=prompt.document + base, stop=FEWSHOT_STOP, notices=prompt.notices)
    yield from stream_progress(backend, prompt, settings, base)


def _whole(value: Any) -> int:
    """A whole number from a UI or API field (600.0 -> 600); raises `PromptError` otherwise."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PromptError(f"The target length must be a whole number (got {value!r}).") from None
    if not number.is_integer():
        raise PromptError(f"The target length must be a whole number (got {value!r}).")
    return int(number)


# ---------------------------------------------------------------------------- UI handlers

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
    cap: int,
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
        for progress in run(settings_from_values(setting_values, cap)):
            text = progress.text
            yield text, progress.status, new_history, skip, skip, request
    except Exception as error:  # the server keeps serving and the user's text stays, whatever failed
        message = _error_message(error)
        written = text != before
        yield text, message, new_history if written else history, [], skip, request if written else skip
        return
    drafts = _draft_texts(text, progress.result if progress else None)
    choices = [f"Draft {number}" for number in range(1, len(drafts) + 1)]
    picker = gr.Radio(choices, value=choices[0] if choices else None, visible=len(drafts) > 1)
    yield text, progress.status if progress else "Done.", new_history, drafts, picker, request


def _log_failure(error: Exception) -> None:
    """Log a failed or refused generation in one line (the operator may need it); bad input is not."""
    if isinstance(error, GenerationError):
        LOGGER.warning("generation failed: %s", error)


def _error_message(error: Exception) -> str:
    """Show `error` as a warning toast and return it as a status line; unexpected ones are logged."""
    if isinstance(error, USER_ERRORS):
        _log_failure(error)
        message = str(error)
    else:
        LOGGER.exception("unexpected error in a UI handler")
        message = f"Something went wrong ({type(error).__name__}: {error}). Your text was kept."
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
class _Area:
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


def _output_area(tab: str, generate_label: str, output_label: str) -> _Area:
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
    states = (gr.State([]), gr.State(None), gr.State([]))
    return _Area(output, status, drafts_picker, generate, cont, regenerate, undo, stop, export, file, *states)


def _run_handler(mode: str, count: int, runner: Runner, cap: int) -> Callable[..., Iterator[tuple]]:
    """The Generate (mode "generate") or Continue ("continue") handler of a tab with `count` fields.

    Its inputs are the tab's fields, the output box, the Undo history, then the settings.
    """

    def run(*values: Any) -> Iterator[tuple]:
        fields, output, history = tuple(values[:count]), values[count] or "", values[count + 1]
        request = LastRequest(mode, fields, output)
        steps = lambda s: runner(mode, fields, output, s)  # noqa: E731
        yield from _drive(steps, values[count + 2 :], cap, output, history, request)

    return run


def _regenerate_handler(runner: Runner, cap: int) -> Callable[..., Iterator[tuple]]:
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
        yield from _drive(steps, values, cap, output or "", history, last)

    return regenerate


def _wire_area(area: _Area, fields: list, settings: list, runner: Runner, cap: int) -> list:
    """Connect a tab's Generate/Continue/Regenerate/Undo and drafts; returns the generation events."""
    private = {"api_visibility": "private", "outputs": area.run_outputs()}
    run_inputs = [*fields, area.output, area.history, *settings]
    regenerate_inputs = [area.last, area.output, area.history, *settings]
    events = [
        area.generate.click(_run_handler("generate", len(fields), runner, cap), run_inputs, **private),
        area.cont.click(_run_handler("continue", len(fields), runner, cap), run_inputs, **private),
        area.regenerate.click(_regenerate_handler(runner, cap), regenerate_inputs, **private),
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


def _wire_stop_and_export(area: _Area, events: list, export_inputs: list, export: Callable[..., str]) -> None:
    """Stop cancels the tab's running events; Export writes the tab's Markdown file."""
    # The status is marked only after the cancel went through, so that no update still on its
    # way from the cancelled stream can overwrite it.
    cancel = area.stop.click(None, cancels=events, queue=False, api_visibility="private")
    cancel.then(_stopped_status, area.status, area.status, queue=False, api_visibility="private")

    def export_file(*values: Any) -> gr.File:
        return gr.File(value=export(*values), visible=True)

    area.export.click(export_file, export_inputs, area.file, api_visibility="private")


# ---------------------------------------------------------------------------- layout

SETTING_LABELS = {
    "max_new_tokens": "Max new tokens",
    "temperature": "Temperature",
    "top_k": "Top-k",
    "top_p": "Top-p",
    "repetition_penalty": "Repetition penalty",
    "no_repeat_ngram_size": "No-repeat n-gram size",
    "num_drafts": "Drafts",
    "seed": "Seed",
}


MAIN_SETTINGS = ("max_new_tokens", "temperature", "top_p", "num_drafts")  # the rest sit under "More"


def _setting_default(name: str, cap: int) -> int | float:
    """The panel's starting value of a setting (max_new_tokens no higher than the cap)."""
    default = getattr(DEFAULTS, name)
    return min(default, cap) if name == "max_new_tokens" else default


def _setting_input(name: str, cap: int) -> gr.Slider | gr.Number:
    """A slider (or, for the seed, a whole-number box) with the field's range and help text."""
    rng, label = RANGES[name], SETTING_LABELS[name]
    if name == "seed":
        return gr.Number(
            DEFAULTS.seed, label=label, info=HELP[name], precision=0, minimum=rng.low, maximum=rng.high
        )
    high = min(rng.high, cap) if name == "max_new_tokens" else rng.high
    return gr.Slider(rng.low, high, _setting_default(name, cap), step=rng.step, label=label, info=HELP[name])


def _settings_panel(cap: int) -> list:
    """The shared settings inputs, returned in `SETTING_NAMES` order (the order handlers expect)."""
    inputs = {}
    with gr.Accordion("Generation settings", open=True, elem_id="settings"):
        for name in MAIN_SETTINGS:
            inputs[name] = _setting_input(name, cap)
        with gr.Accordion("More settings", open=False, elem_id="more-settings"):
            for name in SETTING_NAMES:
                if name not in MAIN_SETTINGS:
                    inputs[name] = _setting_input(name, cap)
        reset = gr.Button("Reset to defaults", size="sm")
    ordered = [inputs[name] for name in SETTING_NAMES]
    defaults = [_setting_default(name, cap) for name in SETTING_NAMES]
    reset.click(lambda: defaults, None, ordered, queue=False, api_visibility="private")
    return ordered


def _header(info: BackendInfo) -> None:
    """App name, model and device."""
    kind = "chat model" if info.chat else "base model"
    gr.Markdown(
        f"# ✍️ {APP_TITLE}\n"
        f"Model **{info.model_name}** ({kind}) on **{info.device}** · context window "
        f"{info.context_window:,} tokens",
        elem_id="app-header",
    )


def _base_model_hint(info: BackendInfo, tab: str) -> None:
    """On a base model, say where the article and few-shot tabs work better (instruct models)."""
    if info.chat:
        return
    gr.Markdown(
        f"**Tip:** {info.model_name} is a base model: it continues text rather than following "
        "instructions, so outlines and rewrites may wander. An instruct model does this well, e.g. "
        "`python app.py --model Qwen/Qwen2.5-0.5B-Instruct`.",
        elem_id=f"{tab}-base-hint",
    )


STORY_EXAMPLES = [
    ["Once upon a time there was a little fox who lived in the woods.", "Pip, a curious young fox.", "Warm"],
    ["The princess walked to the castle and opened the old wooden door.", "", "Suspenseful, short sentences"],
    ["Every morning the baker made bread, cakes and sweet buns for the town.", "The baker, Ada.", ""],
]


def _story_tab(backend: Backend, settings: list, cap: int) -> None:
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
        area = _output_area("story", "Generate", "Continuation (editable)")
        gr.Examples(
            STORY_EXAMPLES, [story, memory, style], elem_id="story-examples", api_visibility="private"
        )

    def runner(mode: str, fields: tuple, base: str, s: GenerationSettings) -> Iterator[Progress]:
        story_text, memory_text, style_text = fields
        return story_steps(
            backend, s, story_text, memory_text, style_text, base if mode == "continue" else ""
        )

    events = _wire_area(area, [story, memory, style], settings, runner, cap)

    def export(story_text: str, memory_text: str, style_text: str, output: str) -> str:
        notes = [("Memory", memory_text), ("Style notes", style_text)]
        return write_markdown(
            "story", to_markdown("Story", [("", (story_text or "") + (output or "")), *notes])
        )

    _wire_stop_and_export(area, events, [story, memory, style, area.output], export)


ARTICLE_EXAMPLES = [
    ["Urban beekeeping", "hives, honey, neighbours", "city dwellers", "friendly", 450],
    ["How to start running", "shoes, pace, rest days", "beginners", "encouraging", 600],
    ["Why sleep matters", "memory, health, habits", "students", "clear and practical", 600],
]


def _article_inputs() -> tuple[gr.Textbox, list, gr.Textbox, gr.Button]:
    """The article tab's fields: topic, [keywords, audience, tone, length], outline and its button."""
    topic = gr.Textbox(
        label="Topic", placeholder="What should the article be about?", elem_id="article-topic"
    )
    with gr.Row():
        brief = [
            gr.Textbox(label="Keywords", placeholder="comma-separated"),
            gr.Textbox(label="Audience", placeholder="e.g. beginners"),
            gr.Textbox(label="Tone", placeholder="e.g. friendly"),
            gr.Slider(50, 3000, 600, step=50, label="Target length (words)"),
        ]
    with gr.Row():
        outline = gr.Textbox(
            label="Outline (editable: one section heading per line)",
            lines=4,
            scale=5,
            placeholder="Click “Draft outline” to plan the sections from the topic, or write your own.",
            elem_id="article-outline",
        )
        with gr.Column(scale=1, min_width=170):
            outline_button = gr.Button("Draft outline", elem_id="article-outline-button")
            gr.Markdown("Step 1: draft or write the outline.\nStep 2: **Write article**.", line_breaks=True)
    return topic, brief, outline, outline_button


def _outline_handler(backend: Backend, cap: int) -> Callable[..., Iterator[tuple[str, str]]]:
    """Streams an outline into the outline box; inputs: topic, the 4 brief fields, outline, settings."""

    def write_outline(topic: str, *values: Any) -> Iterator[tuple[str, str]]:
        brief, text, setting_values = values[:4], values[4], values[5:]
        try:
            settings = settings_from_values(setting_values, cap)
            for progress in outline_steps(backend, settings, topic, *brief):
                text = progress.text
                yield text, progress.status
        except Exception as error:  # keep the outline the user had, whatever failed
            yield text, _error_message(error)

    return write_outline


def _article_tab(backend: Backend, settings: list, cap: int) -> None:
    """Topic to article: fields, an editable outline, then the article written section by section."""
    with gr.Tab("Topic → Article", id="article"):
        _base_model_hint(backend.info, "article")
        topic, brief, outline, outline_button = _article_inputs()
        area = _output_area("article", "Write article", "Article (editable Markdown)")
        gr.Examples(ARTICLE_EXAMPLES, [topic, *brief], elem_id="article-examples", api_visibility="private")

    def runner(mode: str, fields: tuple, base: str, s: GenerationSettings) -> Iterator[Progress]:
        if mode == "continue":  # fields: topic, outline, keywords, audience, tone, length
            return continue_article_steps(backend, s, fields[0], fields[4], base)
        return article_steps(backend, s, *fields)

    events = _wire_area(area, [topic, outline, *brief], settings, runner, cap)
    outline_inputs = [topic, *brief, outline, *settings]
    outline_event = outline_button.click(
        _outline_handler(backend, cap), outline_inputs, [outline, area.status], api_visibility="private"
    )

    def export(topic_text: str, outline_text: str, output: str) -> str:
        return write_markdown("article", to_markdown(topic_text or "Article", [("", output)]))

    _wire_stop_and_export(area, [*events, outline_event], [topic, outline, area.output], export)


FEWSHOT_EXAMPLES = [
    ["Formal rewrite", "yo, meeting moved to 3, pls tell the others"],
    ["Product description", "Ceramic coffee mug, 350 ml, dishwasher safe, matte blue"],
    ["Headline", "The town's only bakery reopened on Saturday after a fire closed it for a year."],
]


def _fewshot_inputs() -> tuple[gr.Dropdown, gr.Textbox, gr.Dataframe, gr.Textbox]:
    """The few-shot tab's fields: preset, instruction, the examples table and the new input."""
    instruction_text, rows = preset_rows(DEFAULT_PRESET)
    with gr.Row():
        preset = gr.Dropdown(
            list(PRESETS),
            value=DEFAULT_PRESET,
            label="Preset",
            scale=1,
            info="Fills the instruction and examples.",
        )
        instruction = gr.Textbox(instruction_text, label="Instruction", lines=2, scale=3)
    table = gr.Dataframe(
        rows,
        headers=["Example input", "Example output"],
        datatype=["str", "str"],
        type="array",
        row_count=MAX_EXAMPLES,
        column_count=2,
        wrap=True,
        column_widths=["50%", "50%"],
        interactive=True,
        max_height=360,
        label=f"Examples (up to {MAX_EXAMPLES}; empty rows are ignored)",
        elem_id="fewshot-table",
    )
    new_input = gr.Textbox(
        label="New input", lines=3, placeholder="The text to apply the pattern to", elem_id="fewshot-input"
    )
    return preset, instruction, table, new_input


def _fewshot_tab(backend: Backend, settings: list, cap: int) -> None:
    """Few-shot style: a preset or up to 8 example pairs, an instruction and the new input."""
    with gr.Tab("Few-shot style", id="fewshot"):
        _base_model_hint(backend.info, "fewshot")
        preset, instruction, table, new_input = _fewshot_inputs()
        area = _output_area("fewshot", "Generate", "Output (editable)")
        gr.Examples(
            FEWSHOT_EXAMPLES, [preset, new_input], elem_id="fewshot-examples", api_visibility="private"
        )
    preset.change(_fill_preset, preset, [instruction, table], api_visibility="private")

    def runner(mode: str, fields: tuple, base: str, s: GenerationSettings) -> Iterator[Progress]:
        examples, instruction_now, text = fields
        extend = base if mode == "continue" else ""
        return fewshot_steps(backend, s, examples_from_rows(examples), text, instruction_now, extend)

    events = _wire_area(area, [table, instruction, new_input], settings, runner, cap)

    def export(instruction_now: str, text: str, output: str) -> str:
        parts = [("Instruction", instruction_now), ("Input", text), ("Output", output)]
        return write_markdown("fewshot", to_markdown("Few-shot output", parts))

    _wire_stop_and_export(area, events, [instruction, new_input, area.output], export)


# ---------------------------------------------------------------------------- API

D = DEFAULTS  # short alias for the API functions' default values


def _api_stream(
    run: Callable[[GenerationSettings], Iterator[Progress]], setting_values: Sequence[Any], cap: int
) -> Iterator[tuple[str, str]]:
    """Yield (text so far, status) for an API call; other drafts are appended to the final text.

    Bad input and generation failures become `gr.Error`, which `gradio_client` raises as `AppError`.
    """
    try:
        for progress in run(settings_from_values(setting_values, cap)):
            text = progress.text
            if progress.result is not None and len(progress.result.texts) > 1:
                others = progress.result.texts[1:]
                text += "".join(f"\n\n--- draft {n} ---\n{t}" for n, t in enumerate(others, 2))
            yield text, progress.status
    except USER_ERRORS as error:  # a message for the caller, not a traceback in the server log
        _log_failure(error)
        raise gr.Error(str(error), print_exception=False) from None


def _story_api(backend: Backend, cap: int) -> Callable[..., Iterator[tuple[str, str]]]:
    """The `/story` endpoint function."""

    def story(
        story: str,
        memory: str = "",
        style: str = "",
        max_new_tokens: int = D.max_new_tokens,
        temperature: float = D.temperature,
        top_k: int = D.top_k,
        top_p: float = D.top_p,
        repetition_penalty: float = D.repetition_penalty,
        no_repeat_ngram_size: int = D.no_repeat_ngram_size,
        num_drafts: int = D.num_drafts,
        seed: int = D.seed,
    ) -> tuple[str, str]:  # a generator: gradio reads this annotation as its two streamed outputs
        """Continue a story (memory: characters and facts to keep; style: style notes).

        Streams (continuation so far, status line).
        """
        values = (max_new_tokens, temperature, top_k, top_p)
        values += (repetition_penalty, no_repeat_ngram_size, num_drafts, seed)
        yield from _api_stream(lambda s: story_steps(backend, s, story, memory, style), values, cap)

    return story


def _outline_api(backend: Backend, cap: int) -> Callable[..., Iterator[tuple[str, str]]]:
    """The `/article_outline` endpoint function."""

    def article_outline(
        topic: str,
        keywords: str = "",
        audience: str = "",
        tone: str = "",
        length_words: int = 600,
        max_new_tokens: int = D.max_new_tokens,
        temperature: float = D.temperature,
        top_k: int = D.top_k,
        top_p: float = D.top_p,
        repetition_penalty: float = D.repetition_penalty,
        no_repeat_ngram_size: int = D.no_repeat_ngram_size,
        num_drafts: int = D.num_drafts,
        seed: int = D.seed,
    ) -> tuple[str, str]:
        """Draft an article outline, one numbered heading per line. Streams (outline so far, status line)."""
        values = (max_new_tokens, temperature, top_k, top_p)
        values += (repetition_penalty, no_repeat_ngram_size, num_drafts, seed)
        brief = (keywords, audience, tone, length_words)
        yield from _api_stream(lambda s: outline_steps(backend, s, topic, *brief), values, cap)

    return article_outline


def _article_api(backend: Backend, cap: int) -> Callable[..., Iterator[tuple[str, str]]]:
    """The `/article` endpoint function."""

    def article(
        topic: str,
        outline: str = "",
        keywords: str = "",
        audience: str = "",
        tone: str = "",
        length_words: int = 600,
        max_new_tokens: int = D.max_new_tokens,
        temperature: float = D.temperature,
        top_k: int = D.top_k,
        top_p: float = D.top_p,
        repetition_penalty: float = D.repetition_penalty,
        no_repeat_ngram_size: int = D.no_repeat_ngram_size,
        num_drafts: int = D.num_drafts,
        seed: int = D.seed,
    ) -> tuple[str, str]:
        """Write an article section by section from `outline` (drafted first when empty).

        Streams (Markdown article so far, status line); max_new_tokens applies to each section.
        """
        values = (max_new_tokens, temperature, top_k, top_p)
        values += (repetition_penalty, no_repeat_ngram_size, num_drafts, seed)
        brief = (keywords, audience, tone, length_words)
        yield from _api_stream(
            lambda s: _outline_then_article(backend, s, topic, outline, brief), values, cap
        )

    return article


def _fewshot_api(backend: Backend, cap: int) -> Callable[..., Iterator[tuple[str, str]]]:
    """The `/fewshot` endpoint function."""

    def fewshot(
        new_input: str,
        examples_json: str = "",
        instruction: str = "",
        max_new_tokens: int = D.max_new_tokens,
        temperature: float = D.temperature,
        top_k: int = D.top_k,
        top_p: float = D.top_p,
        repetition_penalty: float = D.repetition_penalty,
        no_repeat_ngram_size: int = D.no_repeat_ngram_size,
        num_drafts: int = D.num_drafts,
        seed: int = D.seed,
    ) -> tuple[str, str]:
        """Apply the examples' pattern to `new_input`. Streams (output so far, status line).

        `examples_json`: JSON `[["in", "out"], ...]`, a preset name, or "" (the first preset).
        """
        values = (max_new_tokens, temperature, top_k, top_p)
        values += (repetition_penalty, no_repeat_ngram_size, num_drafts, seed)

        def run(settings: GenerationSettings) -> Iterator[Progress]:
            pairs, instruction_now = examples_from_spec(examples_json, instruction)
            return fewshot_steps(backend, settings, pairs, new_input, instruction_now)

        yield from _api_stream(run, values, cap)

    return fewshot


API_FACTORIES = (_story_api, _outline_api, _article_api, _fewshot_api)


def _register_api(backend: Backend, cap: int) -> None:
    """Register the four streaming endpoints, named after their functions; each yields (text, status)."""
    for factory in API_FACTORIES:
        function = factory(backend, cap)
        gr.api(function, api_name=function.__name__)


def _outline_then_article(
    backend: Backend, settings: GenerationSettings, topic: str, outline: str, brief: tuple
) -> Iterator[Progress]:
    """The article from `outline`, writing the outline first (not streamed) when it is empty."""
    if not (outline or "").strip():
        for progress in outline_steps(backend, settings, topic, *brief):
            outline = progress.text
    yield from article_steps(backend, settings, topic, outline, *brief)


# ---------------------------------------------------------------------------- the app


def concurrency_limit(config: AppConfig) -> int:
    """How many generation events run at once: 1 for the one-at-a-time path, else the batch size."""
    if config.backend == "local" and config.engine == "simple":
        return 1
    return config.max_batch_size


def build_ui(backend: Backend, config: AppConfig) -> gr.Blocks:
    """The app: header, three task tabs, the shared settings panel and the streaming API endpoints."""
    cap = config.max_new_tokens_cap
    with gr.Blocks(title=APP_TITLE, analytics_enabled=False) as demo:
        _header(backend.info)
        with gr.Row():
            with gr.Column(scale=3):
                tabs = gr.Tabs()
            with gr.Column(scale=1, min_width=300):
                settings = _settings_panel(cap)
        with tabs:
            _story_tab(backend, settings, cap)
            _article_tab(backend, settings, cap)
            _fewshot_tab(backend, settings, cap)
        _register_api(backend, cap)
    demo.queue(default_concurrency_limit=concurrency_limit(config), max_size=config.max_queue)
    return demo


def launch(demo: gr.Blocks, config: AppConfig, block: bool = True) -> str:
    """Serve `demo` on `config.host:config.port` and return the local URL.

    With `config.share`, gradio tries to open a public tunnel; when that fails (no internet,
    tunnel binary missing) it says why on stdout and the app keeps serving locally.
    """
    demo.launch(
        server_name=config.host,
        server_port=config.port,
        share=config.share,
        show_error=True,
        prevent_thread_lock=True,
        theme=gr.themes.Soft(primary_hue="indigo", neutral_hue="slate"),
        css=CSS,
        footer_links=["api", "gradio"],
        quiet=not config.share,  # gradio's own hint names launch(share=True), not our --share flag
    )
    url = demo.local_url or f"http://{config.host}:{config.port}/"
    if not config.share:
        print(f"* Running on {url} (python app.py --share also opens a public link)", flush=True)
    if config.share and not demo.share_url:
        print(
            "--share: no public share link could be created (this machine cannot reach gradio's "
            f"share servers, see the message above); the app keeps serving locally at {url}",
            flush=True,
        )
    if block:
        demo.block_thread()
    return url
