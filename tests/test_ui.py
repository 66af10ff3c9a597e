"""The ui/ package: settings panel, output area (Undo, drafts, export), API signatures; layering."""

from __future__ import annotations

import logging
import subprocess
import sys
import warnings
from pathlib import Path

import gradio as gr
import pytest

from nlg_assistant import document, ui
from nlg_assistant.backend import GenerationError
from nlg_assistant.config import SETTING_NAMES, AppConfig, GenerationSettings, SettingsError
from nlg_assistant.exports import ExportFolder
from nlg_assistant.tasks import BY_NAME, Progress
from nlg_assistant.tasks.story import story_steps
from nlg_assistant.ui import api, desk, output
from nlg_assistant.ui.serving import GENERATION_GROUP, Serving
from nlg_assistant.ui.settings import settings_from_values, settings_validator

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VALUES = [getattr(GenerationSettings(), name) for name in SETTING_NAMES]
SHORT = GenerationSettings(max_new_tokens=12, seed=7)


def _serving(root: Path | None = None, max_chars: int = 1000, **folder) -> Serving:
    """The serving bounds a tab or the API gets: max_new_tokens 64, `max_chars` per text field."""
    return Serving(64, max_chars, ExportFolder(root, **folder))


def _values(**changes) -> list:
    """Settings panel values (in SETTING_NAMES order) with some fields changed."""
    return [changes.get(name, value) for name, value in zip(SETTING_NAMES, DEFAULT_VALUES, strict=True)]


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    from nlg_assistant.generation import LocalBackend
    from nlg_assistant.models import load_model

    return LocalBackend(load_model(str(tiny_model_dir), "cpu"), 64, timeout_s=60)


# ---------------------------------------------------------------------------- import isolation


