"""tasks/: streaming, each task on a real tiny model, and that every task fits its window.

`Recorder` wraps a real backend (real forward passes) and records the prompt and settings of
every request, so tests can check what a task asked the model, not just the size of the answer.
"""

from __future__ import annotations

import dataclasses
import doctest
import math
import re

import pytest

from nlg_assistant import tasks as tasks_package
from nlg_assistant.backend import (
    CHAT_MARGIN_TOKENS,
    GenerationResult,
    Prompt,
    max_new_tokens_limit,
    prompt_budget,
)
from nlg_assistant.config import GenerationSettings
from nlg_assistant.limits import InputError
from nlg_assistant.prompts import (
    PRESETS,
    PromptError,
    build_fewshot,
    build_section,
    parse_outline,
    suggested_sections,
)
from nlg_assistant.tasks import BY_NAME, TASKS, Progress, checked_inputs, stream_progress
from nlg_assistant.tasks import progress as progress_module
from nlg_assistant.tasks.article import (
    HEADING_TOKENS,
    article_steps,
    continue_article_prompt,
    continue_article_steps,
    joined_result,
    outline_end,
    outline_steps,
    outline_then_article,
    reseeded,
    section_tokens,
    tokens_per_word,
)
from nlg_assistant.tasks.fewshot import (
    DEFAULT_PRESET,
    examples_from_rows,
    examples_from_spec,
    fewshot_from_spec,
    fewshot_prompt,
    fewshot_steps,
    first_line,
    keeps_words,
    preset_rows,
)
from nlg_assistant.tasks.progress import fit_new_tokens, with_drafts
from nlg_assistant.tasks.story import story_steps

SHORT = GenerationSettings(max_new_tokens=12, seed=7)


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    from nlg_assistant.generation import LocalBackend
    from nlg_assistant.models import load_model

    return LocalBackend(load_model(str(tiny_model_dir), "cpu"), 64, timeout_s=60)


class Recorder:
    """A real backend that records each request's prompt and settings (and which streams got cancelled)."""

    def __init__(self, inner) -> None:
        self.inner, self.prompts, self.settings, self.cancelled = inner, [], [], []
        self.info, self.count_tokens = inner.info, inner.count_tokens

    def start(self, prompt: Prompt, settings: GenerationSettings):
        self.prompts.append(prompt)
        self.settings.append(settings)
        stream = self.inner.start(prompt, settings)
        recorder = self

        class Stream:
            result = None

            def __iter__(self):
                yield from stream
                self.result = stream.result

            def cancel(self):
                recorder.cancelled.append(stream)
                stream.cancel()

        return Stream()


def _fed(prompt: Prompt, chat: bool) -> str:
    """The prompt text the model was given in the form it uses."""
    return "\n".join(m["content"] for m in prompt.messages) if chat else prompt.document


# ---------------------------------------------------------------------------- registry


def test_the_registry_names_the_documented_endpoints_and_commands():
    assert [t.name for t in TASKS] == ["story", "article_outline", "article", "fewshot"]
    assert [t.command for t in TASKS] == ["story", "outline", "article", "fewshot"]
    assert [f.name for f in BY_NAME["article"].fields] == [
        "topic",
        "outline",
        "keywords",
        "audience",
        "tone",
        "length_words",
    ]


def test_the_module_examples_run():
    assert doctest.testmod(tasks_package).failed == 0


def test_checked_inputs_fill_defaults_and_keep_given_values():
    given = {"topic": "Bees", "tone": "warm", "length_words": 300}
    assert checked_inputs(BY_NAME["article"], given, 100) == {
        "topic": "Bees",
        "outline": "",
        "keywords": "",
        "audience": "",
        "tone": "warm",
        "length_words": 300,
    }
    assert checked_inputs(BY_NAME["story"], {"story": None}, 100)["story"] == ""  # a cleared box
    fewshot = BY_NAME["fewshot"]
    assert checked_inputs(fewshot, {}, 100)["stop_at_line_end"] is None  # automatic: the preset's
    assert checked_inputs(fewshot, {"stop_at_line_end": False}, 100)["stop_at_line_end"] is False
    assert checked_inputs(fewshot, {"keep_input_words": True}, 100)["keep_input_words"] is True


