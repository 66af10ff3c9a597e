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


def _setting_input(setting: Setting, limit: int) -> gr.Component:
    """A slider (or, for the seed, a whole-number box) with the row's range, label and help."""
    high = setting_high(setting, limit)
    info = setting.help
    if setting.name == "max_new_tokens":
        info += f" At most {int(high)} on this model (its window, less room for the prompt)."
    if setting.name == "seed":
        return number(
            setting.default,
            label=setting.label,
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
        label=setting.label,
        info=info,
        elem_id=f"setting-{setting.name}",
    )


def settings_panel(limit: int) -> list[gr.Component]:
    """The shared settings inputs, returned in `SETTING_NAMES` order (the order handlers expect)."""
    inputs = {}
    with gr.Accordion("Generation settings", open=True, elem_id="settings"):
        for setting in SETTINGS:
            if setting.main:
                inputs[setting.name] = _setting_input(setting, limit)
        with gr.Accordion("More settings", open=False, elem_id="more-settings"):
            for setting in SETTINGS:
                if not setting.main:
                    inputs[setting.name] = _setting_input(setting, limit)
        reset = gr.Button("Reset to defaults", size="sm")
    ordered = [inputs[name] for name in SETTING_NAMES]
    defaults = [setting_default(setting, limit) for setting in SETTINGS]
    reset.click(lambda: defaults, None, ordered, queue=False, api_visibility="private")
    return ordered


def setting_problem(setting: Setting, value: Any, limit: int) -> str | None:
    """Why `value` cannot be used for `setting` here (None when it can)."""
    try:
        number = setting.check(value)
    except SettingsError as error:
        return str(error)
    high = setting_high(setting, limit)
    if number > high:
        return f"{setting.name} must be at most {int(high)} on this model (got {value!r})"
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
