"""Plain-Python configuration: the sampling settings and the app's start-up options.

This module imports nothing heavy (no torch, no gradio), so every layer can use it.
`GenerationSettings` is the one object that carries sampling values from a slider,
an API call or a CLI flag down to the decoder; it validates itself on creation.

>>> s = GenerationSettings(max_new_tokens=50, temperature=0.0)
>>> s.greedy
True
>>> s.capped(20).max_new_tokens
20
>>> GenerationSettings(top_p=1.5)
Traceback (most recent call last):
...
nlg_assistant.config.SettingsError: top_p must be between 0.0 and 1.0 (got 1.5)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_NEW_TOKENS_CAP = 1024
LANGUAGES = ("en", "zh")  # the interface languages (nlg_assistant/locales has one module each)


class SettingsError(ValueError):
    """A sampling setting is missing, of the wrong type, or out of its allowed range."""


@dataclass(frozen=True)
class Setting:
    """One sampling setting: its name, inclusive range, default and how the UI and CLI present it.

    `main` settings sit at the top of the settings panel; the others under "More settings".
    """

    name: str
    integer: bool
    low: float
    high: float
    step: float
    default: int | float
    label: str
    help: str
    main: bool = False

    def describe(self) -> str:
        """The range as people read it: '0.0 and 2.0'."""
        return f"{self.low} and {self.high}"

    def check(self, value: Any) -> int | float:
        """`value` coerced to this setting's type; raises `SettingsError` naming it when out of range."""
        return _checked(self.name, value, self)

    @property
    def type(self) -> type:
        """`int` or `float`: the Python type of the value (API signatures and CLI flags use it)."""
        return int if self.integer else float


# THE settings table: validation, the dataclass's fields, sliders, labels, help, API signatures and
# CLI flags all come from these rows. A new sampling setting is one row here plus its use in the sampler.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "max_new_tokens", True, 1, 4096, 1, 200, "Max new tokens", "How many tokens to write at most.", True
    ),
    Setting(
        "temperature",
        False,
        0.0,
        2.0,
        0.05,
        0.8,
        "Temperature",
        "Randomness. 0 always picks the most likely token (greedy).",
        True,
    ),
    Setting(
        "top_k", True, 0, 1000, 1, 50, "Top-k", "Sample only from the k most likely tokens (0 = no limit)."
    ),
    Setting(
        "top_p",
        False,
        0.0,
        1.0,
        0.01,
        0.95,
        "Top-p",
        "Sample only from the smallest set of tokens whose probability adds up to p (1 = off).",
        True,
    ),
    Setting(
        "repetition_penalty",
        False,
        1.0,
        2.0,
        0.01,
        1.1,
        "Repetition penalty",
        "Above 1 makes already-used tokens less likely (1 = off); few-shot counts only the answer's.",
    ),
    Setting(
        "no_repeat_ngram_size",
        True,
        0,
        10,
        1,
        0,
        "No-repeat n-gram size",
        "Never repeat any run of this many tokens (0 = off); few-shot: within the answer.",
    ),
    Setting("num_drafts", True, 1, 4, 1, 1, "Drafts", "How many alternative drafts to write at once.", True),
    Setting(
        "seed",
        True,
        -1,
        2**31 - 1,
        1,
        -1,
        "Seed",
        "Same seed and settings give the same text; -1 picks a new seed each time.",
    ),
)
RANGES: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}  # the table, by name
SETTING_NAMES: tuple[str, ...] = tuple(RANGES)


class _SettingsMethods:
    """The behaviour of `GenerationSettings`, whose fields are generated from `SETTINGS`."""

    def __post_init__(self) -> None:
        for setting in SETTINGS:
            object.__setattr__(self, setting.name, setting.check(getattr(self, setting.name)))

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> GenerationSettings:
        """Build settings from loose values (JSON, form fields); unknown keys are an error."""
        extra = sorted(set(values) - set(RANGES))
        if extra:
            raise SettingsError(f"unknown setting(s): {', '.join(extra)}")
        return cls(**values)

    @property
    def greedy(self) -> bool:
        """True when decoding should always pick the most likely token."""
        return self.temperature == 0.0

    def capped(self, max_new_tokens_cap: int) -> GenerationSettings:
        """A copy whose `max_new_tokens` is at most the server-side cap."""
        if self.max_new_tokens <= max_new_tokens_cap:
            return self
        return dataclasses.replace(self, max_new_tokens=max_new_tokens_cap)

    def with_seed(self, seed: int) -> GenerationSettings:
        """A copy with an explicit seed (used to resolve -1 to a concrete seed)."""
        return dataclasses.replace(self, seed=seed)

    def as_dict(self) -> dict[str, Any]:
        """The public fields as a plain dict, in declaration order."""
        return {name: getattr(self, name) for name in RANGES}


