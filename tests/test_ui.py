"""ui.py helpers, streaming and handler logic on a real tiny model; import isolation of ui and app."""

from __future__ import annotations

import logging
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from nlg_assistant import ui
from nlg_assistant.backend import Prompt
from nlg_assistant.config import AppConfig, GenerationSettings, SettingsError
from nlg_assistant.prompts import PRESETS, PromptError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VALUES = [getattr(GenerationSettings(), name) for name in ui.SETTING_NAMES]
SHORT = GenerationSettings(max_new_tokens=12, seed=7)


def _values(**changes) -> list:
    """Settings panel values (in SETTING_NAMES order) with some fields changed."""
    return [changes.get(name, value) for name, value in zip(ui.SETTING_NAMES, DEFAULT_VALUES, strict=True)]


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    from nlg_assistant.generation import LocalBackend
    from nlg_assistant.models import load_model

    return LocalBackend(load_model(str(tiny_model_dir), "cpu"), 64, timeout_s=60)


class SpyBackend:
    """The real backend, remembering the streams it started (to see that they get cancelled)."""

    def __init__(self, inner) -> None:
        self.inner, self.cancelled = inner, []
        self.info, self.count_tokens = inner.info, inner.count_tokens

    def start(self, prompt: Prompt, settings: GenerationSettings):
        stream = self.inner.start(prompt, settings)
        spy = self

        class Stream:
            result = None

            def __iter__(self):
                yield from stream
                self.result = stream.result

            def cancel(self):
                spy.cancelled.append(stream)
                stream.cancel()

        return Stream()


# ---------------------------------------------------------------------------- import isolation


def test_ui_never_imports_torch_or_transformers():
    code = (
        "import nlg_assistant.ui, sys; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, "
        "[m for m in sys.modules if m.startswith(('torch', 'transformers'))][:5]"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_importing_app_runs_nothing():
    code = (
        "import sys; sys.argv = ['app.py', '--no-such-flag']; import app; "
        "assert callable(app.main); "
        "assert not any(m in sys.modules for m in ('gradio', 'torch', 'nlg_assistant.models'))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


# ---------------------------------------------------------------------------- pure helpers


def test_settings_from_values_builds_validated_capped_settings():
    settings = ui.settings_from_values(_values(max_new_tokens=300.0, temperature=0.0, seed=5.0), cap=100)
    assert settings == GenerationSettings(max_new_tokens=100, temperature=0.0, seed=5)
    assert isinstance(settings.max_new_tokens, int)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("temperature", 3.0, r"temperature must be between 0\.0 and 2\.0"),
        ("top_p", None, "top_p must be a number"),
        ("num_drafts", 1.5, "num_drafts must be a whole number"),
        ("seed", "", "seed must be a number"),
    ],
)
def test_settings_from_values_names_the_bad_field(field, value, message):
    with pytest.raises(SettingsError, match=message):
        ui.settings_from_values(_values(**{field: value}), cap=100)


def test_settings_from_values_needs_every_field():
    with pytest.raises(SettingsError, match="expected 8 settings"):
        ui.settings_from_values(DEFAULT_VALUES[:-1], cap=100)


def test_undo_history_keeps_the_newest_entries():
    history: list[str] = []
    for number in range(ui.HISTORY_LIMIT + 5):
        history = ui.push_history(history, f"text {number}")
    assert len(history) == ui.HISTORY_LIMIT
    previous, rest = ui.pop_history(history)
    assert previous == f"text {ui.HISTORY_LIMIT + 4}" and len(rest) == ui.HISTORY_LIMIT - 1
    assert ui.pop_history([]) == (None, [])


def test_markdown_export_writes_sections_as_utf8(tmp_path):
    markdown = ui.to_markdown("Story", [("", "Il était une fois 🦊"), ("Memory", "猫"), ("Style", "  ")])
    assert markdown == "# Story\n\nIl était une fois 🦊\n\n## Memory\n\n猫\n"
    path = Path(ui.write_markdown("story", markdown))
    assert path.name == "story.md"
    assert path.read_text(encoding="utf-8") == markdown


def test_examples_from_rows_drops_blank_rows():
    rows = [["hi", "Hello."], ["", ""], [None, None], ["only input", ""], ["a", "b", "extra"]]
    assert ui.examples_from_rows(rows) == [("hi", "Hello."), ("only input", ""), ("a", "b")]
    assert ui.examples_from_rows(None) == []


