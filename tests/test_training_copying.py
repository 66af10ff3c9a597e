"""Tests for the copy check (real forward passes of the shipped house model)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from nlg_assistant.training import copying, evaluate, finetune

SHIPPED = Path(__file__).resolve().parent.parent / "assets" / "models" / "storyteller"
PASSAGE = (
    "Every morning Pip the fox ran down to the river, where Mara the old heron stood fishing among the "
    "reeds, and together they watched the boats go by until the sun was high over the green hills."
)


def test_passages_are_reproducible_and_of_the_asked_length():
    paragraphs = [" ".join(["word"] * n) for n in (5, 20, 40, 60, 61, 100)]
    picked = copying.passages(paragraphs, 10, seed=1)
    assert sorted(len(p.split()) for p in picked) == [20, 40, 60]
    assert copying.passages(paragraphs, 2, seed=3) == copying.passages(paragraphs, 2, seed=3)


def test_shuffled_words_keeps_the_words():
    out = finetune.shuffled_words(PASSAGE, random.Random(0))
    assert sorted(out.split()) == sorted(PASSAGE.split()) and out != PASSAGE


@pytest.fixture(scope="module")
def shipped():
    return evaluate.load_model(SHIPPED)


def test_copy_figures_on_the_shipped_model(shipped):
    model, tok = shipped
    first, second = copying.copy_nll(model, tok, PASSAGE)
    # the second copy is easier than the first (the words were just read), and shuffled words are harder
    # to predict than prose the first time
    assert second < first - 0.2
    figures = copying.copy_figures(model, tok, [PASSAGE], seed=0)
    assert figures["copy_first_nll"] == pytest.approx(first)
    assert figures["copy_second_nll"] == pytest.approx(second)
    assert figures["copy_scrambled_first_nll"] > first + 1.0 and figures["copy_passages"] == 1
