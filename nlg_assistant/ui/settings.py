"""The shared settings panel: one input per row of `config.SETTINGS`, bounded by the loaded model.

The slider range of max new tokens stops at what the model can do (`max_new_tokens_limit`:
its window minus a minimum prompt, and the server cap). A typed value outside a range gets a
message at its field (`settings_validator`) and the request does not run; gradio's own range
check would instead raise in preprocessing and cover the outputs with an "Error" badge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr

from ..config import SETTING_NAMES, SETTINGS, GenerationSettings, Setting, SettingsError
from ..locales import message
from .i18n import fixed, localized, phrase, say


def unchecked(component: gr.Slider | gr.Number) -> gr.Slider | gr.Number:
    """`component`, passing its value to handlers as typed: our validator checks the range instead.

    gradio's own check raises in preprocessing, which covers the outputs with a bare "Error"
    badge. (An instance attribute, not a subclass: gradio writes a .pyi file next to the module
    of every component subclass, at import.)
    """
    component.preprocess = lambda payload: payload  # type: ignore[method-assign]
    return component


def slider(*args: Any, **kwargs: Any) -> gr.Slider:
    """A `gr.Slider` whose value is checked by our validator rather than by gradio (see `unchecked`)."""
    return unchecked(gr.Slider(*args, **kwargs))


def number(*args: Any, **kwargs: Any) -> gr.Number:
    """A `gr.Number` whose value is checked by our validator rather than by gradio (see `unchecked`)."""
    return unchecked(gr.Number(*args, **kwargs))


def setting_high(setting: Setting, limit: int) -> float:
    """The upper bound of a setting in this app: max new tokens stops at the model's `limit`."""
    return min(setting.high, limit) if setting.name == "max_new_tokens" else setting.high


def setting_default(setting: Setting, limit: int) -> int | float:
    """The panel's starting value of a setting (within its bound in this app)."""
    return min(setting.default, setting_high(setting, limit))


def _setting_help(setting: Setting, limit: int) -> Any:
    """The row's help under its input; max new tokens also names this model's bound."""
    key = f"setting.{setting.name}.help"
    if setting.name != "max_new_tokens":
        return phrase(key)
    high = int(setting_high(setting, limit))
    bound = lambda language: message(language, "settings.max_new_tokens_limit", limit=high)  # noqa: E731
    return fixed(lambda language: f"{message(language, key)} {bound(language)}", key)


def _setting_input(setting: Setting, limit: int) -> gr.Component:
    """A slider (or, for the seed, a whole-number box) with the row's range, label and help."""
    high = setting_high(setting, limit)
    info = _setting_help(setting, limit)
    if setting.name == "seed":
        return number(
            setting.default,
            label=phrase(f"setting.{setting.name}"),
            info=info,
            precision=0,
            minimum=setting.low,
            maximum=high,
            elem_id=f"setting-{setting.name}",
        )
    value = setting_default(setting, limit)
    return slider(
        setting.low,
        high,
        value,
        step=setting.step,
        label=phrase(f"setting.{setting.name}"),
        info=info,
        elem_id=f"setting-{setting.name}",
    )


def settings_panel(limit: int) -> list[gr.Component]:
    """The shared settings inputs, returned in `SETTING_NAMES` order (the order handlers expect)."""
    inputs = {}
    with gr.Accordion(phrase("settings.title"), open=True, elem_id="settings"):
        for setting in SETTINGS:
            if setting.main:
                inputs[setting.name] = _setting_input(setting, limit)
        with gr.Accordion(phrase("settings.more"), open=False, elem_id="more-settings"):
            for setting in SETTINGS:
                if not setting.main:
                    inputs[setting.name] = _setting_input(setting, limit)
        reset = gr.Button(phrase("settings.reset"), size="sm")
    ordered = [inputs[name] for name in SETTING_NAMES]
    defaults = [setting_default(setting, limit) for setting in SETTINGS]
    reset.click(lambda: defaults, None, ordered, queue=False, api_visibility="private")
    for setting in SETTINGS:
        field = inputs[setting.name]
        if isinstance(field, gr.Slider):
            check = typed_value_check(setting, limit, field.info)
            field.release(check, None, field, queue=False, api_visibility="private")
    return ordered


def typed_value_check(setting: Setting, limit: int, info: Any) -> Callable[[gr.EventData], Any]:
    """A slider's `release` handler: a typed value out of range is named in the field's help line,
    and the field shows the value that is used (its help returns once a valid value is set).

    The slider's front end sends a typed value clamped into its range (-3 becomes 0) while its box
    may keep showing -3, so the request would silently run with another value; `release` still
    carries what was typed.
    """

    def check(event: gr.EventData) -> Any:
        typed = getattr(event, "_data", None)
        problem = None if typed is None else setting_problem(setting, typed, limit)
        if problem is None:
            return gr.Slider(info=info)
        used = setting.check(min(max(float(typed), setting.low), setting_high(setting, limit)))
        return gr.Slider(value=used, info=say("settings.typed_value", problem=problem, value=f"{used:g}"))

    return check


def setting_problem(setting: Setting, value: Any, limit: int) -> str | None:
    """Why `value` cannot be used for `setting` here (None when it can)."""
    try:
        number = setting.check(value)
    except SettingsError as error:
        return localized(str(error))
    high = setting_high(setting, limit)
    if number > high:
        return say("settings.too_high", name=setting.name, limit=int(high), value=repr(value))
    return None


def settings_validator(leading: int, limit: int) -> Callable[..., list]:
    """A gradio `validator` for an event whose inputs are `leading` other inputs, then the settings.

    It marks each setting out of range with its message (at the field) so the event does not run.
    """

    def validate(*values: Any) -> list:
        marks: list = [None] * leading
        for setting, value in zip(SETTINGS, values[leading:], strict=False):
            problem = setting_problem(setting, value, limit)
            marks.append(gr.validate(problem is None, problem or ""))
        return marks

    return validate


def settings_from_values(values: Sequence[Any], limit: int) -> GenerationSettings:
    """`GenerationSettings` from the panel (or API) values in `SETTING_NAMES` order, capped at `limit`.

    Raises `SettingsError` naming the field and its range when a value is invalid.
    """
    if len(values) != len(SETTING_NAMES):
        raise SettingsError(f"expected {len(SETTING_NAMES)} settings, got {len(values)}")
    return GenerationSettings.from_mapping(dict(zip(SETTING_NAMES, values, strict=True))).capped(limit)