def test_examples_from_spec_accepts_presets_and_json():
    name = next(iter(PRESETS))
    pairs, instruction = ui.examples_from_spec(name.upper(), "")
    assert pairs == list(PRESETS[name].examples) and instruction == PRESETS[name].instruction
    assert ui.examples_from_spec("", "Mine")[1] == "Mine"
    mixed = '[["a", "b"], {"input": "c", "output": "d"}]'
    assert ui.examples_from_spec(mixed, "")[0] == [("a", "b"), ("c", "d")]
    for bad in ("nonsense", '{"a": 1}', '[["only one"]]'):
        with pytest.raises(PromptError):
            ui.examples_from_spec(bad, "")


def test_preset_rows_fill_the_table():
    instruction, rows = ui.preset_rows(next(iter(PRESETS)))
    assert instruction and len(rows) == ui.MAX_EXAMPLES
    assert rows[-1] == ["", ""]


def test_stop_marks_a_running_generation_only():
    assert ui._stopped_status("Section 2/3 · Writing… 40 characters so far") == (
        "Section 2/3 · finish: stopped (you pressed Stop)"
    )
    assert ui._stopped_status("Starting…") == "finish: stopped (you pressed Stop)"
    done = "12 tokens · 3.0 tok/s · finish: eos"
    assert ui._stopped_status(done) == done
    assert ui._stopped_status("") == ""


def test_concurrency_follows_the_engine():
    assert ui.concurrency_limit(AppConfig(engine="simple")) == 1
    assert ui.concurrency_limit(AppConfig(engine="batched", max_batch_size=6)) == 6


# ---------------------------------------------------------------------------- streaming on the tiny model


def test_stream_progress_grows_and_ends_with_the_result(backend):
    steps = list(ui.stream_progress(backend, Prompt("Once upon a time"), SHORT, base="Before. "))
    assert all(step.text.startswith("Before. ") for step in steps)
    final = steps[-1]
    assert final.result is not None and final.text == "Before. " + final.result.texts[0]
    assert final.status == final.result.status_line()
    assert all(step.result is None for step in steps[:-1])


def test_closing_the_stream_early_cancels_the_backend(backend):
    spy = SpyBackend(backend)
    steps = ui.stream_progress(spy, Prompt("Once upon a time"), GenerationSettings(max_new_tokens=60))
    next(steps)
    steps.close()  # what gradio does on Stop or when the browser goes away
    assert len(spy.cancelled) == 1


def test_story_continue_keeps_the_text_written_so_far(backend):
    steps = list(ui.story_steps(backend, SHORT, "Once upon a time", "A fox.", "", base=" there was"))
    assert steps[-1].text.startswith(" there was")
    assert len(steps[-1].text) > len(" there was")


def test_article_is_written_section_by_section(backend):
    outline = "1. Hives\n2. Honey 🍯"
    steps = list(ui.article_steps(backend, SHORT, "Urban beekeeping", outline))
    article = steps[-1].text
    assert article.startswith("## Hives\n\n")
    assert article.index("## Hives") < article.index("\n\n## Honey 🍯\n\n")
    assert any(step.status.startswith("Section 2/2") for step in steps)
    with pytest.raises(PromptError, match="outline is empty"):
        list(ui.article_steps(backend, SHORT, "Urban beekeeping", "  "))


def test_fewshot_continue_extends_the_answer(backend):
    pairs = [("hi", "Hello."), ("thx", "Thank you.")]
    steps = list(ui.fewshot_steps(backend, SHORT, pairs, "bye", base="Good"))
    assert steps[-1].text.startswith("Good")


# ---------------------------------------------------------------------------- UI handler logic


def _drive(backend, run, values, before="Mine.", history=None):
    request = ui.LastRequest("generate", (), before)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gr.Warning outside a request only warns
        return list(ui._drive(run, values, 64, before, history or [], request))


def test_drive_pushes_undo_history_and_offers_drafts(backend):
    def run(settings):
        return ui.story_steps(backend, settings, "Once upon a time")

    outputs = _drive(backend, run, _values(max_new_tokens=8, num_drafts=2), history=["older"])
    text, status, history, drafts, picker, request = outputs[-1]
    assert history == ["older", "Mine."]
    assert len(drafts) == 2 and drafts[0] == text
    assert picker.visible is True and picker.value == "Draft 1"
    assert "finish:" in status and request == ui.LastRequest("generate", (), "Mine.")


def test_drive_keeps_the_users_text_on_errors(backend):
    def run(settings):
        return ui.story_steps(backend, settings, "   ")

    for values in (_values(temperature=9.0), _values()):
        outputs = _drive(backend, run, values, history=["older"])
        text, status, history, *_ = outputs[-1]
        assert text == "Mine." and history == ["older"]
        assert status.startswith("⚠")
    assert "temperature" in _drive(backend, run, _values(temperature=9.0))[-1][1]