@pytest.mark.parametrize(
    ("task", "values", "message"),
    [
        ("story", {"story": "x" * 101}, "The story is too long: 101 characters; the limit is 100"),
        ("fewshot", {"new_input": 5}, "The new input must be text (got a number)"),
        ("article", {"length_words": "600"}, "length words must be a whole number (got str)"),
        ("article", {"length_words": True}, "length words must be a whole number (got bool)"),
        ("article", {"length_words": 600.0}, "length words must be a whole number (got float)"),
        ("fewshot", {"stop_at_line_end": "yes"}, "stop at line end must be true or false (got str)"),
        ("fewshot", {"stop_at_line_end": 1}, "stop at line end must be true or false (got int)"),
        ("fewshot", {"keep_input_words": "no"}, "keep input words must be true or false (got str)"),
    ],
)
def test_checked_inputs_refuse_bad_values_with_a_message(task, values, message):
    with pytest.raises(InputError) as refused:
        checked_inputs(BY_NAME[task], values, 100)
    assert str(refused.value) == message


def test_checked_inputs_accept_text_at_the_limit():
    assert checked_inputs(BY_NAME["story"], {"story": "x" * 100}, 100)["story"] == "x" * 100


def test_with_drafts_lists_the_other_drafts_after_the_first():
    result = GenerationResult(("one", "two", "three"), "length", 3, 9, 0.1, 10.0)
    assert with_drafts(Progress("Before. one", "done", result)) == (
        "Before. one\n\n--- draft 2 ---\ntwo\n\n--- draft 3 ---\nthree"
    )
    single = dataclasses.replace(result, texts=("one",))
    assert with_drafts(Progress("Before. one", "done", single)) == "Before. one"
    assert with_drafts(Progress("Before. on", "Writing…")) == "Before. on"  # still streaming


# ---------------------------------------------------------------------------- streaming


def test_stream_progress_grows_and_ends_with_the_result(backend):
    steps = list(stream_progress(backend, Prompt("Once upon a time"), SHORT, base="Before. "))
    assert all(step.text.startswith("Before. ") for step in steps)
    final = steps[-1]
    assert final.result is not None and final.text == "Before. " + final.result.texts[0]
    assert final.status == final.result.status_line()
    assert all(step.result is None for step in steps[:-1])


def test_drafts_stream_side_by_side(backend, monkeypatch):
    monkeypatch.setattr(progress_module, "STREAM_EVERY_S", 0.0)  # an update for every token
    settings = GenerationSettings(max_new_tokens=12, num_drafts=3, seed=5)
    steps = list(stream_progress(backend, Prompt("Once upon a time"), settings, base="Before. "))
    streaming = [step for step in steps[:-1] if step.drafts]
    assert streaming, "no update showed the drafts while they streamed"
    assert all(len(step.drafts) == 3 and step.text == "Before. " + step.drafts[0] for step in streaming)
    for draft, final in zip(streaming[-1].drafts, steps[-1].result.texts, strict=True):
        assert final.startswith(draft)  # each card grows toward its draft's final text


def test_closing_the_stream_early_cancels_the_backend(backend):
    recorder = Recorder(backend)
    steps = stream_progress(recorder, Prompt("Once upon a time"), GenerationSettings(max_new_tokens=60))
    next(steps)
    steps.close()  # what gradio does on Stop or when the browser goes away
    assert len(recorder.cancelled) == 1


def test_enough_stops_the_stream_and_keeps_the_cut_text(backend):
    recorder = Recorder(backend)
    steps = list(
        stream_progress(
            recorder,
            Prompt("Once upon a time"),
            GenerationSettings(max_new_tokens=60, seed=3),
            enough=lambda written: written[:5] if len(written) >= 5 else None,
        )
    )
    final = steps[-1]
    assert len(final.text) == 5 and final.result.finish_reason == "eos"
    assert final.result.generated_tokens < 60  # generation stopped early, not after 60 tokens


# ---------------------------------------------------------------------------- Continue and notes