def _imported_after(module: str) -> set[str]:
    """Top-level packages among torch/transformers/gradio that importing `module` loads (fresh process)."""
    code = (
        f"import {module}, sys; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'gradio'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return set(eval(done.stdout))  # a printed list of names


def test_ui_never_imports_torch_or_transformers():
    assert _imported_after("nlg_assistant.ui") == {"gradio"}


def test_tasks_import_neither_gradio_nor_torch():
    assert _imported_after("nlg_assistant.tasks") == set()
    assert _imported_after("nlg_assistant.prompts") == set()


def test_importing_the_ui_writes_no_files():
    """gradio writes a .pyi next to any component subclass's module: the ui must define none."""
    assert not list((REPO_ROOT / "nlg_assistant").rglob("*.pyi"))


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
    settings = settings_from_values(_values(max_new_tokens=300.0, temperature=0.0, seed=5.0), 100)
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
        settings_from_values(_values(**{field: value}), 100)


def test_settings_from_values_needs_every_field():
    with pytest.raises(SettingsError, match="expected 8 settings"):
        settings_from_values(DEFAULT_VALUES[:-1], 100)


def test_saving_writes_the_markdown_file_as_utf8(tmp_path):
    markdown = document.to_markdown("story", {"story": "Il était une fois 🦊", "memory": "猫"})
    path = Path(_serving(tmp_path).export("story", markdown))
    assert path.name == "story.md" and path.is_relative_to(tmp_path)
    assert path.read_text(encoding="utf-8") == markdown


def test_stop_marks_a_running_generation_only():
    assert output._stopped_status("Section 2/3 · Writing… 40 characters so far") == (
        "Section 2/3 · finish: stopped (you pressed Stop)"
    )
    assert output._stopped_status("Starting…") == "finish: stopped (you pressed Stop)"
    done = "12 tokens · 3.0 tok/s · finish: eos"
    assert output._stopped_status(done) == done
    assert output._stopped_status("") == ""


def test_concurrency_follows_the_engine():
    assert ui.concurrency_limit(AppConfig(engine="simple")) == 1
    assert ui.concurrency_limit(AppConfig(engine="batched", max_batch_size=6)) == 6


# ---------------------------------------------------------------------------- UI handler logic


def _drive(backend, run, values, before="Mine.", history=None):
    request = output.LastRequest("generate", {"story": before})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gr.Warning outside a request only warns
        fields = {"story": before, "memory": "A fox."}
        return list(output._drive(run, values, 64, fields, before, history, request))


OLDER = document.record(None, {"story": "older", "memory": ""})


def test_drive_appends_records_undo_marks_the_span_and_offers_drafts(backend):
    def run(settings):
        return story_steps(backend, settings, "", base="Mine.")

    outputs = _drive(backend, run, _values(max_new_tokens=8, num_drafts=2), history=OLDER)
    text, status, line, history, span, request, drafts, *cards = outputs[-1]
    assert text.startswith("Mine.") and span == {"start": 5, "text": text[5:]}
    assert history["undo"] == [*OLDER["undo"], {"story": "Mine.", "memory": "A fox."}]
    assert f"Last generation: {document.word_count(text[5:])} words" in line
    assert len(drafts["texts"]) == 2 and drafts["texts"][0] == text and drafts["start"] == 5
    assert [card.visible for card in cards[0::2]] == [True, True, False, False]
    assert "finish:" in status and request.mode == "generate"


def test_drive_keeps_the_users_text_on_errors(backend):
    def run(settings):
        return story_steps(backend, settings, "   ")

    for values in (_values(temperature=9.0), _values()):
        outputs = _drive(backend, run, values, history=OLDER)
        text, status, _, history, *_ = outputs[-1]
        assert text == "Mine." and history == {"__type__": "update"}  # nothing written, no Undo step
        assert status.startswith("⚠")
    assert "temperature" in _drive(backend, run, _values(temperature=9.0))[-1][1]


def test_drive_shows_drafts_as_cards_while_they_stream():
    def run(settings):
        yield Progress("Mine. A fox", "Writing…", drafts=(" A fox", " A cat", " Rain"))
        yield Progress("Mine. A fox ran.", "Writing…")

    first, second = _drive(None, run, _values())[1:3]
    boxes, columns = first[8::2], first[7::2]
    assert [c.visible for c in columns] == [True, True, True, False]
    assert [b.value for b in boxes[:3]] == ["Mine. A fox", "Mine. A cat", "Mine. Rain"]
    assert all(update == {"__type__": "update"} for update in second[7:])  # one draft: cards untouched


def test_a_failed_regenerate_gives_the_span_back():
    def run(settings):
        raise GenerationError("the model is busy")
        yield  # a generator, like every task

    request = output.LastRequest("generate", {"story": "Mine."})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fields = {"story": "Mine. Old span."}
        outputs = list(output._drive(run, _values(), 64, fields, "Mine.", None, request, "Mine. Old span."))
    assert outputs[0][0] == "Mine." and outputs[-1][0] == "Mine. Old span."
    assert outputs[-1][1] == "⚠ the model is busy"


def test_span_line_follows_the_live_span():
    span = document.span_of("Once upon a time", 4)
    assert "Last generation: 3 words" in output.span_line("Once upon a time", span)
    assert output.span_line("Once upon a time!", span) == ""  # edited: accepted
    assert output.span_line("", None) == ""


def test_autosave_waits_for_the_end_of_a_generation():
    with gr.Blocks():
        boxes = [gr.Textbox(), gr.Textbox()]
        area = output.output_area("story", "button.generate", ("story", "memory"), boxes, "story")
    save, fields = desk._save_to_browser(area), ["Once upon a time", "Pip"]
    for status in ("Starting…", "Section 2/3 · Writing… 40 characters so far"):
        assert output.streaming(status)
        assert all(isinstance(part, type(gr.skip())) for part in save(*fields, OLDER, None, status))
    stored, line = save(*fields, OLDER, None, "9 tokens · finish: stopped (you pressed Stop)")
    assert stored == {"fields": dict(zip(area.names, fields, strict=True)), "history": OLDER, "span": None}
    assert line.endswith("· 4 words") and not output.streaming(None)
    typed = desk._save_to_browser(area, typed=True)
    assert typed(*fields, OLDER, None, "Writing… 9 characters") == (stored, line)  # a stream broke off
    assert all(isinstance(part, type(gr.skip())) for part in typed(*fields, OLDER, None, "Ready."))


def test_autosave_and_counts_run_when_the_tab_settles_and_the_status_line_change_counts(backend):
    # They wait for the tab to settle (settle.py): the document's and the status line's changes run
    # a browser-only listener that clicks the tab's hidden "settled" button, whose click runs both.
    # The status line's last change (the end, or Stop's mark) may be the only change after a
    # stream's last update, so it must be among the triggers.
    demo = ui.build_ui(backend, AppConfig(engine="simple", max_new_tokens_cap=64))
    ids = {block.elem_id: block._id for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    for tab in ("story", "article", "fewshot"):
        for part in ("status", "document"):
            listeners = [fn for fn in demo.fns.values() if (ids[f"{tab}-{part}"], "change") in fn.targets]
            # one browser listener per component: the desk and the counts line share the tab's timer
            assert len(listeners) == 1 and listeners[0].fn is None and f"#{tab}-settled" in listeners[0].js, (
                tab
            )
        on_settled = [fn.name for fn in demo.fns.values() if (ids[f"{tab}-settled"], "click") in fn.targets]
        assert sorted(on_settled) == ["save", "update"], tab


def test_build_ui_registers_the_api(backend):
    demo = ui.build_ui(backend, AppConfig(engine="simple", max_new_tokens_cap=64))
    names = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert names == {"story", "article_outline", "article", "fewshot", "alternatives"}


def _elem_ids(demo) -> set[str]:
    return {block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None)}


def test_api_errors_reach_the_caller_without_server_tracebacks(backend, caplog):
    import gradio as gr

    from nlg_assistant.engine import BatchedBackend

    story = api.endpoint(BY_NAME["story"], backend, _serving())
    with pytest.raises(gr.Error, match="story is empty") as bad_input:
        list(story("   "))
    assert not bad_input.value.print_exception and not caplog.records  # the caller's mistake: no log
    engine = BatchedBackend(backend.loaded, max_batch_size=1)  # a real refusal: 2 drafts, 1 row
    try:
        refusal = pytest.raises(gr.Error, match="ask for fewer drafts")
        with caplog.at_level(logging.WARNING, logger=output.LOGGER.name), refusal as refused:
            list(api.endpoint(BY_NAME["story"], engine, _serving())("Once upon a time", num_drafts=2))
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
        yield Progress("Mine. and more", "Writing…")
        raise RuntimeError("disk on fire")

    outputs = _drive(None, run, _values(), history=None)
    text, status, _, history, span, *_ = outputs[-1]
    assert text == "Mine. and more" and span == {"start": 5, "text": " and more"}
    assert history["undo"] == [{"story": "Mine.", "memory": "A fox."}]
    assert status.startswith("⚠ Something went wrong on the server") and "disk on fire" not in status


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


# ---------------------------------------------------------------------------- settings bounded by the model


def _component(demo, elem_id):
    return next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id)