GenerationSettings = dataclasses.make_dataclass(
    "GenerationSettings",
    [(s.name, s.type, dataclasses.field(default=s.default)) for s in SETTINGS],
    bases=(_SettingsMethods,),
    frozen=True,
)
GenerationSettings.__module__ = __name__
GenerationSettings.__doc__ = """Decoding settings for one request, one field per `SETTINGS` row.

Invalid values raise `SettingsError` naming the field. `temperature == 0` means greedy
decoding; `seed == -1` means "choose a random seed".
"""


def _checked(name: str, value: Any, rng: Setting) -> int | float:
    """Coerce `value` to the field's type and check it lies inside `rng`."""
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise SettingsError(f"{name} must be a number between {rng.describe()} (got {value!r})")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be a number between {rng.describe()} (got {value!r})") from None
    if math.isnan(number) or not rng.low <= number <= rng.high:
        raise SettingsError(f"{name} must be between {rng.describe()} (got {value!r})")
    if rng.integer:
        if number != int(number):
            raise SettingsError(f"{name} must be a whole number between {rng.describe()} (got {value!r})")
        return int(number)
    return number


@dataclass(frozen=True)
class AppConfig:
    """Start-up options of the app, built once by `app.py` from flags and environment."""

    model: str | None = None
    device: str = "auto"
    host: str = "127.0.0.1"
    port: int = 7860
    share: bool = False
    max_new_tokens_cap: int = DEFAULT_MAX_NEW_TOKENS_CAP
    backend: str = "local"
    engine: str = "batched"
    static_cache: bool = False  # simple engine only: static KV cache (+ torch.compile on CUDA)
    base_url: str | None = None
    api_key_env: str | None = None
    chat: bool | None = None  # remote backend: force chat/completions; None = ask the server
    max_batch_size: int = 16
    max_queue: int = 64
    request_timeout_s: float = 300.0
    mcp: bool = False  # also serve the tasks as MCP tools at /gradio_api/mcp/
    lang: str = "en"  # the API's status lines and errors (the web page follows the browser)
    # ----- sharing safely (docs/security.md) -----
    max_input_chars: int = 200_000  # per text field, refused before tokenising
    max_per_visitor: int = 2  # requests running or queued per visitor address
    trust_proxy: bool = False  # key visitors by X-Forwarded-For's last hop (behind a proxy: Spaces)
    show_backend_host: bool = False  # remote backend: name the server's host in the header
    max_upload_mb: float = 1.0  # largest file a visitor may upload
    auth: tuple[tuple[str, str], ...] = dataclasses.field(default=(), repr=False)  # (user, password)

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"--device must be auto, cpu or cuda (got {self.device!r})")
        if self.backend not in ("local", "openai"):
            raise ValueError(f"--backend must be local or openai (got {self.backend!r})")
        if self.engine not in ("batched", "simple"):
            raise ValueError(f"--engine must be batched or simple (got {self.engine!r})")
        if self.static_cache and (self.backend != "local" or self.engine != "simple"):
            raise ValueError(
                "--static-cache is for one writer at a time: use it with --engine simple "
                "(the batched engine keeps its own cache for many writers)"
            )
        if self.backend == "openai" and not self.base_url:
            raise ValueError("--backend openai needs --base-url, e.g. http://localhost:8000/v1")
        if not 1 <= self.max_new_tokens_cap <= RANGES["max_new_tokens"].high:
            raise ValueError(
                f"--max-new-tokens-cap must be between 1 and {int(RANGES['max_new_tokens'].high)}"
            )
        if not self.request_timeout_s > 0:
            raise ValueError("--request-timeout-s must be more than 0")
        if self.max_batch_size < 1 or self.max_queue < 1:
            raise ValueError("--max-batch-size and --max-queue must be at least 1")
        if self.lang not in LANGUAGES:
            raise ValueError(f"--lang must be {' or '.join(LANGUAGES)} (got {self.lang!r})")
        _check_sharing_options(self)

    def __repr__(self) -> str:
        """Every field but `auth`, with credentials stripped from `base_url` (configs get logged)."""
        from .redact import redact_url

        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.repr}
        if shown.get("base_url"):
            shown["base_url"] = redact_url(shown["base_url"])
        auth = f", auth=<{len(self.auth)} user(s)>" if self.auth else ""
        return f"AppConfig({', '.join(f'{k}={v!r}' for k, v in shown.items())}{auth})"


def _check_sharing_options(config: AppConfig) -> None:
    """Validate the options that bound what one visitor may use; `ValueError` names the flag."""
    if isinstance(config.max_input_chars, bool) or not 1 <= config.max_input_chars <= 10_000_000:
        raise ValueError(f"--max-input-chars must be between 1 and 10,000,000 (got {config.max_input_chars})")
    if config.max_per_visitor < 1:
        raise ValueError(f"--max-per-visitor must be at least 1 (got {config.max_per_visitor})")
    if not 0 < config.max_upload_mb <= 1024:
        raise ValueError(f"--max-upload-mb must be more than 0 and at most 1024 (got {config.max_upload_mb})")
    for pair in config.auth:
        if len(pair) != 2 or not all(isinstance(part, str) and part for part in pair):
            raise ValueError("auth must be (user, password) pairs of non-empty strings")
