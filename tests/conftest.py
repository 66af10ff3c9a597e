"""Shared fixtures: tiny local models built once per test session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny base (no chat template) Llama folder."""
    from tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny_base"))


@pytest.fixture(scope="session")
def tiny_chat_model_dir(tmp_path_factory) -> Path:
    """A tiny Llama folder whose tokenizer has a chat template."""
    from tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny_chat"), chat=True)


@pytest.fixture(scope="session")
def shipped_loaded():
    """The house model from assets/ (a sentencepiece-style tokenizer), loaded on CPU."""
    from nlg_assistant.models import DEFAULT_MODEL_DIR, load_model

    if not (DEFAULT_MODEL_DIR / "config.json").exists():
        pytest.skip("no shipped model folder")
    return load_model(str(DEFAULT_MODEL_DIR), "cpu")