def test_max_new_tokens_slider_stops_at_what_the_model_can_do(backend):
    demo = ui.build_ui(backend, AppConfig(engine="simple", max_new_tokens_cap=1024))
    slider = _component(demo, "setting-max_new_tokens")
    assert backend.info.context_window == 256
    assert slider.maximum == 160  # 256 - a quarter window for the prompt (64) - the chat margin (32)
    assert _component(demo, "setting-temperature").maximum == 2.0


def test_typed_values_out_of_range_are_marked_at_their_field_and_not_run(backend):
    demo = ui.build_ui(backend, AppConfig(engine="simple", max_new_tokens_cap=1024))
    generate = [fn for fn in demo.fns.values() if fn.validator is not None]
    assert len(generate) >= 10  # Generate, Continue, Regenerate on three tabs, and Draft outline
    validate = settings_validator(2, 160)
    marks = validate(
        "story", "memory", *_values(temperature=-3, max_new_tokens=500, seed=2**31, num_drafts=50)
    )
    by_name = dict(zip(SETTING_NAMES, marks[2:], strict=True))
    assert marks[:2] == [None, None]
    assert not by_name["temperature"]["is_valid"] and "temperature" in by_name["temperature"]["message"]
    assert not by_name["max_new_tokens"]["is_valid"] and "at most 160" in by_name["max_new_tokens"]["message"]
    assert not by_name["seed"]["is_valid"] and by_name["top_p"]["is_valid"]
    assert not by_name["num_drafts"]["is_valid"] and "num_drafts" in by_name["num_drafts"]["message"]
    # gradio's own range check would raise here and cover the output with an "Error" badge
    assert _component(demo, "setting-seed").preprocess(-5) == -5
    assert _component(demo, "setting-temperature").preprocess(-3) == -3