def test_story_continue_puts_the_text_written_so_far_in_the_prompt(backend):
    recorder = Recorder(backend)
    steps = list(story_steps(recorder, SHORT, "Once upon a time", "A fox.", "", base=" there was a fox"))
    assert recorder.prompts[0].document.endswith("Once upon a time there was a fox")
    assert steps[-1].text.startswith(" there was a fox") and len(steps[-1].text) > len(" there was a fox")


def test_article_continue_puts_the_article_in_the_prompt_and_names_it(backend):
    recorder = Recorder(backend)
    article = "## Hives\n\nBees live in hives in the city."
    steps = list(continue_article_steps(recorder, SHORT, "Urban beekeeping", "friendly", article))
    document = recorder.prompts[0].document
    assert document.endswith("Bees live in hives in the city.") and "Urban beekeeping" in document
    assert steps[-1].text == article + steps[-1].result.texts[0]  # the article, then what was written
    with pytest.raises(PromptError, match="The article is empty"):
        list(continue_article_steps(backend, SHORT, "Urban beekeeping", "", "   "))


def test_article_continue_keeps_the_topic_and_tone_and_the_articles_end_when_trimmed(backend):
    article = " ".join(f"Hive {i} sits on a roof." for i in range(300)) + " The end."
    prompt = continue_article_prompt(backend, SHORT, "Urban beekeeping", "friendly", article)
    assert prompt.document.startswith("[Memory: An article about: Urban beekeeping]\n[Style: friendly]\n\n")
    assert prompt.document.endswith("Hive 299 sits on a roof. The end.") and "Hive 0 " not in prompt.document
    assert backend.count_tokens(prompt.document) <= prompt_budget(backend, SHORT).limit
    assert "The article is too long" in prompt.notices[0]


def test_fewshot_continue_puts_the_open_answer_in_the_prompt(backend):
    recorder = Recorder(backend)
    pairs = [("hi", "Hello."), ("thx", "Thank you.")]
    steps = list(fewshot_steps(recorder, SHORT, pairs, "bye", "Reply politely.", base="Good"))
    assert recorder.prompts[0].document.startswith("Reply politely.\n\n### Input:\nhi\n")
    assert recorder.prompts[0].document.endswith("### Input:\nbye\n\n### Output:\nGood")
    assert recorder.prompts[0].messages == () and recorder.prompts[0].penalise_prompt is False
    assert steps[-1].text.startswith("Good")


def test_keep_words_names_the_input_as_the_copy_source_of_a_fresh_answer_only(backend):
    """A rewrite copies its input: the prompt names it; a continued answer has none (the guide follows
    an answer from its start); the API follows the preset unless told."""
    recorder = Recorder(backend)
    pairs = [("hi", "Hello."), ("thx", "Thank you.")]
    list(fewshot_steps(recorder, SHORT, pairs, "  c u tmrw ", keep_words=True))
    list(fewshot_steps(recorder, SHORT, pairs, "c u tmrw", keep_words=True, base="See"))
    list(fewshot_steps(recorder, SHORT, pairs, "c u tmrw"))
    assert [prompt.copy_source for prompt in recorder.prompts] == ["c u tmrw", "", ""]
    assert "### Input:\nc u tmrw\n" in recorder.prompts[0].document  # the source as the prompt has it
    json_pairs = '[["hi", "Hello."]]'
    for spec, asked, expected in [
        ("Formal rewrite", None, "c u"),
        ("Formal rewrite", False, ""),
        ("Headline", None, ""),
        (json_pairs, None, ""),
        (json_pairs, True, "c u"),
    ]:
        list(fewshot_from_spec(recorder, SHORT, "c u", spec, keep_input_words=asked))
        assert recorder.prompts[-1].copy_source == expected, (spec, asked)


def test_memory_and_style_stay_in_the_prompt_when_the_story_is_trimmed(backend):
    recorder = Recorder(backend)
    story = " ".join(f"The fox walked to tree number {i}." for i in range(400)) + " The end came."
    steps = list(story_steps(recorder, SHORT, story, "Pip, a curious fox.", "Warm and gentle"))
    document = recorder.prompts[0].document
    assert document.startswith("[Memory: Pip, a curious fox.]\n[Style: Warm and gentle]\n\n")
    assert document.endswith("The end came.") and "tree number 0." not in document
    assert backend.count_tokens(document) <= prompt_budget(backend, SHORT).limit
    assert "story is too long" in steps[-1].status


