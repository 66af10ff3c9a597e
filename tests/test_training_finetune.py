"""Tests for the fine-tuning mix builders (small synthetic books, the app's real prompt builders)."""

from __future__ import annotations

import random

import pytest

from nlg_assistant import prompts
from nlg_assistant.training import finetune

PARAS = [
    "Pip the fox lived at the edge of the green wood with his old mother.",
    "Every morning Pip ran down to the river, where Mara the heron stood fishing.",
    "One day Mara told Pip about a castle beyond the hills, full of golden apples.",
    "So Pip packed a little bag and set out, and Mara flew above him to show the way.",
]
CHAPTERS = ["The Green Wood", "The River", "The Castle", "The Golden Apples", "Home Again"]


def _book(n_chapters: int = 5) -> str:
    lines = ["PIP AND MARA", "CONTENTS", *[f"{i}. {c}" for i, c in enumerate(CHAPTERS[:n_chapters], 1)]]
    for i, title in enumerate(CHAPTERS[:n_chapters], 1):
        lines += [f"CHAPTER {i}", title.upper(), *PARAS * 3]
    return "\n".join(lines)


def words(text: str) -> int:
    return len(text.split())


def test_book_sections_from_cleaned_headings():
    from nlg_assistant.training.clean import clean_document

    sections = finetune.book_sections(clean_document(_book()))
    assert [s.title for s in sections] == CHAPTERS
    assert sections[0].paragraphs == tuple(PARAS * 3)
    assert finetune.usable_title("The Captive King 307") == "The Captive King"
    assert finetune.usable_title("Illustrated by John R. Neill") == ""


def test_outline_example_uses_the_app_prompt_and_parses_to_the_asked_count():
    text = finetune.outline_example("Pip and Mara", CHAPTERS[:4])
    prompt = prompts.build_outline("Pip and Mara", length_words=600).document
    assert text.startswith(prompt) and prompts.suggested_sections(600) == 4
    assert prompts.parse_outline(text[len(prompt) :]) == CHAPTERS[:4]


def test_section_example_is_the_app_section_prompt_then_the_opening_and_next_heading():
    sections = [finetune.Section(t, tuple(PARAS)) for t in CHAPTERS[:3]]
    text = finetune.section_example("Pip and Mara", sections, 1, words, 400)
    outline = "\n".join(f"{i}. {t}" for i, t in enumerate(CHAPTERS[:3], 1))
    written = f"## {CHAPTERS[0]}\n\n" + finetune.opening(tuple(PARAS), 60)
    doc = prompts.build_section("Pip and Mara", outline, 1, written, length_words=450).document
    assert text.startswith(doc) and doc.endswith(f"## {CHAPTERS[1]}\n")
    body = text[len(doc) :]
    assert body.startswith("\n" + PARAS[0]) and body.endswith(f"\n\n## {CHAPTERS[2]}")
    # under a tight budget the article so far is trimmed from the left the app's way, never the outline
    tight = finetune.section_example("Pip and Mara", sections, 2, words, 110)
    assert outline in tight and words(tight.split("\n## The Castle\n")[0]) <= 110


def test_corrupt_makes_informal_text():
    rng = random.Random(0)
    out = finetune.corrupt("Thank you, I will see you tomorrow because you are kind.", rng)
    assert "thx" in out and "tmrw" in out and " u " in f" {out} " and "cuz" in out
    assert out.count(",") + out.count(".") < 2  # punctuation dropped (seeded)


def test_formal_examples_in_the_exact_fewshot_layout():
    sentences = [p.replace(",", "") for p in PARAS] * 2
    rng = random.Random(1)
    texts = finetune.formal_examples(sentences, rng, 3)
    assert len(texts) == 2  # 8 sentences, 4 per example
    preset = prompts.PRESETS["Formal rewrite"]
    for text in texts:
        assert text.startswith(preset.instruction + "\n\n" + prompts.INPUT_TAG)
        assert text.endswith("\n\n" + prompts.INPUT_TAG + "\n")
        answer = text.rsplit(prompts.OUTPUT_TAG + "\n", 1)[1].split("\n\n")[0]
        assert answer in sentences


def test_fables_and_morals():
    raw = "\n".join(
        [
            "The Fox and the Grapes",
            "A hungry Fox saw some fine bunches of grapes hanging from a vine. " * 4,
            "She tried and tried to reach them but could not, and went away saying they were sour.",
            "It is easy to despise what you cannot get.",
            "The Crow and the Pitcher",
            "A thirsty Crow found a pitcher with a little water at the bottom. " * 4,
            "She dropped pebbles in one by one until the water rose and she could drink.",
            "Moral. Little by little does the trick.",
            "End",
        ]
    )
    fables = finetune.fables_of(raw)
    assert [m for _, m in fables] == [
        "It is easy to despise what you cannot get.",
        "Little by little does the trick.",
    ]
    assert fables[0][0].startswith("A hungry Fox") and "sour" in fables[0][0]


def test_story_example_memory_names_come_back_in_the_continuation():
    paras = tuple(PARAS * 6)
    text = finetune.story_example(paras, 0, random.Random(0))
    assert text is not None and text.startswith("[Memory: ")
    memory = text.split("]", 1)[0].removeprefix("[Memory: ").rstrip(".").split(", ")
    prompt_end = text.index("\n", text.index("\n\n") + 2 + words(" ".join(PARAS)))  # somewhere past the story
    continuation = text[prompt_end:]
    assert set(memory) <= {"Pip", "Mara"} and any(name in continuation for name in memory)


@pytest.mark.parametrize("n_chapters", [2, 5])
def test_build_mix_counts_and_skips_books_without_chapters(n_chapters):
    texts, kinds = finetune.build_mix([("Pip and Mara", _book(n_chapters))], 0, words)
    assert len(texts) == sum(kinds.values())
    if n_chapters < 3:
        assert kinds["outline"] == kinds["section"] == 0
    else:
        assert kinds["outline"] == 1 and kinds["section"] > 0 and kinds["story"] > 0
        assert any(t.startswith("Topic: Pip and Mara\n") for t in texts)