def test_undo_and_draft_picking():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text, status, history, picker = ui._undo("now", ["older", "before"])
        assert (text, history, picker.visible) == ("before", ["older"], False)
        text, status, history, _ = ui._undo("now", [])
        assert (text, status, history) == ("now", "Nothing to undo.", [])
    assert ui._pick_draft(1, ["a", "b"]) == "b"
    assert ui._pick_draft(5, ["a"]) == {"__type__": "update"}


def test_build_ui_registers_the_api(backend):
    demo = ui.build_ui(backend, AppConfig(engine="simple", max_new_tokens_cap=64))
    names = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert names == {"story", "article_outline", "article", "fewshot"}


def _elem_ids(demo) -> set[str]:
    return {block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None)}


def test_api_errors_reach_the_caller_without_server_tracebacks(backend, caplog):
    import gradio as gr

    from nlg_assistant.engine import BatchedBackend

    story = ui._story_api(backend, cap=64)
    with pytest.raises(gr.Error, match="story is empty") as bad_input:
        list(story("   "))
    assert not bad_input.value.print_exception and not caplog.records  # the caller's mistake: no log
    engine = BatchedBackend(backend.loaded, max_batch_size=1)  # a real refusal: 2 drafts, 1 row
    try:
        refusal = pytest.raises(gr.Error, match="ask for fewer drafts")
        with caplog.at_level(logging.WARNING, logger=ui.LOGGER.name), refusal as refused:
            list(ui._story_api(engine, cap=64)("Once upon a time", num_drafts=2))
    finally:
        engine.close()
    assert not refused.value.print_exception
    assert [r.getMessage() for r in caplog.records] == [f"generation failed: {refused.value.message}"]


def test_base_model_hint_only_on_base_models(backend, tiny_chat_model_dir):
    from nlg_assistant.generation import LocalBackend
    from nlg_assistant.models import load_model

    config = AppConfig(engine="simple", max_new_tokens_cap=64)
    assert {"article-base-hint", "fewshot-base-hint"} <= _elem_ids(ui.build_ui(backend, config))
    chat = LocalBackend(load_model(str(tiny_chat_model_dir), "cpu"), 64, timeout_s=60)
    assert not {"article-base-hint", "fewshot-base-hint"} & _elem_ids(ui.build_ui(chat, config))


def test_drive_keeps_partial_text_after_an_unexpected_failure():
    def run(settings):
        yield ui.Progress("Mine. and more", "Writing…")
        raise RuntimeError("disk on fire")

    outputs = _drive(None, run, _values(), history=[])
    text, status, history, *_ = outputs[-1]
    assert text == "Mine. and more" and history == ["Mine."]
    assert status.startswith("⚠ Something went wrong (RuntimeError: disk on fire)")


def test_story_on_a_chat_model(tiny_chat_model_dir):
    from nlg_assistant.generation import LocalBackend
    from nlg_assistant.models import load_model

    chat = LocalBackend(load_model(str(tiny_chat_model_dir), "cpu"), 64, timeout_s=60)
    assert chat.info.chat
    steps = list(ui.story_steps(chat, SHORT, "Once upon a time"))
    assert steps[-1].result is not None and steps[-1].result.prompt_tokens > 10


# ---------------------------------------------------------------------------- app.py options


def test_app_options_read_the_environment(monkeypatch):
    import app

    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.setenv("NLG_MODEL", "some/model")
    config = app._config(app._parser().parse_args(["--engine", "simple", "--max-new-tokens-cap", "50"]))
    assert (config.model, config.host, config.engine, config.max_new_tokens_cap) == (
        "some/model",
        "127.0.0.1",
        "simple",
        50,
    )
    monkeypatch.setenv("SPACE_ID", "user/space")
    assert app._config(app._parser().parse_args(["--model", "x"])).host == "0.0.0.0"
    assert app._config(app._parser().parse_args(["--model", "x"])).model == "x"


def test_app_flags_from_nlg_args_come_before_the_command_line(monkeypatch):
    """A Space runs `python app.py` bare: its owner's flags arrive in NLG_ARGS; typed flags win."""
    import app

    monkeypatch.setenv("NLG_ARGS", "--engine simple  --max-new-tokens-cap 50 --model 'my models/story'")
    arguments = app._arguments(["--max-new-tokens-cap", "60"])
    config = app._config(app._parser().parse_args(arguments))
    assert (config.engine, config.max_new_tokens_cap, config.model) == ("simple", 60, "my models/story")
    monkeypatch.delenv("NLG_ARGS")
    assert app._arguments(["--port", "7000"]) == ["--port", "7000"]