# ---------------------------------------------------------------------------- articles fit the window


def test_article_is_written_section_by_section(backend):
    outline = "1. Hives\n2. Honey 🍯"
    steps = list(article_steps(backend, SHORT, "Urban beekeeping", outline))
    article = steps[-1].text
    assert article.startswith("## Hives\n\n")
    assert article.index("## Hives") < article.index("\n\n## Honey 🍯\n\n")
    assert any(step.status.startswith("Section 2/2") for step in steps)
    with pytest.raises(PromptError, match="outline is empty"):
        list(article_steps(backend, SHORT, "Urban beekeeping", "  "))


def test_an_outline_of_long_prose_headings_still_fits_every_section(backend):
    """A small model's "outline" is often long prose lines; the app must never refuse its own text."""
    line = "Once upon a time there was a fox who walked through the woods to find honey for the winter"
    outline = "\n".join(f"{i}. {line} and number {i} went on and on" for i in range(1, 9))
    recorder = Recorder(backend)
    steps = list(article_steps(recorder, SHORT, "Urban beekeeping", outline, "hives, honey", "beginners"))
    assert steps[-1].text.count("\n## ") == 7 and len(recorder.prompts) == 8
    for prompt, settings in zip(recorder.prompts, recorder.settings, strict=True):
        assert backend.count_tokens(prompt.document) <= prompt_budget(backend, settings).limit
        assert "Topic: Urban beekeeping" in prompt.document  # the brief is kept


def test_section_prompts_trim_the_article_so_far_from_the_left_with_a_notice(backend):
    recorder = Recorder(backend)
    outline = "1. Hives\n2. Honey\n3. Neighbours"
    steps = list(
        article_steps(recorder, GenerationSettings(seed=2), "Urban beekeeping", outline, length_words=3000)
    )
    last = recorder.prompts[-1].document
    assert last.endswith("## Neighbours\n") and "3. Neighbours" in last
    assert any("article so far is too long" in n for p in recorder.prompts for n in p.notices)
    assert steps[-1].text.startswith("## Hives")


def test_target_length_sets_each_sections_token_budget(backend):
    ratio = tokens_per_word(backend)
    assert ratio >= 1.0
    recorder = Recorder(backend)
    outline = "1. Hives\n2. Honey\n3. Neighbours\n4. Harvest"
    list(
        article_steps(
            recorder, GenerationSettings(max_new_tokens=5, seed=1), "Bees", outline, length_words=50
        )
    )
    expected = math.ceil(50 / 4 * ratio)
    assert [s.max_new_tokens for s in recorder.settings] == [expected] * 4  # not the 5 of max_new_tokens
    assert section_tokens(backend, 20000, 1) == max_new_tokens_limit(256) == 160  # the tiny model's window


def test_outline_asks_for_the_sections_of_the_target_length_and_stops_after_them(backend):
    recorder = Recorder(backend)
    steps = list(outline_steps(recorder, SHORT, "Urban beekeeping", length_words=900))
    assert steps[-1].text.startswith("1.") and steps[-1].status.startswith("Outline · ")
    assert "exactly 6 sections" in recorder.prompts[0].messages[1]["content"]
    assert recorder.prompts[0].document.endswith("one numbered heading per line:\n1.")
    assert suggested_sections(900) == 6
    assert outline_end("1. A\n2. B\n3. C\n4. D\n5", 4) == "1. A\n2. B\n3. C\n4. D"
    assert outline_end("1. A\n2. B\n\nOnce upon a time", 4) == "1. A\n2. B"  # the blank line ends the list
    assert outline_end("1. A\nThe fox ran away.\n", 4) == "1. A"  # so does prose after it
    assert outline_end("Sure! Here it is:\n\n1. A\n   - detail\n2. B", 4) is None  # still growing
    assert outline_end("1. A\n2. B", 4) is None


