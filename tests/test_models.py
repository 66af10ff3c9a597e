"""Tests for nlg_assistant.models: finding, loading and holding the model (tiny local models only)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from nlg_assistant import models
from nlg_assistant.models import ModelHolder, ModelLoadError, load_model, resolve_model_spec

REPO = Path(__file__).resolve().parent.parent


def test_resolve_explicit_spec_is_kept() -> None:
    assert resolve_model_spec(" Qwen/Qwen2.5-0.5B-Instruct ") == "Qwen/Qwen2.5-0.5B-Instruct"


def test_resolve_none_without_default_folder_says_how_to_fix(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(models, "DEFAULT_MODEL_DIR", tmp_path / "absent")
    with pytest.raises(ModelLoadError) as info:
        resolve_model_spec(None)
    message = str(info.value)
    assert "--model" in message and "NLG_MODEL" in message and str(tmp_path / "absent") in message


def test_resolve_none_uses_default_folder_when_present(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(models, "DEFAULT_MODEL_DIR", tmp_path)
    assert resolve_model_spec(None) == str(tmp_path)


def test_load_tiny_model(tiny_model_dir) -> None:
    loaded = load_model(str(tiny_model_dir), "cpu")
    assert loaded.device == "cpu" and loaded.dtype == torch.float32
    assert loaded.context_window == 256  # max_position_embeddings of the tiny config
    assert loaded.chat is False
    assert loaded.name == Path(tiny_model_dir).name
    assert loaded.tokenizer.pad_token_id is not None
    assert not loaded.model.training
    assert loaded.model.config._attn_implementation == "sdpa"  # torch's fused attention kernels


def test_load_chat_model_is_flagged_chat(tiny_chat_model_dir) -> None:
    assert load_model(str(tiny_chat_model_dir), "auto").chat is True


def test_missing_folder_names_it(tmp_path) -> None:
    missing = tmp_path / "no_such_model"
    with pytest.raises(ModelLoadError, match="does not exist") as info:
        load_model(str(missing), "cpu")
    assert str(missing) in str(info.value)


def test_folder_without_config_is_rejected(tmp_path) -> None:
    with pytest.raises(ModelLoadError, match=r"config\.json"):
        load_model(str(tmp_path), "cpu")


def test_unknown_hub_id_offline_names_the_model() -> None:
    """huggingface_hub reads HF_HUB_OFFLINE at import, so this runs in a fresh interpreter."""
    code = (
        "from nlg_assistant.models import load_model, ModelLoadError\n"
        "try:\n    load_model('nlg-test-org/no-such-model-xyz', 'cpu')\n"
        "except ModelLoadError as e:\n    print('ERR', e)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.startswith("ERR"), done.stderr[-2000:]
    assert "nlg-test-org/no-such-model-xyz" in done.stdout and "could not download" in done.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_gpu_is_a_clear_error(tiny_model_dir) -> None:
    with pytest.raises(ModelLoadError, match="--device cpu"):
        load_model(str(tiny_model_dir), "cuda")


def test_bad_device_name(tiny_model_dir) -> None:
    with pytest.raises(ModelLoadError, match="--device"):
        load_model(str(tiny_model_dir), "tpu")


def test_holder_loads_once_even_when_raced(tiny_model_dir) -> None:
    holder = ModelHolder()
    got: list[object] = []
    threads = [
        threading.Thread(target=lambda: got.append(holder.get_or_load(str(tiny_model_dir), "cpu")))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 3 and all(item is got[0] for item in got)
    assert holder.loaded is got[0]


def test_holder_replaces_model_for_another_spec(tiny_model_dir, tiny_chat_model_dir) -> None:
    holder = ModelHolder()
    first = holder.get_or_load(str(tiny_model_dir), "cpu")
    second = holder.get_or_load(str(tiny_chat_model_dir), "cpu")
    assert second is not first and second.chat and holder.loaded is second


def test_gpu_decorator_is_identity_without_spaces() -> None:
    pytest.importorskip("torch")
    try:
        import spaces  # noqa: F401
    except ImportError:

        def function() -> int:
            return 7

        assert models.gpu_decorator()(function) is function
    else:
        pytest.skip("the spaces package is installed here")


def test_a_load_failure_never_quotes_a_signed_url():
    from nlg_assistant.models import _load_failure_message

    error = OSError(
        "403 for https://cdn.example/x.safetensors?X-Amz-Signature=abcd1234&X-Amz-Credential=AKIAxyz"
    )
    message = _load_failure_message("org/model", None, error)
    assert "abcd1234" not in message and "AKIAxyz" not in message and "X-Amz-Signature=***" in message
