"""Tests for the command line (`python -m nlg_assistant`), with the tiny local models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nlg_assistant.__main__ import main
from nlg_assistant.models import load_model

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nlg_assistant", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=180,
    )


def test_story_streams_greedy_text(tiny_model_dir) -> None:
    done = run_cli(
        "story", "Once upon a time", "--model", str(tiny_model_dir), "--max-new-tokens", "5",
        "--temperature", "0", "--repetition-penalty", "1.0", "--device", "cpu",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = load_model(str(tiny_model_dir), "cpu")
    ids = loaded.tokenizer("Once upon a time", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        out = loaded.model.generate(ids, do_sample=False, max_new_tokens=5)
    expected = loaded.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
    assert done.stdout == expected + "\n"
    assert "finish:" in done.stderr and "prompt" in done.stderr


def test_fewshot_with_preset_and_drafts(tiny_model_dir) -> None:
    done = run_cli(
        "fewshot", "hey can u send it", "--preset", "formal-rewrite", "--model", str(tiny_model_dir),
        "--max-new-tokens", "4", "--num-drafts", "2", "--seed", "5",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--- draft 2 ---" in done.stdout and "seed 5" in done.stderr


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        (["--top-p", "3"], "top_p"),
        (["--temperature", "hot"], "temperature"),
        (["--max-new-tokens", "0"], "max_new_tokens"),
        (["--num-drafts", "1.5"], "num_drafts"),
    ],
)
def test_bad_setting_exits_2_naming_the_field(capsys, flags, field) -> None:
    assert main(["story", "Once", "--model", "/nonexistent", *flags]) == 2
    assert field in capsys.readouterr().err


def test_fewshot_without_examples_exits_2(capsys) -> None:
    assert main(["fewshot", "hello", "--model", "/nonexistent"]) == 2
    assert "--preset" in capsys.readouterr().err


def test_unknown_preset_and_bad_example_exit_2(capsys) -> None:
    assert main(["fewshot", "hello", "--preset", "limerick"]) == 2
    assert "limerick" in capsys.readouterr().err
    assert main(["fewshot", "hello", "--example", "no separator"]) == 2
    assert "=>" in capsys.readouterr().err


def test_missing_model_folder_exits_1_naming_it(capsys, tmp_path) -> None:
    missing = tmp_path / "gone"
    assert main(["story", "Once", "--model", str(missing)]) == 1
    assert str(missing) in capsys.readouterr().err


def test_empty_story_is_a_prompt_error(capsys, tiny_model_dir) -> None:
    assert main(["story", "   ", "--model", str(tiny_model_dir), "--max-new-tokens", "2"]) == 2
    assert "story" in capsys.readouterr().err.lower()


def test_article_example_from_the_readme_exits_0(tiny_model_dir) -> None:
    """It exited 2 before: the model's own outline did not fit its section prompt."""
    done = run_cli(
        "article", "Urban beekeeping", "--audience", "beginners", "--length-words", "450",
        "--model", str(tiny_model_dir), "--seed", "4",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.lstrip().startswith("## ") and "Article:" in done.stderr


def test_backend_options_go_through_the_factory(capsys, tiny_model_dir) -> None:
    assert main(["story", "Once", "--backend", "openai"]) == 2  # the app's own check: it needs a URL
    assert "--base-url" in capsys.readouterr().err
    assert main(["story", "Once", "--engine", "warp"]) == 2
    assert "--engine" in capsys.readouterr().err
    flags = ["--model", str(tiny_model_dir), "--max-new-tokens", "3", "--engine", "batched", "--seed", "1"]
    assert main(["story", "Once upon a time", *flags]) == 0
    assert "finish:" in capsys.readouterr().err


def test_lang_zh_gives_the_status_line_and_errors_in_chinese(capsys, tiny_model_dir) -> None:
    model = ["--model", str(tiny_model_dir), "--max-new-tokens", "2", "--lang", "zh"]
    assert main(["story", "   ", *model]) == 2
    assert "故事是空的" in capsys.readouterr().err
    assert main(["story", "Once", *model, "--seed", "3"]) == 0
    status = capsys.readouterr().err
    assert "结束：" in status and "种子 3" in status and "finish:" not in status
