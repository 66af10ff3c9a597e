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


class SettingsError(ValueError):
    """A sampling setting is missing, of the wrong type, or out of its allowed range."""


@dataclass(frozen=True)
class Range:
    """Inclusive bounds of one numeric setting, shared by validation and the UI sliders."""

    low: float
    high: float
    step: float
    integer: bool

    def describe(self) -> str:
        """The range as people read it: '1 to 4096' or '0.0 and 2.0'."""
        return f"{self.low} and {self.high}"


# One table drives validation, UI sliders and CLI flags. Bounds are inclusive.
RANGES: dict[str, Range] = {
    "max_new_tokens": Range(1, 4096, 1, True),
    "temperature": Range(0.0, 2.0, 0.05, False),
    "top_k": Range(0, 1000, 1, True),
    "top_p": Range(0.0, 1.0, 0.01, False),
    "repetition_penalty": Range(1.0, 2.0, 0.01, False),
    "no_repeat_ngram_size": Range(0, 10, 1, True),
    "num_drafts": Range(1, 4, 1, True),
    "seed": Range(-1, 2**31 - 1, 1, True),
}

HELP: dict[str, str] = {
    "max_new_tokens": "How many tokens to write at most.",
    "temperature": "Randomness. 0 always picks the most likely token (greedy).",
    "top_k": "Sample only from the k most likely tokens (0 = no limit).",
    "top_p": "Sample only from the smallest set of tokens whose probability adds up to p (1 = off).",
    "repetition_penalty": "Above 1 makes already-used tokens less likely (1 = off).",
    "no_repeat_ngram_size": "Never repeat any run of this many tokens (0 = off).",
    "num_drafts": "How many alternative drafts to write at once.",
    "seed": "Same seed and settings give the same text; -1 picks a new seed each time.",
}


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings for one request. Invalid values raise `SettingsError` naming the field.

    `temperature == 0` means greedy decoding; `seed == -1` means "choose a random seed".
    """

    max_new_tokens: int = 200
    temperature: float = 0.8
    top_k: int = 50
    top_p: float = 0.95
    repetition_penalty: float = 1.1
    no_repeat_ngram_size: int = 0
    num_drafts: int = 1
    seed: int = -1

    def __post_init__(self) -> None:
        for name, rng in RANGES.items():
            object.__setattr__(self, name, _checked(name, getattr(self, name), rng))

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


def _checked(name: str, value: Any, rng: Range) -> int | float:
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
    # ----- sharing safely (docs/security.md) -----
    max_input_chars: int = 200_000  # per text field, refused before tokenising
    max_per_visitor: int = 2  # requests running or queued per visitor address
    trust_proxy: bool = False  # key visitors by X-Forwarded-For's first hop (behind a proxy: Spaces)
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
