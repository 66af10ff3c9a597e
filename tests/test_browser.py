"""The real app in headless Chromium (Playwright), on a tiny model with a long context window.

Also photographs each tab. With NLG_SCREENSHOT_MODEL set to a model folder, it takes the README
screenshots with that model, text generated in each tab, into assets/screenshots/:

    NLG_SCREENSHOT_MODEL=assets/models/storyteller python -m pytest tests/test_browser.py -k screenshots

Without it, the tiny test model is photographed into a temporary folder, so that running the
tests never rewrites the committed screenshots.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from appserver import REPO_ROOT, start_app
from pagekit import set_number as _set_setting
from pagekit import set_seed as _set_seed
from pagekit import status_line as _status

from nlg_assistant.document import char_count, word_count
from nlg_assistant.tasks.fewshot import DEFAULT_PRESET, preset_rows

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}
SCREENSHOTS = REPO_ROOT / "assets" / "screenshots"
TIMEOUT_MS = 30_000
LONG_SEED = 8  # with this seed the long-window tiny model writes ~400 tokens before its eos


@pytest.fixture(scope="module")
def long_tiny_model(tmp_path_factory) -> Path:
    """The tiny test model with a 4096-token window, so a generation runs long enough to Stop."""
    from tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny_long"), window=4096)


@pytest.fixture(scope="module")
def server(long_tiny_model, tmp_path_factory):
    log = tmp_path_factory.mktemp("browser") / "app.log"
    app = start_app(["--model", str(long_tiny_model), "--engine", "simple"], log)
    yield app
    app.stop()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server.url)
    page.locator("#story-generate").wait_for()
    yield page
    context.close()


def _output(page, tab: str):
    """The tab's document box (the story itself, the article, the few-shot output)."""
    return page.locator(f"#{tab}-document textarea")


def _wait_for_status(page, tab: str, *needles: str, timeout_s: float = 30) -> str:
    """Poll the tab's status line until it contains one of `needles`; returns it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = _status(page, tab)
        if any(needle in status for needle in needles):
            return status
        if status.startswith("⚠") and "⚠" not in needles:
            raise AssertionError(f"the app reported an error: {status!r}")
        page.wait_for_timeout(100)
    raise AssertionError(f"status never showed {needles}: {_status(page, tab)!r}")


def _settled_output(page, tab: str, quiet_ms: int = 600) -> str:
    """The output box's value once it has stopped changing for `quiet_ms` (it may render late)."""
    value, quiet = _output(page, tab).input_value(), 0
    while quiet < quiet_ms:
        page.wait_for_timeout(100)
        latest = _output(page, tab).input_value()
        value, quiet = latest, quiet + 100 if latest == value else 0
    return value


def _lengths_while_streaming(page, tab: str, count: int = 3) -> list[int]:
    """Output lengths seen at `count` distinct moments while text arrives."""
    seen: list[int] = []
    deadline = time.monotonic() + 30
    while len(seen) < count and time.monotonic() < deadline:
        length = len(_output(page, tab).input_value())
        if length and (not seen or length > seen[-1]):
            seen.append(length)
        page.wait_for_timeout(50)
    return seen


def test_story_streams_stops_and_undoes(page):
    _output(page, "story").fill("Once upon a time there was a little fox")
    _set_setting(page, "Max new tokens", 1024)
    _set_seed(page, LONG_SEED)
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.locator("#story-generate").click()
    grew = _lengths_while_streaming(page, "story", count=4)
    assert len(grew) == 4, grew  # the text grew while streaming
    # The stream's updates send nothing back to the server (autosave and counts wait for the tab
    # to settle, settle.py): the page's only request is the generation's own.
    assert [url for url in posts if "/queue/join" not in url] == [], posts
    page.locator("#story-stop").click()
    status = _wait_for_status(page, "story", "finish:")
    assert "finish: stopped" in status or "finish: eos" in status
    page.wait_for_timeout(700)  # updates already on their way may still land
    settled = _output(page, "story").input_value()
    page.wait_for_timeout(1000)
    assert _output(page, "story").input_value() == settled  # nothing more after Stop
    counts = f"{word_count(settled):,} words · {char_count(settled):,} characters"
    page.locator("#story-counts").get_by_text(counts).wait_for()  # counted once the stream ended
    page.reload()  # saved once the stream ended, although the autosave skips a stream's updates
    _wait_value(page, "#story-document textarea", settled)
    page.locator("#story-undo").click()
    back = "Once upon a time there was a little fox"
    page.wait_for_function("(t) => document.querySelector('#story-document textarea').value === t", arg=back)


