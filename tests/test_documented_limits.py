"""The README's documented limits, written here as literals (not read from the code's own tables).

A range widened or narrowed in the code fails here until the README (and this file) say so.
"""

from __future__ import annotations

import pytest

from nlg_assistant.config import AppConfig, GenerationSettings, SettingsError

# field: (lowest allowed, highest allowed, just below, just above), as the README documents them
LIMITS = {
    "max_new_tokens": (1, 4096, 0, 4097),
    "temperature": (0.0, 2.0, -0.01, 2.01),
    "top_k": (0, 1000, -1, 1001),
    "top_p": (0.0, 1.0, -0.01, 1.01),
    "repetition_penalty": (1.0, 2.0, 0.99, 2.01),
    "no_repeat_ngram_size": (0, 10, -1, 11),
    "num_drafts": (1, 4, 0, 5),
    "seed": (-1, 2**31 - 1, -2, 2**31),
}


@pytest.mark.parametrize("name", list(LIMITS))
def test_documented_bounds_are_accepted(name):
    low, high, _, _ = LIMITS[name]
    assert getattr(GenerationSettings(**{name: low}), name) == low
    assert getattr(GenerationSettings(**{name: high}), name) == high


@pytest.mark.parametrize("name", list(LIMITS))
def test_just_outside_the_documented_bounds_is_refused_naming_the_field(name):
    _, _, below, above = LIMITS[name]
    for value in (below, above):
        with pytest.raises(SettingsError, match=name):
            GenerationSettings(**{name: value})


def test_every_setting_has_a_documented_limit():
    assert set(GenerationSettings().as_dict()) == set(LIMITS)


def test_max_new_tokens_cap_default_and_bounds():
    assert AppConfig().max_new_tokens_cap == 1024
    assert AppConfig(max_new_tokens_cap=1).max_new_tokens_cap == 1
    assert AppConfig(max_new_tokens_cap=4096).max_new_tokens_cap == 4096
    for bad in (0, 4097):
        with pytest.raises(ValueError, match="max-new-tokens-cap"):
            AppConfig(max_new_tokens_cap=bad)


def test_capping_lowers_max_new_tokens_to_the_cap_only():
    assert GenerationSettings(max_new_tokens=4096).capped(1024).max_new_tokens == 1024
    assert GenerationSettings(max_new_tokens=1024).capped(1024).max_new_tokens == 1024
    assert GenerationSettings(max_new_tokens=1023).capped(1024).max_new_tokens == 1023


def test_unknown_settings_are_named():
    with pytest.raises(SettingsError, match=r"^unknown setting\(s\): top_q, warmth$"):
        GenerationSettings.from_mapping({"warmth": 1, "top_q": 0.5, "top_p": 0.5})


# The start-up flags' documented choices and bounds (README's flag table); errors start with the flag.
@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"device": "gpu"}, r"^--device must be auto, cpu or cuda \(got 'gpu'\)$"),
        ({"device": "CPU"}, r"^--device must be auto, cpu or cuda"),
        ({"backend": "vllm"}, r"^--backend must be local or openai \(got 'vllm'\)$"),
        ({"engine": "fast"}, r"^--engine must be batched or simple \(got 'fast'\)$"),
        ({"backend": "openai"}, r"^--backend openai needs --base-url, e\.g\. http://localhost:8000/v1$"),
        (
            {"static_cache": True},
            r"^--static-cache is for one writer at a time: use it with --engine simple \(",
        ),
        (
            {"static_cache": True, "engine": "simple", "backend": "openai", "base_url": "http://x/v1"},
            r"writers\)$",
        ),
        ({"request_timeout_s": 0}, r"^--request-timeout-s must be more than 0$"),
        ({"max_batch_size": 0}, r"^--max-batch-size and --max-queue must be at least 1$"),
        ({"max_queue": 0}, r"^--max-batch-size and --max-queue must be at least 1$"),
    ],
)
def test_bad_start_up_options_are_refused_naming_the_flag(values, message):
    with pytest.raises(ValueError, match=message):
        AppConfig(**values)


def test_documented_start_up_choices_and_smallest_values_are_accepted():
    for device in ("auto", "cpu", "cuda"):
        assert AppConfig(device=device).device == device
    assert AppConfig(engine="simple", static_cache=True).static_cache
    assert AppConfig(backend="openai", base_url="http://localhost:8000/v1").backend == "openai"
    smallest = AppConfig(max_batch_size=1, max_queue=1, request_timeout_s=0.5)
    assert (smallest.max_batch_size, smallest.max_queue, smallest.request_timeout_s) == (1, 1, 0.5)
    defaults = AppConfig()
    assert (defaults.engine, defaults.backend, defaults.max_batch_size, defaults.max_queue) == (
        "batched",
        "local",
        16,
        64,
    )