def test_a_base_models_outline_is_numbered_by_the_app_one_heading_per_request(backend):
    recorder = Recorder(backend)
    settings = GenerationSettings(max_new_tokens=200, seed=4)
    steps = list(outline_steps(recorder, settings, "Urban beekeeping", length_words=900))
    final, first = steps[-1], recorder.prompts[0].document
    lines = final.text.split("\n")
    assert [line.split(".")[0] for line in lines] == ["1", "2", "3", "4", "5", "6"]  # the asked 6
    assert parse_outline(final.text) == [line.split(". ", 1)[1] for line in lines]
    asked = list(dict.fromkeys(p.document for p in recorder.prompts))  # a repeat asks twice
    assert first.endswith("one numbered heading per line:\n1.") and len(asked) == 6
    for n, document in enumerate(asked[1:], 2):  # each request continues the list so far
        assert document == first + final.text.split(f"\n{n}.")[0][2:] + f"\n{n}."
    assert all(p.stop[-1] == "\n" for p in recorder.prompts)  # a heading ends at its line's end
    assert {s.max_new_tokens for s in recorder.settings} == {HEADING_TOKENS}
    assert final.result.texts == (final.text[2:],) and re.match(r"Outline · \d+ tokens", final.status)
    assert any(s.status.startswith("Outline · Heading 6/6 · Writing") for s in steps[:-1])


def test_a_repeated_heading_is_asked_for_once_more_with_the_next_seed(backend):
    recorder = Recorder(backend)
    settings = GenerationSettings(max_new_tokens=200, seed=4, temperature=0.0)  # greedy: repeats
    final = list(outline_steps(recorder, settings, "Urban beekeeping", length_words=900))[-1]
    lines = [line.split(". ", 1)[1] for line in final.text.split("\n")]
    assert len(lines) == 6 and len(set(lines)) < 6  # a second try repeats too: the heading is kept
    assert len(recorder.prompts) > 6 and recorder.prompts[1] == recorder.prompts[2]
    assert reseeded(settings, 1).seed == 5 and reseeded(GenerationSettings(seed=2**31 - 1), 1).seed == 0
    assert reseeded(GenerationSettings(seed=-1), 1).seed == -1


def test_joined_result_sums_the_requests_of_one_outline():
    one = GenerationResult(("a",), "eos", 40, 5, 0.2, 10.0, seed=3, notices=("n",))
    two = GenerationResult(("b",), "length", 45, 15, 0.1, 5.0, seed=3, notices=("n", "m"))
    total = joined_result([one, two], "a\n2. b")
    assert total.texts == ("a\n2. b",) and total.finish_reason == "length"
    assert (total.prompt_tokens, total.generated_tokens, total.time_to_first_token_s) == (40, 20, 0.2)
    assert total.tokens_per_s == pytest.approx(20 / 3.5) and total.notices == ("n", "m")


def test_article_without_outline_drafts_one_and_writes_it(backend):
    recorder = Recorder(backend)
    brief = {"keywords": "honey", "audience": "kids", "length_words": 300}
    steps = list(outline_then_article(recorder, SHORT, "Urban beekeeping", **brief))
    assert steps[-1].text.startswith("## ") and steps[-1].result is not None
    assert len(recorder.prompts) >= 2  # the outline, then at least one section
    # the outline and every section see the brief (and no tone line: none was given)
    lines = "Topic: Urban beekeeping\nKeywords: honey\nAudience: kids\nLength: about 300 words\n\n"
    assert all(prompt.document.startswith(lines) for prompt in recorder.prompts)


# ---------------------------------------------------------------------------- few-shot


def test_stop_at_line_end_ends_the_output_at_its_first_line(backend):
    assert first_line("\n\n Council approves lanes \nMore text") == "Council approves lanes"
    assert first_line("\n\nCouncil approves") is None  # the line may still grow
    pairs = '[["hi", "Hello."], ["thx", "Thank you."]]'
    settings = GenerationSettings(max_new_tokens=60, temperature=2.0, top_k=0, top_p=1.0, seed=1)
    free = list(fewshot_from_spec(backend, settings, "bye", pairs))[-1]  # JSON examples: off unless asked
    assert "\n" in free.text.strip()  # this seed writes several lines
    one = list(fewshot_from_spec(backend, settings, "bye", pairs, stop_at_line_end=True))[-1]
    assert one.text == first_line(free.text) and one.result.finish_reason == "eos"
    assert examples_from_spec("Headline", "")[2].one_line is True  # on for the headline preset
    assert examples_from_spec("Formal rewrite", "")[2].one_line is True  # and for the rewrite of a message
    assert examples_from_spec("Product description", "")[2].one_line is False


