"""The interface languages (pure Python): English and Simplified Chinese, one module per language.

`en.MESSAGES` and `zh.MESSAGES` hold every string of the web UI under the same keys. The web UI
hands the fixed ones to gradio's `gr.I18n` (`ui.i18n`); strings with numbers in them are formatted
here (`message`). The task layer writes English (its status lines, its errors); `translate` reads
such a line back with the `task.*` templates and writes it in the asked language, so the UI, the
API (`--lang zh`) and the CLI (`--lang zh`) share one translation of it. A line no template knows
stays English.

>>> message("zh", "desk.draft", number=2)
'草稿 2'
>>> translate("zh", "12 tokens · 3.5 tok/s")
'12 个 token · 3.5 token/秒'
"""

from __future__ import annotations

import functools
import re
import string

from ..config import LANGUAGES
from . import en, zh

DEFAULT_LANGUAGE = "en"
MESSAGES: dict[str, dict[str, str]] = {"en": en.MESSAGES, "zh": zh.MESSAGES}
_PARTS = " · "  # the task layer joins the parts of a status line with this
_WARNING = "⚠ "


def normalize(language: str | None) -> str:
    """'zh', 'zh-CN', 'zh_Hans' -> 'zh'; 'en-US' -> 'en'; anything else -> the default (English)."""
    primary = re.split(r"[-_]", (language or "").strip().lower())[0]
    return primary if primary in LANGUAGES else DEFAULT_LANGUAGE


def preferred(accept_language: str | None) -> str | None:
    """The first of our languages in an Accept-Language header ('zh-CN,zh;q=0.9,en;q=0.8' -> 'zh')."""
    ranked = []
    for index, item in enumerate((accept_language or "").split(",")):
        tag, _, weight = item.strip().partition(";q=")
        try:
            quality = float(weight) if weight else 1.0
        except ValueError:
            quality = 0.0
        ranked.append((-quality, index, tag))
    for _, _, tag in sorted(ranked):
        primary = re.split(r"[-_]", tag.lower())[0]
        if primary in LANGUAGES:
            return primary
    return None


def placeholders(template: str) -> set[str]:
    """The `{names}` a template formats ('{words} words' -> {'words'})."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def message(language: str, key: str, **values: object) -> str:
    """The string `key` in `language` (English when unknown), formatted with `values`."""
    table = MESSAGES.get(normalize(language), en.MESSAGES)
    template = table.get(key, en.MESSAGES[key])
    return template.format(**values) if values else template


def translate(language: str, text: str) -> str:
    """A line written by the task layer (English) in `language`; parts no template knows stay as they are.

    Lines are split at line breaks and status parts (' · '); a leading '⚠ ' is kept.
    """
    language = normalize(language)
    if language == "en" or not text:
        return text
    lines = []
    for line in text.split("\n"):
        warning = line.startswith(_WARNING)
        body = line[len(_WARNING) :] if warning else line
        parts = _PARTS.join(_translate_part(language, part) for part in body.split(_PARTS))
        lines.append((_WARNING if warning else "") + parts)
    return "\n".join(lines)


def _translate_part(language: str, part: str) -> str:
    """One part: an exact template, else the first template it matches (its values translated too)."""
    for key, pattern in _patterns():
        found = pattern.fullmatch(part)
        if found:
            values = {name: _term(language, value) for name, value in found.groupdict().items()}
            return message(language, key, **values)
    return part


def _term(language: str, value: str) -> str:
    """A value read from a line: a known word or a whole known line in `language`, else unchanged."""
    for key in (f"term.{value}", f"setting.{value}"):
        if key in en.MESSAGES:
            return message(language, key)
    return _translate_part(language, value)  # e.g. the hint after "The story is empty: "


@functools.cache
def _patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Each `task.*` template as a pattern: exact ones first, then the most specific (most fixed text)."""

    def specific(key: str) -> tuple[bool, int]:
        template = en.MESSAGES[key]
        fixed = sum(len(literal) for literal, _, _, _ in string.Formatter().parse(template))
        return bool(placeholders(template)), -fixed

    keys = sorted((k for k in en.MESSAGES if k.startswith("task.")), key=specific)
    return tuple((key, _pattern(en.MESSAGES[key])) for key in keys)


def _pattern(template: str) -> re.Pattern[str]:
    """'{count} tokens' -> r'(?P<count>.+?)\\ tokens'; a `{url}` is one word (so "the model server at
    {url}" does not swallow the rest of "... at http://h/v1 is busy (503): ...")."""
    regex = ""
    for literal, name, _, _ in string.Formatter().parse(template):
        regex += re.escape(literal)
        if name:
            regex += f"(?P<{name}>\\S+)" if name == "url" else f"(?P<{name}>.+?)"
    return re.compile(regex, re.DOTALL)
