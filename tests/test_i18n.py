"""The UI's languages (`ui.i18n`): gr.I18n tables from the locales, the request's language, --lang."""

from __future__ import annotations

import re

import gradio as gr
import pytest
from gradio.context import LocalContext
from starlette.requests import Request

from nlg_assistant import ui
from nlg_assistant.config import AppConfig
from nlg_assistant.exports import ExportFolder
from nlg_assistant.locales import en, zh
from nlg_assistant.tasks import BY_NAME
from nlg_assistant.ui import api, i18n, output
from nlg_assistant.ui.serving import Serving


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    from nlg_assistant.generation import LocalBackend
    from nlg_assistant.models import load_model

    return LocalBackend(load_model(str(tiny_model_dir), "cpu"), 64, timeout_s=60)


@pytest.fixture(scope="module")
def demo(backend):
    return ui.build_ui(backend, AppConfig(engine="simple", max_new_tokens_cap=64))


def _request(**headers: str) -> gr.Request:
    """A real gradio request with these headers (as a handler sees it)."""
    raw = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return gr.Request(Request({"type": "http", "method": "POST", "path": "/", "headers": raw}))


@pytest.fixture
def asking():
    """Handle code as if a request with the given headers were being served."""

    def use(**headers: str) -> None:
        LocalContext.request.set(_request(**headers))

    yield use
    LocalContext.request.set(None)


def test_the_request_language_comes_from_the_switch_then_the_browser(asking):
    assert i18n.language() == "en"  # no request at all (a unit test, a script)
    asking(accept_language="zh-CN,zh;q=0.9")
    assert i18n.language() == "zh"
    asking(accept_language="zh-CN,zh;q=0.9", cookie="nlg-lang=en; other=1")
    assert i18n.language() == "en"  # the header switch wins over the browser
    asking(cookie="nlg-lang=zh")
    assert i18n.say("status.accepted") == "已接受。"
    asking(cookie='broken="')
    assert i18n.language() == "en"


def test_handlers_speak_the_requests_language(asking):
    asking(accept_language="zh-CN")
    span = {"start": 0, "end": 5, "text": "Hello"}
    assert output.span_line("Hello", span).startswith("上次生成：1 字")
    assert output._stopped_status("第 1/2 节（最多 9 个 token） · 正在写作…… 已写 3 个字符") == (
        "第 1/2 节（最多 9 个 token） · 结束：已停止（你按了停止）"
    )
    asking(accept_language="en-US")
    assert output._stopped_status("Writing… 3 characters so far") == "finish: stopped (you pressed Stop)"


def test_the_apps_i18n_tables_hold_every_fixed_string_in_both_languages(demo):
    tables = i18n.app_i18n(demo).translations_dict
    assert set(tables) == {"en", "zh"} and set(tables["en"]) == set(tables["zh"])
    assert set(tables["en"]) > {key for key, text in en.MESSAGES.items() if "{" not in text}
    for text in [*tables["en"].values(), *tables["zh"].values()]:
        # the browser formats these as ICU messages: a brace or a tag would break them
        assert not re.search(r"[{}<>]", text), text
    header = [text for text in tables["zh"].values() if text.startswith("# ✍️")]
    assert len(header) == 1 and re.search(r"模型 \*\*tiny\w*\*\*（基础模型）", header[0])
    assert any(
        text.endswith("此模型最多 64（窗口大小减去留给提示词的空间）。") for text in tables["zh"].values()
    )


def test_table_headers_are_english_with_chinese_page_css(demo):
    table = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "fewshot-table")
    assert table.headers == ["Example input", "Example output"]
    css = i18n.app_css(demo)
    assert ':root[lang^="zh"] #fewshot-table th[aria-colindex="1"] span::after { content: "示例输入";' in css
    assert '#story-examples th[aria-colindex="3"]::after { content: "风格说明";' in css


def test_the_switch_uses_gradios_own_locale_module():
    """The page script imports this file of gradio's front end for `changeLocale` (its name has a hash)."""
    from pathlib import Path

    core = Path(gr.__file__).parent / "templates" / "frontend" / "assets" / i18n.core_module()
    assert "changeLocale" in core.read_text(encoding="utf-8")
    assert i18n.core_module() in i18n.language_js()


def test_the_api_speaks_english_unless_the_app_runs_with_lang_zh(backend):
    for lang, said in (("en", "The story is empty"), ("zh", "故事是空的：写几句话")):
        story = api.endpoint(BY_NAME["story"], backend, Serving(64, 1000, ExportFolder(), lang))
        with pytest.raises(gr.Error, match=said):
            list(story("   "))
    story = api.endpoint(BY_NAME["story"], backend, Serving(64, 1000, ExportFolder(), "zh"))
    *_, (_text, status) = story("Once upon a time", max_new_tokens=3, seed=1)
    assert "个 token" in status and "结束：" in status and "tokens" not in status


def test_lang_flag_reaches_the_config_and_is_checked():
    import app

    assert app._config(app._parser().parse_args(["--lang", "zh"])).lang == "zh"
    assert app._config(app._parser().parse_args([])).lang == "en"
    with pytest.raises(ValueError, match="--lang must be en or zh"):
        AppConfig(lang="fr")
    assert set(zh.MESSAGES) == set(en.MESSAGES)