INPUTS = {  # the few-shot tab's own examples
    "Formal rewrite": "yo, meeting moved to 3, pls tell the others",
    "Product description": "Ceramic coffee mug, 350 ml, dishwasher safe, matte blue",
    "Headline": "The town's only bakery reopened on Saturday after a fire closed it for a year.",
}


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_fit_the_bundled_models_window_at_default_settings(shipped_loaded, name):
    from nlg_assistant.generation import LocalBackend

    house = LocalBackend(shipped_loaded)
    assert house.info.context_window == 512
    preset = PRESETS[name]
    budget = prompt_budget(house, GenerationSettings())
    prompt = build_fewshot(preset.examples, INPUTS[name], preset.instruction, budget=budget, chat=False)
    assert prompt.notices == ()  # no example was left out
    assert prompt.document.count("### Output:") == len(preset.examples) + 1


def test_examples_from_rows_drops_blank_rows():
    rows = [["hi", "Hello."], ["", ""], [None, None], ["only input", ""], ["a", "b", "extra"]]
    assert examples_from_rows(rows) == [("hi", "Hello."), ("only input", ""), ("a", "b")]
    assert examples_from_rows(None) == []


def test_examples_from_rows_reads_the_tables_dataframe():
    import pandas as pd  # what gradio's Dataframe component sends

    table = pd.DataFrame([["hi", "Hello."], ["", ""], [3, "three"]], columns=["Input", "Output"])
    assert examples_from_rows(table) == [("hi", "Hello."), ("3", "three")]


def test_examples_from_spec_accepts_presets_and_json():
    name = next(iter(PRESETS))
    pairs, instruction, preset = examples_from_spec(name.upper(), "")
    assert pairs == list(PRESETS[name].examples) and instruction == PRESETS[name].instruction
    assert preset is PRESETS[name] and examples_from_spec("headline", "")[2] is PRESETS["Headline"]
    assert examples_from_spec('[["a", "b"]]', "")[2] is None  # JSON pairs: no preset
    assert examples_from_spec("", "Mine")[1] == "Mine"
    mixed = '[["a", "b"], {"input": "c", "output": "d"}]'
    assert examples_from_spec(mixed, "")[0] == [("a", "b"), ("c", "d")]
    for bad in ("nonsense", '{"a": 1}', '[["only one"]]'):
        with pytest.raises(PromptError):
            examples_from_spec(bad, "")


def test_first_line_is_the_first_complete_line():
    assert first_line("Title\nmore text\nand more") == "Title"


def test_bad_example_specs_are_refused_naming_the_example():
    choices = re.escape(", ".join(PRESETS))
    with pytest.raises(PromptError, match=f"^examples must be a preset name \\({choices}\\) or a JSON list"):
        examples_from_spec("nonsense", "")
    for spec in ('[["a", "b"], ["only one"]]', '[["a", "b"], {"in": "c"}]'):
        with pytest.raises(PromptError, match=r"^example 2 must be \[input, output\]"):
            examples_from_spec(spec, "")


def test_preset_rows_fill_the_table():
    name = next(iter(PRESETS))
    preset, shown = PRESETS[name], len(PRESETS[name].examples)
    instruction, rows = preset_rows(name)
    assert instruction == preset.instruction and len(rows) == 8
    assert rows[:shown] == [[source, target] for source, target in preset.examples]
    assert rows[shown:] == [["", ""]] * (8 - shown)
    unknown = f"^Unknown preset 'Limerick': choose one of {re.escape(', '.join(PRESETS))}\\.$"
    with pytest.raises(PromptError, match=unknown):
        preset_rows("Limerick")


def test_an_outline_without_usable_headings_gives_one_section_on_the_topic(backend):
    """A small model's drafted outline can be "1.]": the article must still be written."""
    steps = list(article_steps(backend, SHORT, "Urban beekeeping", "1.]\n2. ***"))
    assert steps[-1].text.startswith("## Urban beekeeping\n\n")
    assert "no usable heading" in steps[-1].status


