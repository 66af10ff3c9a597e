"""The Chinese interface in the real app, in headless Chromium with a Chinese browser (`locale="zh-CN"`).

Also photographs it for the README: with NLG_SCREENSHOT_MODEL set to a model folder, the story tab
(its first example, text generated) is saved as assets/screenshots/zh.png, as test_browser's are:

    NLG_SCREENSHOT_MODEL=assets/models/storyteller python -m pytest tests/test_browser_i18n.py -k screenshot

Without it, the tiny test model is photographed into a temporary folder.
"""

from __future__ import annotations

import pytest
import test_browser
from test_browser import (
    SCREENSHOTS,
    TIMEOUT_MS,
    VIEWPORT,
    _output,
    _screenshot_server,
    _status,
    _wait_for_status,
)

pytestmark = pytest.mark.browser
# the same fixtures as test_browser: the app on the long-window tiny model (simple engine), Chromium
long_tiny_model, server, browser = test_browser.long_tiny_model, test_browser.server, test_browser.browser
TABS = {"story": "故事续写", "article": "主题 → 文章", "fewshot": "少样本仿写"}


def _chinese_page(browser, url: str):
    """A fresh Chinese-speaking browser (its own storage) on the app; returns (context, page)."""
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.locator("#story-generate").wait_for()
    return context, page


def _header_cell(page, table: str, column: int) -> str:
    """What a table's column header shows (the Chinese one is drawn by page CSS, see ui.i18n.headers)."""
    return page.evaluate(
        """([table, column]) => {
          const cell = document.querySelector(`#${table} th[aria-colindex="${column}"]`);
          const text = cell.querySelector("span") || cell;
          const after = getComputedStyle(text, "::after").content;
          return after && after !== "none" ? JSON.parse(after) : text.textContent.trim();
        }""",
        [table, column],
    )


def _expect_text(page, selector: str, text: str) -> None:
    page.locator(selector).get_by_text(text, exact=True).first.wait_for()


def test_a_chinese_browser_gets_chinese_on_every_tab_and_the_switch_goes_to_english_and_back(browser, server):
    context, page = _chinese_page(browser, server.url)
    _expect_text(page, "#story-generate", "生成")
    page.get_by_text("故事（在这里续写；可随处编辑）").wait_for()
    assert "上下文窗口" in page.locator("#app-header").inner_text()
    assert page.locator("#language-switch").inner_text() == "English"
    assert _header_cell(page, "story-examples", 1) == "故事"
    page.get_by_text("生成设置").wait_for()
    page.get_by_role("tab", name=TABS["article"]).click()
    _expect_text(page, "#article-outline-button", "起草大纲")
    page.get_by_text("文章（可编辑的 Markdown）").wait_for()
    assert page.locator("#article-generate").inner_text() == "撰写文章"
    page.get_by_role("tab", name=TABS["fewshot"]).click()
    page.get_by_text("输出（即文档：可编辑）").wait_for()
    assert _header_cell(page, "fewshot-table", 1) == "示例输入"
    assert _header_cell(page, "fewshot-examples", 2) == "新输入"

    page.locator("#language-switch").click()
    page.get_by_role("tab", name="Few-shot style").wait_for()
    page.get_by_text("Output (the document: editable)").wait_for()
    assert _header_cell(page, "fewshot-table", 1) == "Example input"
    assert page.locator("#language-switch").inner_text() == "中文"
    page.reload()  # the choice is kept in this browser
    page.get_by_role("tab", name="Story continuation").wait_for()
    page.locator("#language-switch").click()
    page.get_by_role("tab", name=TABS["story"]).wait_for()
    context.close()


def test_status_lines_and_warnings_are_chinese_too(browser, server):
    context, page = _chinese_page(browser, server.url)
    page.locator("#story-generate").click()  # nothing to continue yet
    warning = _wait_for_status(page, "story", "⚠")
    assert "故事是空的" in warning
    _output(page, "story").fill("从前有一只小狐狸。")
    page.locator("#story-generate").click()
    while _status(page, "story") == warning:  # the click's first update has not arrived yet
        page.wait_for_timeout(100)
    status = _wait_for_status(page, "story", "结束：")
    assert "个 token" in status and "tokens" not in status
    page.locator("#story-saved").get_by_text("字").wait_for()  # saved once the tab settles
    page.locator("#story-undo").click()
    assert "撤销：" in _wait_for_status(page, "story", "撤销：")
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.locator("#story-new").click()
    page.wait_for_function("() => true")  # the dialog was answered before click() returned
    assert asked and asked[0].startswith("新建文档？") and _output(page, "story").input_value()
    context.close()


def test_screenshot_of_the_chinese_interface(browser, server, request, tmp_path_factory):
    app, generate = _screenshot_server(request, server, tmp_path_factory)
    folder = SCREENSHOTS if generate else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    context, page = _chinese_page(browser, app.url)
    # the story tab's first example: the bundled model writes English (the interface is what is shown)
    page.locator("#story-examples [data-testid='dataset-cell-0-0']").click()
    page.wait_for_timeout(800)
    if generate:
        page.locator("#story-generate").click()
        _wait_for_status(page, "story", "结束：", timeout_s=600)
    page.evaluate("window.scrollTo(0, 0)")
    path = folder / "zh.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000
    context.close()