def test_stop_with_nothing_running_is_harmless_and_generation_still_works(page):
    page.locator("#story-stop").click()
    page.locator("#story-stop").click()
    _output(page, "story").fill("The princess walked to the castle")
    _set_setting(page, "Max new tokens", 8)
    page.locator("#story-generate").click()
    assert "finish:" in _wait_for_status(page, "story", "finish: eos", "finish: length")
    assert _output(page, "story").input_value()


def test_empty_prompt_warns_and_keeps_the_users_text(page):
    page.locator("#story-memory textarea").fill("My own notes stay.")
    _output(page, "story").fill("   ")
    page.locator("#story-generate").click()
    page.get_by_text("The story is empty").first.wait_for()
    assert _wait_for_status(page, "story", "⚠").startswith("⚠")
    assert _output(page, "story").input_value() == "   "
    assert page.locator("#story-memory textarea").input_value() == "My own notes stay."


def test_out_of_range_values_are_named_at_their_field_and_keep_the_text(page):
    """Typed -3 once ran greedy silently; an out-of-range seed covered the output with an "Error" badge."""
    _output(page, "story").fill("My own words stay.")
    _set_setting(page, "Temperature", -3)
    page.locator('input[aria-label="number input for Temperature"]').blur()
    temperature = page.locator("#setting-temperature")
    temperature.get_by_text("temperature must be between 0.0 and 2.0 (got -3); it is set to 0").wait_for()
    assert page.locator('input[aria-label="number input for Temperature"]').input_value() == "0"
    _set_seed(page, 2**31)
    page.locator("#story-generate").click()
    page.locator("#setting-seed").get_by_text("seed must be between -1 and 2147483647").wait_for()
    page.wait_for_timeout(1000)
    assert _status(page, "story") == "Ready."  # nothing ran
    assert _output(page, "story").input_value() == "My own words stay."
    assert page.get_by_text("Error", exact=True).count() == 0


def test_continue_extends_the_edited_document(page):
    _output(page, "story").fill("Once upon a time there was a fox")
    _set_setting(page, "Max new tokens", 10)
    page.locator("#story-continue").click()
    _wait_for_status(page, "story", "finish: eos", "finish: length")
    text, mine = _output(page, "story").input_value(), "Once upon a time there was a fox"
    assert text.startswith(mine) and len(text) > len(mine)
    page.locator("#story-span").get_by_text("Regenerate replaces it").wait_for()  # the span is marked
    _output(page, "story").press("End")
    _output(page, "story").type("!")  # an edit accepts it
    page.wait_for_function("!document.querySelector('#story-span').innerText.includes('Regenerate')")


def _run_and_wait(page, button: str, needle: str) -> str:
    """Click a story button and wait for a new status line containing `needle`; returns the output."""
    before = _status(page, "story")
    page.locator(f"#story-{button}").click()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = _status(page, "story")
        if status != before and needle in status:
            return _settled_output(page, "story")
        page.wait_for_timeout(100)
    raise AssertionError(f"no new status with {needle!r} after {button}: {_status(page, 'story')!r}")