# ---------------------------------------------------------------------------- API signatures


# The README's endpoint table, as literals: clients rely on these names, order and defaults.
SETTINGS_DEFAULTS = [
    ("max_new_tokens", 200),
    ("temperature", 0.8),
    ("top_k", 50),
    ("top_p", 0.95),
    ("repetition_penalty", 1.1),
    ("no_repeat_ngram_size", 0),
    ("num_drafts", 1),
    ("seed", -1),
]
DOCUMENTED = {
    "story": [("story", None), ("memory", ""), ("style", "")],
    "article_outline": [
        ("topic", None),
        ("keywords", ""),
        ("audience", ""),
        ("tone", ""),
        ("length_words", 600),
    ],
    "article": [
        ("topic", None),
        ("outline", ""),
        ("keywords", ""),
        ("audience", ""),
        ("tone", ""),
        ("length_words", 600),
    ],
    "fewshot": [("new_input", None), ("examples_json", ""), ("instruction", "")],
}


@pytest.mark.parametrize("name", list(DOCUMENTED))
def test_api_signatures_are_the_documented_ones(name):
    import inspect

    params = api.signature(BY_NAME[name]).parameters.values()
    got = [(p.name, None if p.default is inspect.Parameter.empty else p.default) for p in params]
    extra = [("stop_at_line_end", None), ("keep_input_words", None)] if name == "fewshot" else []
    assert got == DOCUMENTED[name] + SETTINGS_DEFAULTS + extra


def test_every_generation_event_and_endpoint_shares_one_concurrency_group(backend):
    demo = ui.build_ui(backend, AppConfig(engine="batched", max_batch_size=3, max_new_tokens_cap=64))
    grouped = {fn.name for fn in demo.fns.values() if fn.concurrency_id == GENERATION_GROUP}
    assert {"story", "article_outline", "article", "fewshot", "write_outline"} <= grouped
    runs = sum(fn.name == "run" for fn in demo.fns.values() if fn.concurrency_id == GENERATION_GROUP)
    assert runs == 9  # Generate, Continue and Regenerate of three tabs
    assert all(fn.concurrency_limit == "default" for fn in demo.fns.values() if fn.name in grouped)
    assert demo._queue.default_concurrency_limit == 3  # the group's limit: the engine's batch
    assert not any(fn.concurrency_id == GENERATION_GROUP for fn in demo.fns.values() if fn.name == "_undo")


@pytest.mark.parametrize(
    ("task", "kwargs", "message"),
    [
        ("story", {"story": 42}, "The story must be text (got a number)"),
        ("story", {"story": ["a"]}, "The story must be text (got a list)"),
        ("story", {"story": "x" * 1001}, "The story is too long: 1,001 characters; the limit is 1,000"),
        ("story", {"story": "Once", "memory": {"a": 1}}, "The memory must be text (got an object)"),
        ("article", {"topic": "Bees", "length_words": "600"}, "length words must be a whole number"),
        ("fewshot", {"new_input": "hi", "stop_at_line_end": "yes"}, "stop at line end must be true or false"),
        ("fewshot", {"new_input": "hi", "examples_json": "[" * 900 + "]" * 900}, "example 1 must be"),
        ("fewshot", {"new_input": "hi", "examples_json": "[" * 100_000}, "nested too deeply"),
        ("fewshot", {"new_input": "hi", "examples_json": '[[["a"], "b"]]'}, "example 1 must be"),
    ],
)
def test_api_arguments_are_checked_with_our_messages(backend, caplog, task, kwargs, message):
    import gradio as gr

    run = api.endpoint(BY_NAME[task], backend, _serving(max_chars=1000 if task == "story" else 200_000))
    with caplog.at_level(logging.INFO), pytest.raises(gr.Error) as refused:
        list(run(**kwargs))
    assert message in refused.value.message and " at 0x" not in refused.value.message
    assert not refused.value.print_exception