# ---------------------------------------------------------------------------- defaults and forms


@pytest.fixture(scope="module")
def chat_backend(tiny_chat_model_dir):
    from nlg_assistant.generation import LocalBackend
    from nlg_assistant.models import load_model

    return LocalBackend(load_model(str(tiny_chat_model_dir), "cpu"), 64, timeout_s=60)


def test_story_without_memory_or_style_is_the_story_alone(backend):
    recorder = Recorder(backend)
    list(story_steps(recorder, SHORT, "Once upon a time"))
    assert recorder.prompts[0].document == "Once upon a time"


@pytest.fixture(scope="module")
def wide_backend(tmp_path_factory):
    """A tiny base model with a 1024-token window: the presets' examples fit it."""
    from tiny import make_tiny_model

    from nlg_assistant.generation import LocalBackend
    from nlg_assistant.models import load_model

    folder = make_tiny_model(tmp_path_factory.mktemp("wide"), window=1024)
    return LocalBackend(load_model(str(folder), "cpu"), 64, timeout_s=60)


def test_fewshot_from_spec_defaults_to_the_default_preset_and_keeps_the_instruction(wide_backend):
    backend, preset = wide_backend, PRESETS[DEFAULT_PRESET]
    recorder = Recorder(backend)
    list(fewshot_from_spec(recorder, SHORT, "bye"))
    budget = prompt_budget(backend, SHORT)
    expected = build_fewshot(preset.examples, "bye", preset.instruction, budget=budget, chat=False)
    assert recorder.prompts[0].document == expected.document
    pairs = '[["hi", "Hello."], ["thx", "Thank you."]]'
    list(fewshot_from_spec(recorder, SHORT, "bye", pairs, "Reply politely."))
    assert recorder.prompts[1].document == (
        "Reply politely.\n\n### Input:\nhi\n\n### Output:\nHello.\n\n"
        "### Input:\nthx\n\n### Output:\nThank you.\n\n### Input:\nbye\n\n### Output:\n"
    )


def test_stop_at_line_end_false_keeps_every_line_of_a_one_line_preset(wide_backend):
    backend = wide_backend
    settings = GenerationSettings(max_new_tokens=60, temperature=2.0, top_k=0, top_p=1.0, seed=1)
    preset = PRESETS["Headline"]
    free = list(fewshot_steps(backend, settings, preset.examples, "bye", preset.instruction))[-1]
    assert "\n" in free.text.strip()  # this seed writes several lines
    kept = list(fewshot_from_spec(backend, settings, "bye", "Headline", stop_at_line_end=False))[-1]
    assert kept.text == free.text


def test_fewshot_continue_keeps_the_prompts_notices(backend):
    pairs = [("hi", "Hello."), ("thx", "")]
    prompt = fewshot_prompt(backend, SHORT, pairs, "bye", "", "Good")
    assert prompt.notices == ("Example 2 was skipped: its input or its output is empty.",)
    assert prompt.document == "### Input:\nhi\n\n### Output:\nHello.\n\n### Input:\nbye\n\n### Output:\nGood"


def test_an_outline_without_usable_headings_says_so_in_full(backend):
    steps = list(article_steps(backend, SHORT, "Urban beekeeping", "1.]"))
    warning = "\n⚠ The outline has no usable heading, so the article is one section on the topic."
    assert steps[-1].status.endswith(warning) and steps[-1].status.count("⚠") == 1


def test_a_sections_budget_is_measured_on_the_brief_and_heading_alone(backend):
    """At a long target the section budget is the window left by the brief and heading (no article yet)."""
    recorder = Recorder(backend)
    list(article_steps(recorder, SHORT, "Urban beekeeping", "1. Hives", "honey", length_words=20000))
    least = build_section("Urban beekeeping", "1. Hives", 0, "", "honey", "", "", 20000)
    room = 256 - CHAT_MARGIN_TOKENS - backend.count_tokens(least.document) - 16
    assert room < max_new_tokens_limit(256)  # the window, not the target length, sets the budget
    assert [s.max_new_tokens for s in recorder.settings] == [room]