def test_regenerate_with_a_fixed_seed_repeats_the_last_request(page):
    _output(page, "story").fill("Once upon a time")
    _set_setting(page, "Max new tokens", 10)
    _set_seed(page, 3)
    first = _run_and_wait(page, "generate", "seed 3")
    continued = _run_and_wait(page, "continue", "seed 3")
    assert continued.startswith(first) and len(continued) > len(first)
    same = "(t) => document.querySelector('#story-document textarea').value === t"
    _run_and_wait(page, "regenerate", "seed 3")
    page.wait_for_function(same, arg=continued, timeout=10_000)  # the Continue again, same seed
    page.locator("#story-undo").click()  # back to the text before Regenerate
    page.wait_for_function(same, arg=continued)
    page.locator("#story-undo").click()  # and to the text before Continue
    page.wait_for_function(same, arg=first)


def test_article_outline_then_sections(page):
    page.get_by_role("tab", name="Topic → Article").click()
    page.locator("#article-topic textarea, #article-topic input").first.fill("Urban beekeeping")
    _set_setting(page, "Max new tokens", 12)
    page.locator("#article-outline-button").click()
    _wait_for_status(page, "article", "Outline · 12 tokens", "finish: eos", "finish: length")
    assert page.locator("#article-outline textarea").input_value()
    page.locator("#article-outline textarea").fill("1. Hives\n2. Honey")
    _set_setting(page, "Target length (words)", 50)  # sections of 25 words' worth of tokens each
    page.locator("#article-generate").click()
    # the last line comes when every section is done (a section may end early on eos, unseeded)
    status = _wait_for_status(page, "article", "Article: 2 sections")
    assert "Section 2/2 (up to " in status and "finish:" in status
    article = _output(page, "article").input_value()
    assert article.startswith("## Hives\n\n") and "\n\n## Honey\n\n" in article


def _fresh_page(browser, url: str):
    """A page in a context of its own (a second tab of the same visitor: same address)."""
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.locator("#story-generate").wait_for()
    return page


def test_one_visitor_over_the_cap_is_told_why_and_keeps_the_text(browser, long_tiny_model, tmp_path):
    args = ["--model", str(long_tiny_model), "--engine", "simple", "--max-per-visitor", "1"]
    app = start_app(args, tmp_path / "app.log")
    first, second = _fresh_page(browser, app.url), _fresh_page(browser, app.url)
    try:
        _output(first, "story").fill("Once upon a time there was a little fox")
        _set_setting(first, "Max new tokens", 1024)
        _set_seed(first, LONG_SEED)
        first.locator("#story-generate").click()
        assert len(_lengths_while_streaming(first, "story", count=2)) == 2  # the first is running
        _output(second, "story").fill("My own story stays.")
        second.locator("#story-generate").click()
        toast = second.locator(".toast-body").filter(has_text="You already have 1 request running")
        toast.wait_for()  # our reason (HTTP 429), not gradio's generic "busy" text
        assert "press Stop" in toast.inner_text()
        assert _output(second, "story").input_value() == "My own story stays."
        first.locator("#story-stop").click()
        _wait_for_status(first, "story", "finish:")
        _set_setting(second, "Max new tokens", 8)
        second.locator("#story-generate").click()  # the slot is free again
        assert "finish:" in _wait_for_status(second, "story", "finish: eos", "finish: length")
        assert _output(second, "story").input_value().startswith("My own story stays.")
    finally:
        first.context.close()
        second.context.close()
        app.stop()


# ---------------------------------------------------------------------------- the writer's desk


def _value(page, selector: str) -> str:
    return page.locator(selector).first.input_value()


def _wait_value(page, selector: str, value: str) -> None:
    """Wait until the box at `selector` holds `value` (updates land asynchronously)."""
    script = "([s, v]) => document.querySelector(s)?.value === v"
    page.wait_for_function(script, arg=[selector, value])


def _story_fields(page) -> tuple[str, str, str]:
    return tuple(_value(page, f"#story-{name} textarea") for name in ("document", "memory", "style"))