def test_a_refused_api_request_logs_one_line(backend, caplog, monkeypatch):
    import gradio as gr

    from nlg_assistant import refusals

    monkeypatch.setattr(refusals.LOGGER, "filters", [])  # no rate limit left by an earlier launch
    with caplog.at_level(logging.INFO, logger=refusals.LOGGER.name), pytest.raises(gr.Error):
        list(api.endpoint(BY_NAME["story"], backend, _serving())("x" * 5000))
    assert [r.getMessage() for r in caplog.records] == [
        "refused a request: The story is too long: 5,000 characters; the limit is 1,000"
    ]


def test_ui_refuses_oversized_text_before_running_and_keeps_it(backend):
    import gradio as gr

    names = ("story", "memory", "style")
    with gr.Blocks():
        boxes = [gr.Textbox(label=name) for name in names]
        area = output.output_area("story", "button.generate", names, boxes, "story")
    calls = []

    def runner(mode, fields, base, s):
        calls.append(mode)
        return story_steps(backend, s, "", fields["memory"], fields["style"], base)

    handler = output._run_handler(area, "generate", output._checked(runner, _serving(max_chars=100)), 64)
    for story, memory in (("x" * 101, "A fox."), ("Mine.", "m" * 101)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # gr.Warning outside a request only warns
            updates = list(handler(story, memory, "", None, None, None, *_values(max_new_tokens=4)))
        assert updates[-1][0] == story and not calls
        too_long = "story" if len(story) > 100 else "memory"
        assert f"The {too_long} is too long: 101 characters; the limit is 100" in updates[-1][1]
    assert area.document is boxes[0]


def test_export_spam_is_swept(tmp_path):
    serving = _serving(tmp_path, max_files=3)
    for number in range(10):
        serving.export("story", f"# {number}\n")
    assert len(list(tmp_path.rglob("*.md"))) == 3
    with pytest.raises(ValueError, match="export is too long"):
        serving.export("story", "x" * 4001)


def _text_inputs(fn) -> int:
    """How many of an event's inputs carry text (an API endpoint's str parameters, else text boxes)."""
    import inspect

    import gradio as gr

    if fn.api_visibility == "public":
        params = inspect.signature(fn.fn).parameters.values()
        return sum(p.annotation in (str, "str", str | None) for p in params)
    return sum(isinstance(block, gr.Textbox | gr.Dataframe | gr.Code) for block in fn.inputs)


def test_request_body_limit_counts_every_text_input_of_the_biggest_event(backend):
    from nlg_assistant.limits import TEXT_FIELDS_PER_REQUEST

    demo = ui.build_ui(backend, AppConfig(engine="simple", max_new_tokens_cap=64))
    assert max(_text_inputs(fn) for fn in demo.fns.values()) == TEXT_FIELDS_PER_REQUEST


def test_api_endpoints_lists_each_public_endpoints_inputs(backend):
    demo = ui.build_ui(backend, AppConfig(engine="simple", max_new_tokens_cap=64))
    endpoints = ui.api_endpoints(demo)
    assert set(endpoints) == {"story", "article_outline", "article", "fewshot", "alternatives"}
    story = endpoints["story"]
    assert story.inputs == tuple(api.signature(BY_NAME["story"]).parameters)
    assert story.required == ("story",)


def test_a_preset_fills_keep_the_inputs_words_for_base_models_only():
    """Choosing Formal rewrite ticks "Keep the input's words" on a base model, not on an instruct one;
    Headline unticks it; an unknown name changes nothing."""
    from nlg_assistant.ui.fewshot_tab import fill_preset

    assert fill_preset("Formal rewrite", chat=False)[2:] == (True, True)
    assert fill_preset("Formal rewrite", chat=True)[2:] == (True, False)
    assert fill_preset("Headline", chat=False)[3] is False
    assert all(value == gr.skip() for value in fill_preset("nonsense", chat=False))
