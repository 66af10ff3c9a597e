"""The interface languages: both tables complete and alike, and the task layer's lines in Chinese."""

from __future__ import annotations

import pytest

from nlg_assistant import locales
from nlg_assistant.backend import GenerationResult
from nlg_assistant.config import SETTINGS, GenerationSettings, SettingsError
from nlg_assistant.document import DocumentError, decode_upload, from_markdown
from nlg_assistant.locales import en, zh
from nlg_assistant.prompts import PRESETS, PromptError
from nlg_assistant.prompts.story import build_story


def test_both_languages_have_every_key():
    assert set(zh.MESSAGES) - set(en.MESSAGES) == set(), "keys only in zh.py"
    assert set(en.MESSAGES) - set(zh.MESSAGES) == set(), "keys missing from zh.py"


@pytest.mark.parametrize("key", sorted(en.MESSAGES))
def test_both_languages_format_the_same_placeholders(key):
    assert locales.placeholders(en.MESSAGES[key]) == locales.placeholders(zh.MESSAGES[key])
    assert zh.MESSAGES[key].strip(), "an empty translation"


def test_every_setting_and_preset_has_a_label_in_both_languages():
    for language in locales.LANGUAGES:
        table = locales.MESSAGES[language]
        assert all(f"setting.{s.name}" in table and f"setting.{s.name}.help" in table for s in SETTINGS)
        assert all(f"preset.{name}" in table for name in PRESETS)
    assert en.MESSAGES["setting.top_p.help"] == next(s.help for s in SETTINGS if s.name == "top_p")


def test_language_tags_and_accept_language_headers():
    assert [locales.normalize(tag) for tag in ("zh-CN", "zh_Hans", "ZH", "en-US", "fr", None)] == [
        "zh", "zh", "zh", "en", "en", "en",
    ]  # fmt: skip
    assert locales.preferred("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert locales.preferred("fr-FR, en;q=0.5, zh;q=0.7") == "zh"  # by weight, not by order
    assert locales.preferred("fr, de") is None and locales.preferred("") is None


def test_a_status_line_reads_in_chinese_part_by_part():
    result = GenerationResult(
        texts=("x",), prompt_tokens=12, generated_tokens=40, time_to_first_token_s=0.05,
        tokens_per_s=12.34, finish_reason="length", seed=7, dropped_prompt_tokens=3,
    )  # fmt: skip
    line = "Section 2/3 (up to 150 tokens) · " + result.status_line()
    assert locales.translate("zh", line) == (
        "第 2/3 节（最多 150 个 token） · 40 个 token · 12.3 token/秒 · 首个 token 50 毫秒 · "
        "提示词 12 个 token · 结束：达到长度上限 · 种子 7\n⚠ 提示词太长：开头的 3 个 token 被省略了"
    )
    assert locales.translate("en", line) == line


def test_the_task_layers_errors_read_in_chinese():
    with pytest.raises(SettingsError) as bad_setting:
        GenerationSettings(top_p=1.5)
    assert locales.translate("zh", str(bad_setting.value)) == "Top-p 必须在 0.0 到 1.0 之间（输入的是 1.5）"
    with pytest.raises(PromptError) as empty:
        build_story("   ")
    assert locales.translate("zh", str(empty.value)) == "故事是空的：写几句话，让模型接着写。"


def test_an_outlines_status_and_the_file_checks_read_in_chinese():
    line = "Outline · Heading 2/6 · Writing… 14 characters so far"
    assert locales.translate("zh", line) == "提纲 · 第 2/6 个标题 · 正在写作…… 已写 14 个字符"
    refused = []
    for data, limit in [(b"x" * 20, 10), (b"\x00bin", 10), (b"\xff\xfe\xfa", 10)]:
        with pytest.raises(DocumentError) as error:
            decode_upload(data, limit)
        refused.append(locales.translate("zh", str(error.value)))
    assert refused == [
        "文件大小为 20 字节；最多只能打开 10 字节的文件",
        "该文件不是文本（含有二进制数据）；请打开 .md 或 .txt 文件",
        "该文件不是 UTF-8 文本；请另存为 UTF-8 后再打开",
    ]
    for text in ["---\nbad line\n---\nx", '---\ntopic: "unclosed\n---\nx', "---\ntopic: 'a'\n"]:
        with pytest.raises(DocumentError) as error:
            from_markdown(text, ("story", "topic"), "story")
        assert locales.translate("zh", str(error.value)).startswith("文件头信息"), str(error.value)


@pytest.mark.parametrize(
    ("show_host", "expected"),
    [(False, "无法连接模型服务器——它在运行吗？"), (True, "无法连接位于 {url} 的模型服务器——它在运行吗？")],
)
def test_a_remote_servers_errors_read_in_chinese(show_host, expected):
    from appserver import free_port

    from nlg_assistant.backend import GenerationError, Prompt
    from nlg_assistant.config import AppConfig
    from nlg_assistant.remote import OpenAIBackend

    url = f"http://127.0.0.1:{free_port()}/v1"
    config = AppConfig(backend="openai", base_url=url, model="m", show_backend_host=show_host)
    with pytest.raises(GenerationError) as caught:  # nothing listens there: a real connection error
        OpenAIBackend.from_config(config).start(Prompt(document="Hi"), GenerationSettings())
    assert locales.translate("zh", str(caught.value)) == expected.format(url=url)
    busy = f"the model server at {url} is busy (503): Service Unavailable"  # a URL is one word
    assert locales.translate("zh", busy) == f"位于 {url} 的模型服务器正忙（503）：Service Unavailable"


def test_a_line_no_template_knows_stays_as_it_is():
    assert locales.translate("zh", "the server said no") == "the server said no"
    assert locales.translate("zh", "") == ""


def test_messages_format_in_the_asked_language_and_fall_back_to_english():
    assert locales.message("zh", "status.undo", undos=2, redos=1) == "撤销：还可撤销 2 步，可重做 1 步。"
    assert locales.message("fr", "status.undo", undos=2, redos=1) == "Undo: 2 step(s) to undo, 1 to redo."