def _wait_saved(page, tab: str, words_in: str) -> None:
    page.locator(f"#{tab}-saved").get_by_text(f"Saved in this browser · {words_in} words").wait_for()


def test_reload_and_a_new_browser_bring_back_text_settings_and_undo(browser, server):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server.url)
    _output(page, "story").fill("Once upon a time")
    page.locator("#story-memory textarea").fill("Pip, a fox.")
    page.locator("#story-style textarea").fill("Warm")
    _set_setting(page, "Max new tokens", 9)
    _run_and_wait(page, "generate", "finish:")
    page.get_by_role("tab", name="Few-shot style").click()
    page.locator("#fewshot-input textarea").fill("hey, running late")
    page.get_by_label("Instruction").fill("Rewrite it politely.")
    page.get_by_role("tab", name="Story continuation").click()
    edited = _output(page, "story").input_value() + " The end."
    _output(page, "story").fill(edited)
    page.wait_for_timeout(800)  # autosave is one quick round trip after each change
    page.reload()
    _wait_value(page, "#story-document textarea", edited)
    assert _story_fields(page) == (edited, "Pip, a fox.", "Warm")
    assert _value(page, 'input[aria-label="number input for Max new tokens"]') == "9"
    page.locator("#story-saved").get_by_text("Saved in this browser").wait_for()
    page.get_by_role("tab", name="Few-shot style").click()
    assert _value(page, "#fewshot-input textarea") == "hey, running late"
    assert page.get_by_label("Instruction").input_value() == "Rewrite it politely."
    first_example = preset_rows(DEFAULT_PRESET)[1][0][0]
    assert page.locator("#fewshot-table").get_by_text(first_example).count()  # the table came back whole
    state = context.storage_state()
    context.close()
    again = browser.new_context(viewport=VIEWPORT, storage_state=state)  # a browser restart
    page = again.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server.url)
    _wait_value(page, "#story-document textarea", edited)
    assert _value(page, 'input[aria-label="number input for Max new tokens"]') == "9"
    page.locator("#story-undo").click()  # the history came back too
    _wait_value(page, "#story-document textarea", "Once upon a time")
    page.locator("#story-redo").click()
    _wait_value(page, "#story-document textarea", edited)
    again.close()


def _article_state(page) -> tuple[str, str]:
    return _value(page, "#article-outline textarea"), _value(page, "#article-document textarea")


def _article_step(page, button: str, needle: str = "finish:") -> None:
    before = _status(page, "article")
    page.locator(f"#{button}").click()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = _status(page, "article")
        if status != before and needle in status and "Writing" not in status:
            page.wait_for_timeout(500)
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"{button} never finished: {_status(page, 'article')!r}")


def test_undo_and_redo_walk_five_steps_including_an_outline_overwrite(page):
    page.get_by_role("tab", name="Topic → Article").click()
    page.locator("#article-topic textarea, #article-topic input").first.fill("Urban beekeeping")
    _set_setting(page, "Max new tokens", 12)
    _set_setting(page, "Target length (words)", 50)
    page.locator("#article-outline textarea").fill("1. My own plan")
    states = [_article_state(page)]
    for button, needle in (
        ("article-outline-button", "finish:"),  # overwrites the hand-written outline
        ("article-generate", "Article:"),
        ("article-outline-button", "finish:"),
        ("article-continue", "finish:"),
        ("article-reject", "Last generation"),  # removes what Continue wrote
    ):
        if button == "article-reject":
            page.locator("#article-span").get_by_text(needle).wait_for()
            page.locator(f"#{button}").click()
            page.wait_for_function("!document.querySelector('#article-span').innerText.includes('Last')")
            page.wait_for_timeout(300)
        else:
            _article_step(page, button, needle)
        states.append(_article_state(page))
    assert states[1][0] != states[0][0] and states[4][1] != states[3][1]
    for expected in reversed(states[:-1]):
        page.locator("#article-undo").click()
        _wait_value(page, "#article-outline textarea", expected[0])
        _wait_value(page, "#article-document textarea", expected[1])
    for expected in states[1:]:
        page.locator("#article-redo").click()
        _wait_value(page, "#article-outline textarea", expected[0])
        _wait_value(page, "#article-document textarea", expected[1])


