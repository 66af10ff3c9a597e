"""Settings validation: every field is checked, coerced and capped in one place."""

from __future__ import annotations

import dataclasses
import doctest

import pytest

from nlg_assistant import config
from nlg_assistant.config import AppConfig, GenerationSettings, SettingsError

# The README's settings table, as literals: a widened or shifted range in config.SETTINGS fails here.
DOCUMENTED = {
    # name: (low, high, default)
    "max_new_tokens": (1, 4096, 200),
    "temperature": (0.0, 2.0, 0.8),
    "top_k": (0, 1000, 50),
    "top_p": (0.0, 1.0, 0.95),
    "repetition_penalty": (1.0, 2.0, 1.1),
    "no_repeat_ngram_size": (0, 10, 0),
    "num_drafts": (1, 4, 1),
    "seed": (-1, 2**31 - 1, -1),
}


def test_the_settings_are_the_documented_ones_with_their_defaults():
    assert tuple(DOCUMENTED) == config.SETTING_NAMES
    defaults = GenerationSettings()
    assert {name: getattr(defaults, name) for name in DOCUMENTED} == {
        n: d for n, (_, _, d) in DOCUMENTED.items()
    }


@pytest.mark.parametrize(("name", "bounds"), DOCUMENTED.items())
def test_documented_bounds_are_accepted_and_beyond_them_rejected(name, bounds):
    low, high, _ = bounds
    assert getattr(GenerationSettings(**{name: low}), name) == low
    assert getattr(GenerationSettings(**{name: high}), name) == high
    step = 1 if isinstance(low, int) else 0.01
    for outside in (low - step, high + step):
        with pytest.raises(SettingsError) as err:
            GenerationSettings(**{name: outside})
        assert name in str(err.value) and str(low) in str(err.value) and str(high) in str(err.value)


def test_the_table_drives_the_dataclass_fields():
    fields = [field.name for field in dataclasses.fields(GenerationSettings)]
    assert fields == [setting.name for setting in config.SETTINGS]
    assert all(setting.label and setting.help for setting in config.SETTINGS)
    assert [s.name for s in config.SETTINGS if s.main] == [
        "max_new_tokens",
        "temperature",
        "top_p",
        "num_drafts",
    ]


@pytest.mark.parametrize("bad", [None, "", "abc", float("nan"), True, [1]])
def test_non_numbers_rejected(bad):
    with pytest.raises(SettingsError, match="temperature"):
        GenerationSettings(temperature=bad)


def test_integer_fields_coerce_whole_floats_and_reject_fractions():
    s = GenerationSettings(max_new_tokens=12.0, top_k="7")
    assert s.max_new_tokens == 12 and isinstance(s.max_new_tokens, int)
    assert s.top_k == 7
    with pytest.raises(SettingsError, match="whole number"):
        GenerationSettings(max_new_tokens=12.5)


def test_float_fields_accept_numeric_strings():
    assert GenerationSettings(temperature="0.5").temperature == 0.5


def test_from_mapping_rejects_unknown_keys():
    with pytest.raises(SettingsError, match="top_q"):
        GenerationSettings.from_mapping({"top_q": 0.5})
    assert GenerationSettings.from_mapping({"top_k": 3}).top_k == 3


def test_capped_clamps_only_when_above():
    s = GenerationSettings(max_new_tokens=4000)
    assert s.capped(100).max_new_tokens == 100
    assert s.capped(5000) is s


def test_greedy_and_seed():
    assert GenerationSettings(temperature=0).greedy
    assert not GenerationSettings(temperature=0.1).greedy
    assert GenerationSettings().with_seed(42).seed == 42


def test_app_config_validation():
    with pytest.raises(ValueError, match="device"):
        AppConfig(device="tpu")
    with pytest.raises(ValueError, match="base-url"):
        AppConfig(backend="openai")
    with pytest.raises(ValueError, match="max-new-tokens-cap"):
        AppConfig(max_new_tokens_cap=0)
    assert AppConfig(backend="openai", base_url="http://localhost:8000/v1").backend == "openai"
    with pytest.raises(ValueError, match="--static-cache is for one writer at a time: use it with --engine"):
        AppConfig(static_cache=True)  # the default engine is the batched one
    with pytest.raises(ValueError, match="--static-cache"):
        AppConfig(static_cache=True, engine="simple", backend="openai", base_url="http://localhost:8000/v1")
    assert AppConfig(static_cache=True, engine="simple").static_cache


def test_docstring_example_runs():
    assert doctest.testmod(config).failed == 0


@pytest.mark.parametrize(
    ("options", "flag"),
    [
        ({"max_input_chars": 0}, "--max-input-chars"),
        ({"max_per_visitor": 0}, "--max-per-visitor"),
        ({"max_upload_mb": 0}, "--max-upload-mb"),
        ({"max_upload_mb": 5000}, "--max-upload-mb"),
    ],
)
def test_sharing_options_are_validated_naming_the_flag(options, flag):
    with pytest.raises(ValueError, match=flag):
        AppConfig(**options)


def test_sharing_defaults_are_safe():
    config = AppConfig()
    assert config.max_input_chars == 200_000 and config.max_per_visitor == 2
    assert not config.trust_proxy and not config.show_backend_host and config.auth == ()


def test_sharing_options_accept_their_bounds_and_refuse_just_beyond():
    # the bounds as literals: the longest field 1 to 10,000,000 characters, uploads up to 1024 MB
    for chars in (1, 10_000_000):
        assert AppConfig(max_input_chars=chars).max_input_chars == chars
    assert AppConfig(max_per_visitor=1).max_per_visitor == 1
    assert AppConfig(max_upload_mb=1024).max_upload_mb == 1024
    refused = {
        "max_input_chars": (10_000_001, True),
        "max_per_visitor": (0,),
        "max_upload_mb": (1025, -1),
    }
    for name, values in refused.items():
        for value in values:
            with pytest.raises(ValueError, match=f"^--{name.replace('_', '-')} must be"):
                AppConfig(**{name: value})


@pytest.mark.parametrize("pair", [("ana", "pw", "x"), ("ana",), ("ana", 5), (None, "pw"), ("", "pw")])
def test_auth_takes_only_user_password_pairs_of_text(pair):
    with pytest.raises(ValueError, match=r"^auth must be \(user, password\) pairs of non-empty strings$"):
        AppConfig(auth=(("bo", "pw2"), pair))


def test_auth_pairs_are_kept_in_order():
    pairs = (("ana", "pw1"), ("bo", "pw2"))
    assert AppConfig(auth=pairs).auth == pairs


def test_as_dict_gives_every_value_by_name_in_table_order():
    settings = GenerationSettings(max_new_tokens=30, top_k=7, seed=3)
    assert list(settings.as_dict().items()) == [
        ("max_new_tokens", 30),
        ("temperature", 0.8),
        ("top_k", 7),
        ("top_p", 0.95),
        ("repetition_penalty", 1.1),
        ("no_repeat_ngram_size", 0),
        ("num_drafts", 1),
        ("seed", 3),
    ]


def test_repr_shows_the_options_without_auth_or_credentials():
    plain = repr(AppConfig(port=7861))
    assert plain.startswith("AppConfig(model=None, device='auto', host='127.0.0.1', port=7861, ")
    assert "base_url=None" in plain and plain.endswith(", show_backend_host=False, max_upload_mb=1.0)")
    two_users = (("a", "b"), ("c", "d"))
    shown = repr(AppConfig(backend="openai", base_url="http://u:secret@h:1/v1", auth=two_users))
    assert "base_url='http://h:1/v1'" in shown and shown.endswith(", auth=<2 user(s)>)")
