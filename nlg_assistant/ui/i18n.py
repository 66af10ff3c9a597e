"""The UI's two languages on top of gradio's own i18n (`gr.I18n`), and the header's language switch.

gradio translates a component's label, info, placeholder or value in the browser when it is a
`gr.I18n` key (an `I18nData`); the browser's language picks the table (gradio's front end reads
`navigator.language`: 'zh-CN' and 'zh-TW' reach our 'zh' table, anything else English). gradio
has no URL or stored override, so the switch calls the front end's own `changeLocale` (what
gradio's Settings panel does), remembers the choice in localStorage and tells the server in a
cookie. Strings fixed when the UI is built but holding numbers (the header's model, a slider's
bound) are formatted once per language into keys of their own (`phrase`). What a handler says
(status lines, warnings) is formatted on the server in the language of the request (`say`):
the cookie, else the browser's Accept-Language, else English. Table column headers are not
translated by gradio (they are part of the table's value), so `headers` writes them in English and
adds page CSS that shows the Chinese ones when the page is Chinese (gradio sets <html lang>).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie
from pathlib import Path

import gradio as gr
from gradio.context import Context, LocalContext
from gradio.i18n import I18nData

from ..locales import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    MESSAGES,
    message,
    normalize,
    placeholders,
    preferred,
    translate,
)

COOKIE = "nlg-lang"
_TABLE = "nlg_phrases"  # the app's formatted keys, kept on its Blocks while it is built
_CSS = "nlg_header_css"  # the app's column-header CSS, kept the same way


def phrase(key: str, **values: object) -> I18nData:
    """`key` for gradio to translate in the browser; with `values`, formatted now in every language."""
    if key not in MESSAGES[DEFAULT_LANGUAGE]:
        raise KeyError(f"no string {key!r} in nlg_assistant/locales")  # found when the UI is built
    if not values:
        return I18nData(key)
    return fixed(lambda language: message(language, key, **values), key)


def fixed(render: Callable[[str], str], key: str) -> I18nData:
    """A string built once per language by `render(language)`, as a key of this app's own."""
    root = Context.root_block
    if root is None:  # built outside an app (a unit test): there is no table to add to
        return I18nData(key)
    table: dict[str, dict[str, str]] = root.__dict__.setdefault(_TABLE, {lang: {} for lang in LANGUAGES})
    derived = f"{key}.{len(table[DEFAULT_LANGUAGE]) + 1}"
    for language in LANGUAGES:
        table[language][derived] = render(language)
    return I18nData(derived)


def headers(elem_id: str, keys: tuple[str, ...], cell: str = "") -> list[str]:
    """English column headers for the table `#elem_id`, with CSS that shows them in Chinese on a
    Chinese page (`cell`: the element inside a header cell that holds its text, if any)."""
    root = Context.root_block
    if root is not None:
        rules = root.__dict__.setdefault(_CSS, [])
        for column, key in enumerate(keys, 1):
            where = f':root[lang^="zh"] #{elem_id} th[aria-colindex="{column}"] {cell}'.rstrip()
            shown = json.dumps(message("zh", key), ensure_ascii=False)
            rules.append(f"{where} {{ font-size: 0; }}")
            rules.append(f"{where}::after {{ content: {shown}; font-size: 14px; }}")
    return [message(DEFAULT_LANGUAGE, key) for key in keys]


def app_css(demo: gr.Blocks) -> str:
    """The page CSS that `headers` added while `demo` was built."""
    return "\n".join(demo.__dict__.get(_CSS, []))


def app_i18n(demo: gr.Blocks) -> gr.I18n:
    """The `gr.I18n` for `launch(i18n=...)`: every fixed string, plus the keys `demo` formatted."""
    extra = demo.__dict__.get(_TABLE, {})
    tables = {}
    for language in LANGUAGES:
        plain = {k: v for k, v in MESSAGES[language].items() if not placeholders(v)}
        tables[language] = plain | extra.get(language, {})
    return gr.I18n(**tables)


def language() -> str:
    """The language of the request being handled: the switch's cookie, else Accept-Language, else English."""
    request = LocalContext.request.get(None)
    headers = getattr(request, "headers", None) or {}
    cookie = SimpleCookie()
    with contextlib.suppress(CookieError):  # a malformed Cookie header: as if there were none
        cookie.load(headers.get("cookie", "") or "")
    if COOKIE in cookie:
        return normalize(cookie[COOKIE].value)
    return preferred(headers.get("accept-language")) or DEFAULT_LANGUAGE


def say(key: str, **values: object) -> str:
    """`key` formatted in the language of the request (status lines, warnings)."""
    return message(language(), key, **values)


def localized(text: str) -> str:
    """A line from the task layer (English) in the language of the request."""
    return translate(language(), text)


def core_module() -> str:
    """The file name of gradio's front-end module that exports `changeLocale` (its name has a hash)."""
    assets = Path(gr.__file__).parent / "templates" / "frontend" / "assets"
    found = sorted(path.name for path in assets.glob("core-*.js"))
    if len(found) != 1:
        raise RuntimeError(f"expected one core-*.js in gradio's front end, found {found}")
    return found[0]


def language_js() -> str:
    """The page script: `window.nlgLanguage(lang, remember)` switches, and the stored choice is applied.

    gradio picks 'en' for a browser that says just 'zh' (it knows 'zh-CN', 'zh-TW'), so the script
    also applies the browser's own language when it is Chinese and the page is not.
    """
    return f"""() => {{
  const entry = document.querySelector('script[type="module"][src*="assets/index-"]');
  const core = new URL("{core_module()}", entry ? entry.src : location.href).href;
  const shown = () => (document.documentElement.lang || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
  window.nlgLanguage = async (lang, remember) => {{
    document.cookie = `{COOKIE}=${{lang}}; path=/; SameSite=Lax; max-age=31536000`;
    if (remember) localStorage.setItem("{COOKIE}", lang);
    if (lang === shown()) return;
    try {{ (await import(core)).changeLocale(lang === "zh" ? "zh-CN" : "en"); }}
    catch (error) {{ console.warn("language switch:", error); }}
  }};
  const browser = (navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en";
  const stored = localStorage.getItem("{COOKIE}");
  window.nlgLanguage(stored === "zh" || stored === "en" ? stored : browser, false);
}}"""


SWITCH_JS = (
    "() => window.nlgLanguage((document.documentElement.lang || '').startsWith('zh') ? 'en' : 'zh', true)"
)


def language_switch() -> gr.Button:
    """The header's switch: '中文' on the English page, 'English' on the Chinese one (#language-switch)."""
    button = gr.Button(phrase("header.switch"), size="sm", scale=0, min_width=90, elem_id="language-switch")
    button.click(None, js=SWITCH_JS, queue=False, api_visibility="private")
    return button