ARTICLE_FIELDS = {
    "#article-topic": "Urban beekeeping",
    "#article-outline": '1. Hives\n2. Honey: "sweet"',
    "#article-document": "## Hives\n\nBees live here.\n\n---\n\nThe end 🐝",
}


def test_a_preset_sets_the_fewshot_options_and_the_writers_choice_survives_a_reload(page):
    """Formal rewrite keeps the input's words, Headline does not; an unticked box comes back unticked."""
    page.get_by_role("tab", name="Few-shot style").click()
    keep, one_line = page.locator("#fewshot-keep-words input"), page.locator("#fewshot-one-line input")
    assert keep.is_checked() and one_line.is_checked()  # the default preset: Formal rewrite
    page.locator("#fewshot-examples [data-testid='dataset-cell-2-0']").click()  # the Headline example
    page.wait_for_function("() => !document.querySelector('#fewshot-keep-words input').checked")
    assert one_line.is_checked()
    page.locator("#fewshot-examples [data-testid='dataset-cell-0-0']").click()  # the Formal rewrite one
    page.wait_for_function("() => document.querySelector('#fewshot-keep-words input').checked")
    keep.uncheck()
    page.wait_for_timeout(800)  # autosave is one quick round trip after each change
    page.reload()
    page.get_by_role("tab", name="Few-shot style").click()
    page.locator("#fewshot-saved").get_by_text("Saved in this browser").wait_for()
    assert not page.locator("#fewshot-keep-words input").is_checked()


def test_save_then_open_round_trips_every_field(page):
    page.get_by_role("tab", name="Topic → Article").click()
    for selector, value in ARTICLE_FIELDS.items():
        page.locator(f"{selector} textarea, {selector} input").first.fill(value)
    brief = {"Keywords": "hives, honey", "Audience": "city dwellers", "Tone": "friendly"}
    for label, value in brief.items():
        page.get_by_label(label, exact=True).fill(value)
    _set_setting(page, "Target length (words)", 450)
    page.locator("#article-save").click()
    link = page.locator('#article-file a[download="article.md"]')
    link.wait_for()
    saved = page.request.get(link.get_attribute("href")).body()
    assert saved.decode().startswith("---\nnlg-assistant: article\n")
    page.once("dialog", lambda dialog: dialog.dismiss())  # New asks first: "no" keeps everything
    page.locator("#article-new").click()
    page.wait_for_timeout(500)
    assert _value(page, "#article-document textarea") == ARTICLE_FIELDS["#article-document"]
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#article-new").click()
    _wait_value(page, "#article-document textarea", "")
    assert page.get_by_label("Tone", exact=True).input_value() == ""
    with page.expect_file_chooser() as chooser:
        page.locator("#article-open").click()
    chooser.value.set_files(files=[{"name": "article.md", "mimeType": "text/markdown", "buffer": saved}])
    _wait_value(page, "#article-document textarea", ARTICLE_FIELDS["#article-document"])
    for selector, value in ARTICLE_FIELDS.items():
        assert _value(page, f"{selector} textarea, {selector} input") == value
    for label, value in brief.items():
        assert page.get_by_label(label, exact=True).input_value() == value
    assert _value(page, 'input[aria-label="number input for Target length (words)"]') == "450"


def test_a_binary_or_huge_upload_is_refused_and_nothing_is_lost(page):
    _output(page, "story").fill("My story stays.")
    with page.expect_file_chooser() as chooser:
        page.locator("#story-open").click()
    chooser.value.set_files(files=[{"name": "x.txt", "mimeType": "text/plain", "buffer": b"\x00\x01bin"}])
    assert "not text" in _wait_for_status(page, "story", "⚠")
    assert _output(page, "story").input_value() == "My story stays."