def test_keep_input_words_starts_on_for_the_rewrite_preset_on_base_models_only(chat_backend):
    """The copy guide was measured on a base model; an instruct model (chat template) rewrites from the
    instruction itself, so the preset leaves the guide off there unless the caller asks for it."""
    rewrite = PRESETS["Formal rewrite"]
    assert keeps_words(rewrite, chat=False) and not keeps_words(rewrite, chat=True)
    assert not keeps_words(PRESETS["Headline"], chat=False) and not keeps_words(None, chat=False)
    recorder = Recorder(chat_backend)
    list(fewshot_from_spec(recorder, SHORT, "c u", "Formal rewrite"))
    list(fewshot_from_spec(recorder, SHORT, "c u", "Formal rewrite", keep_input_words=True))
    assert [prompt.copy_source for prompt in recorder.prompts] == ["", "c u"]


def test_a_chat_models_outline_is_its_reply_alone(chat_backend):
    recorder = Recorder(chat_backend)
    steps = list(outline_steps(recorder, SHORT, "Urban beekeeping", length_words=900))
    assert recorder.prompts[0].messages[1]["content"] == (
        "Topic: Urban beekeeping\nLength: about 900 words\n\nWrite an outline with exactly 6 sections."
    )
    assert steps[-1].text == steps[-1].result.texts[0]  # no "1." opening the list: the chat form has none


def test_a_fresh_fewshot_answer_leaves_the_whole_budget_to_the_examples(backend):
    """No open answer takes no room: here the two newest examples fill the window to the last token."""
    pairs = [(f"hi {i} the fox", f"Hello {i} fox.") for i in range(8)]
    new_input = " ".join(["bye"] * 33)
    prompt = fewshot_prompt(backend, SHORT, pairs, new_input)
    assert prompt.document == (
        "### Input:\nhi 6 the fox\n\n### Output:\nHello 6 fox.\n\n"
        "### Input:\nhi 7 the fox\n\n### Output:\nHello 7 fox.\n\n"
        f"### Input:\n{new_input}\n\n### Output:\n"
    )
    assert backend.count_tokens(prompt.document) == prompt_budget(backend, SHORT).limit


def test_a_base_models_outline_budget_counts_the_document_form_only(backend):
    """A topic whose document prompt fits but whose (longer) chat form would not is accepted."""
    recorder = Recorder(backend)
    topic = " ".join(["bees"] * 40)
    steps = list(outline_steps(recorder, SHORT, topic))
    assert recorder.prompts[0].document == (
        f"Topic: {topic}\nLength: about 600 words\n\n"
        "Outline of the article in 4 sections, one numbered heading per line:\n1."
    )
    assert steps[-1].text.startswith("1.")


def test_examples_json_that_is_not_a_list_is_refused_with_the_whole_message():
    with pytest.raises(PromptError) as refused:
        examples_from_spec('{"input": "hi", "output": "Hello."}', "")
    assert str(refused.value) == "examples JSON must be a list of [input, output] pairs"


def test_an_article_is_one_draft_and_a_topic_without_letters_gets_the_heading_article(backend):
    recorder = Recorder(backend)
    settings = dataclasses.replace(SHORT, num_drafts=2)
    steps = list(article_steps(recorder, settings, "???", "1.]"))
    assert steps[-1].text.startswith("## Article\n\n")
    assert [s.num_drafts for s in recorder.settings] == [1]


def test_an_article_target_length_that_is_not_whole_is_refused_by_name(backend):
    with pytest.raises(PromptError) as refused:
        list(article_steps(backend, SHORT, "Bees", "1. Hives", length_words=600.5))
    assert str(refused.value) == "The target length must be a whole number (got 600.5)."


def test_a_chat_prompts_new_tokens_are_fitted_to_its_messages_joined_by_newlines(chat_backend):
    prompt = Prompt(document="", messages=({"role": "user", "content": "bees " * 10},) * 3)
    fitted = fit_new_tokens(chat_backend, GenerationSettings(max_new_tokens=160), prompt)
    joined = "\n".join(["bees " * 10] * 3)
    assert fitted.max_new_tokens == 256 - CHAT_MARGIN_TOKENS - chat_backend.count_tokens(joined)