def test_three_drafts_appear_as_cards_and_one_is_taken(page):
    _output(page, "story").fill("Once upon a time")
    _set_setting(page, "Max new tokens", 8)
    _set_setting(page, "Drafts", 3)
    _run_and_wait(page, "generate", "finish:")
    cards = [page.locator(f"#story-use-{n}") for n in (1, 2, 3, 4)]
    for card in cards[:3]:
        card.wait_for()
    assert not cards[3].is_visible()
    first = _output(page, "story").input_value()
    texts = page.locator("#story-cards textarea")
    second = texts.nth(1).input_value()
    assert second.startswith("Once upon a time") and texts.nth(0).input_value() == first
    cards[1].click()
    _wait_value(page, "#story-document textarea", second)
    page.locator("#story-undo").click()  # taking a draft is one Undo step
    _wait_value(page, "#story-document textarea", first)


def test_phone_screen_shows_every_tab_and_the_actions_above_the_examples(browser, server, tmp_path):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server.url)
    page.locator("#story-generate").wait_for()
    page.screenshot(path=str(tmp_path / "phone.png"))
    for name in ("Story continuation", "Topic → Article", "Few-shot style"):
        tab = page.get_by_role("tab", name=name)
        assert tab.is_visible(), name
        box = tab.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (name, box)
    generate = page.locator("#story-generate").bounding_box()
    examples = page.locator("#story-examples").bounding_box()
    assert generate["y"] + generate["height"] < examples["y"]
    context.close()


# ---------------------------------------------------------------------------- screenshots


def _screenshot_server(request, server, tmp_path_factory):
    """The server to photograph: NLG_SCREENSHOT_MODEL's model if set, else the test server."""
    model = os.environ.get("NLG_SCREENSHOT_MODEL")
    if not model:
        return server, False
    app = start_app(["--model", model], tmp_path_factory.mktemp("shots") / "app.log", timeout_s=600)
    request.addfinalizer(app.stop)
    return app, True


def _fill_and_maybe_generate(page, tab: str, generate: bool) -> None:
    """Fill the tab from its first example; with a real model, also write the output."""
    page.locator(f"#{tab}-examples [data-testid='dataset-cell-0-0']").click()
    page.wait_for_timeout(800)  # the example values (and, for few-shot, the preset's table) arrive
    if tab == "article" and generate:
        page.locator("#article-outline-button").click()
        _wait_for_status(page, tab, "finish:", timeout_s=300)
    if generate:
        page.locator(f"#{tab}-generate").click()
        _wait_for_status(page, tab, "finish:", timeout_s=600)
        written = word_count(_settled_output(page, tab))  # the counts line follows once the tab settles
        page.locator(f"#{tab}-counts").get_by_text(f"{written:,} words ·").wait_for()
    page.evaluate("window.scrollTo(0, 0)")
    if tab == "fewshot":  # the answer is below the preset: show the examples, the input and the answer
        top = page.locator("#fewshot-table").bounding_box()["y"]
        page.evaluate(f"window.scrollTo(0, {top - 34})")


def test_screenshots_of_each_tab(browser, server, request, tmp_path_factory):
    app, generate = _screenshot_server(request, server, tmp_path_factory)
    folder = SCREENSHOTS if generate else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app.url)
    for tab, name in (("story", None), ("article", "Topic → Article"), ("fewshot", "Few-shot style")):
        if name:
            page.get_by_role("tab", name=name).click()
        _fill_and_maybe_generate(page, tab, generate)
        path = folder / f"{tab}.png"
        page.screenshot(path=str(path))
        assert path.stat().st_size > 10_000
    context.close()
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    page.goto(app.url)
    page.locator("#story-generate").wait_for()
    page.screenshot(path=str(folder / "phone.png"))  # the desk as a phone shows it first
    assert (folder / "phone.png").stat().st_size > 10_000
    phone.close()
