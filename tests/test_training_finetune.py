"""Tests for the fine-tuning mix builders (small synthetic books, the app's real prompt builders)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from nlg_assistant import prompts
from nlg_assistant.training import finetune

SHIPPED = Path(__file__).resolve().parent.parent / "assets" / "models" / "storyteller"

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


def test_outline_example_continues_the_app_prompt_and_parses_to_the_asked_count():
    prompt, target = finetune.outline_example("Pip and Mara", CHAPTERS[:4])
    assert prompt == prompts.build_outline("Pip and Mara", length_words=600).document
    assert prompts.suggested_sections(600) == 4 and prompt.endswith("\n1.")
    # the app shows "1." + the output: the target continues the first heading, it does not renumber it
    assert target == " The Green Wood\n2. The River\n3. The Castle\n4. The Golden Apples\n"
    assert prompts.parse_outline(prompts.OUTLINE_PREFIX + target) == CHAPTERS[:4]


@pytest.mark.parametrize("k", range(3, 9))
def test_outline_lengths_are_those_the_app_maps_to_k_sections(k):
    lengths = finetune.outline_lengths(k)
    assert lengths and all(prompts.suggested_sections(n) == k for n in lengths)
    prompt, _ = finetune.outline_example("Topic", [f"T{i}" for i in range(k)], random.Random(k))
    assert f"in {k} sections" in prompt


def test_outline_examples_are_distinct_windows_of_consecutive_titles():
    titles = [f"Title {i}" for i in range(20)]
    examples = finetune.outline_examples("Book", titles, random.Random(0), 10)
    shown = [prompts.parse_outline(prompts.OUTLINE_PREFIX + t) for _, t in examples]
    assert len(examples) == 10 and len({tuple(s) for s in shown}) == 10
    assert titles[:8] in shown  # the book's first chapters are always one of them
    for headings in shown:
        first = titles.index(headings[0])
        assert 3 <= len(headings) <= 8 and headings == titles[first : first + len(headings)]
    assert finetune.outline_examples("Book", titles[:2], random.Random(0), 10) == []


def test_contents_titles_read_the_contents_list():
    raw = "\n".join(
        [
            "THE BOOK OF PIP",
            "CONTENTS",
            "CHAPTER I. THE GREEN WOOD 1",
            "CHAPTER II. The River: How Pip Met Mara 17",
            "III. Do You Believe in Fairies?",
            "PAGE The Castle (a Welsh tale)",
            "CHAPTER I. THE GREEN WOOD",  # the chapters start: the list is over
            "Pip lived at the edge of the green wood.",
        ]
    )
    assert finetune.contents_titles(raw) == [
        "The Green Wood",
        "The River",
        "Do You Believe in Fairies?",
        "The Castle",
    ]
    assert finetune.contents_titles("CONTENTS\nOne\n" + "A long paragraph of prose. " * 5) == []
    assert finetune.contents_titles(_book()) == CHAPTERS


def test_section_example_is_the_app_section_prompt_then_the_opening_and_next_heading():
    sections = [finetune.Section(t, tuple(PARAS)) for t in CHAPTERS[:3]]
    text = "".join(finetune.section_example("Pip and Mara", sections, 1, words, 400))
    outline = "\n".join(f"{i}. {t}" for i, t in enumerate(CHAPTERS[:3], 1))
    written = f"## {CHAPTERS[0]}\n\n" + finetune.opening(tuple(PARAS), 60)
    doc = prompts.build_section("Pip and Mara", outline, 1, written, length_words=450).document
    assert text.startswith(doc) and doc.endswith(f"## {CHAPTERS[1]}\n")
    body = text[len(doc) :]
    assert body.startswith("\n" + PARAS[0]) and body.endswith(f"\n\n## {CHAPTERS[2]}")
    # under a tight budget the article so far is trimmed from the left the app's way, never the outline
    tight = "".join(finetune.section_example("Pip and Mara", sections, 2, words, 110))
    assert outline in tight and words(tight.split("\n## The Castle\n")[0]) <= 110


def test_corrupt_makes_informal_text():
    rng = random.Random(0)
    out = finetune.corrupt("Thank you, I will see you tomorrow because you are kind.", rng)
    assert "thx" in out and "tmrw" in out and " u " in f" {out} " and "cuz" in out
    assert out.count(",") + out.count(".") < 2  # punctuation dropped (seeded)


def test_formal_examples_in_the_exact_fewshot_layout():
    sentences = [p.replace(",", "") for p in PARAS] * 2
    rng = random.Random(1)
    examples = finetune.formal_examples(sentences, rng, 3)
    assert len(examples) == 2  # 8 sentences, 4 per example
    preset = prompts.PRESETS["Formal rewrite"]
    for prompt, target in examples:
        new_input = prompt.rsplit(prompts.INPUT_TAG + "\n", 1)[1].split("\n\n")[0]
        examples_shown = prompt.count(prompts.OUTPUT_TAG) - 1
        assert examples_shown == 3 and prompt.startswith(preset.instruction + "\n\n" + prompts.INPUT_TAG)
        assert target.endswith("\n\n" + prompts.INPUT_TAG + "\n")
        assert target.split("\n\n")[0] in sentences and new_input != target.split("\n\n")[0]
    # with the preset's examples it is exactly the prompt the Few-shot tab sends
    prompt, target = finetune.formal_examples(sentences, random.Random(1), 1, preset_share=1.0)[0]
    answer = target.split("\n\n")[0]
    new_input = prompt.rsplit(prompts.INPUT_TAG + "\n", 1)[1].split("\n\n")[0]
    assert prompt == prompts.build_fewshot(preset.examples, new_input, preset.instruction).document
    assert answer in sentences


def test_formal_examples_use_the_preset_in_about_a_third_of_prompts():
    # at 0.75 the model learnt the preset's own sentences by heart and recited them in other tabs
    preset = prompts.PRESETS["Formal rewrite"]
    sentences = [f"{p.replace(',', '')} Number {i}." for i, p in enumerate(PARAS * 200)]
    examples = finetune.formal_examples(sentences, random.Random(3), 200)
    with_preset = sum(preset.examples[0][1] in prompt for prompt, _ in examples)
    assert len(examples) == 200 and 40 <= with_preset <= 80


def test_sentences_do_not_end_at_titles_or_initials():
    paragraph = "Then Mrs. Lynde came over to see them all. Mr. Brown and J. M. Barrie sat down by the fire."
    assert finetune.sentences_of([paragraph], min_words=3) == [
        "Then Mrs. Lynde came over to see them all.",
        "Mr. Brown and J. M. Barrie sat down by the fire.",
    ]


def test_speech_reads_like_a_message():
    paragraph = (
        '\u201cCan you come tomorrow?\u201d asked Anne. "Thank you, I will be there," said he. '
        '"and then the horse ran off," he went on. "The old mill stood by the river." '
        '"You are late (again)," she said. \u201cYou must go\u201d'
    )
    assert finetune.speech_of([paragraph]) == ["Can you come tomorrow?", "Thank you, I will be there."]
    # no shorthand word, lower-case start (a resumed quote), brackets: left out; too short as well
    assert finetune.speech_of([paragraph], min_words=3) == [
        "Can you come tomorrow?",
        "Thank you, I will be there.",
        "You must go",
    ]


def test_message_examples_are_formal_rewrites_of_speech_and_off_by_default():
    raw = "## One\n\n" + "\n\n".join(
        f'"Will you bring the {thing} tomorrow, please?" asked Tom. "Thank you for the {thing}," said Ann.'
        for thing in ("bread", "milk", "eggs", "tea", "salt", "jam", "rice", "soap")
    )
    count = lambda text: len(text.split())  # noqa: E731
    off = finetune.book_examples("A book", raw, random.Random(0), count, 300)
    assert off["message"] == []
    on = finetune.book_examples("A book", raw, random.Random(0), count, 300, finetune.Quota(message=3))
    assert len(on["message"]) == 3
    prompt, target = on["message"][0]
    assert prompt.startswith(prompts.PRESETS["Formal rewrite"].instruction)
    preset_inputs = [source for source, _ in prompts.PRESETS["Formal rewrite"].examples]
    assert not any(source in p for p in (e[0] for e in on["message"]) for source in preset_inputs)
    original = target.split("\n")[0]
    assert original in finetune.speech_of([p for p in raw.split("\n\n")])
    informal = prompt.rsplit("### Input:\n", 1)[1].split("\n")[0]
    assert any(short in informal.split() for short in ("u", "pls", "tmrw", "thx"))


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
    example = finetune.story_example(paras, 0, random.Random(0))
    assert example is not None and example[1].startswith("\n")
    text = "".join(example)
    assert text.startswith("[Memory: ")
    memory = text.split("]", 1)[0].removeprefix("[Memory: ").rstrip(".").split(", ")
    prompt_end = text.index("\n", text.index("\n\n") + 2 + words(" ".join(PARAS)))  # somewhere past the story
    continuation = text[prompt_end:]
    assert set(memory) <= {"Pip", "Mara"} and any(name in continuation for name in memory)


@pytest.mark.parametrize("n_chapters", [2, 5])
def test_build_mix_counts_and_skips_books_without_chapters(n_chapters):
    examples, kinds = finetune.build_mix([("Pip and Mara", _book(n_chapters))], 0, words)
    assert len(examples) == sum(kinds.values())
    if n_chapters < 3:
        assert kinds["outline"] == kinds["section"] == 0
    else:  # 5 chapters: every window of 3-5 of them once (the contents list gives the same titles)
        assert kinds["outline"] == 6 and kinds["section"] > 0 and kinds["story"] > 0
        assert any(p.startswith("Topic: Pip and Mara\n") for p, _ in examples)


def test_quota_overrides_change_only_the_named_kinds():
    book = _book(5) + "\n" + "\n".join(PARAS * 4)
    base = finetune.build_mix([("Pip and Mara", book)], 0, words)[1]
    more = finetune.quota_from(["formal=40", "story=0"])
    assert more == finetune.Quota(formal=40, story=0)
    kinds = finetune.build_mix([("Pip and Mara", book)], 0, words, quotas=(more, finetune.EXTRA_QUOTA))[1]
    assert kinds["formal"] > base["formal"] and kinds["story"] == 0 < base["story"]
    assert kinds["outline"] == base["outline"]
    for bad in (["novel=3"], ["formal=x"], ["formal"]):
        with pytest.raises(ValueError, match="bad quota"):
            finetune.quota_from(bad)


def test_repeat_examples_give_a_passage_then_the_same_passage_and_only_when_asked():
    book = _book(5) + "\n" + "\n".join(PARAS * 4)
    assert finetune.build_mix([("Pip and Mara", book)], 0, words)[1]["repeat"] == 0
    long = " ".join(PARAS)  # 61 words; each of PARAS alone is too short to be worth repeating
    examples = finetune.repeat_examples([*PARAS, long], random.Random(0), 3)
    assert examples == [(long + "\n\n", long)]


def test_scramble_examples_repeat_the_same_shuffled_words_and_only_when_asked():
    book = _book(5) + "\n" + "\n".join(PARAS * 4)
    assert finetune.build_mix([("Pip and Mara", book)], 0, words)[1]["scramble"] == 0
    long = " ".join(PARAS)
    [(prompt, target)] = finetune.scramble_examples([*PARAS, long], random.Random(0), 3)
    assert prompt == target + "\n\n"
    assert sorted(target.split()) == sorted(long.split()) and target != long
    quotas = (finetune.Quota(scramble=2),) * 2
    kinds = finetune.build_mix([("Pip and Mara", book + "\n" + long)], 0, words, quotas=quotas)[1]
    assert kinds["scramble"] == 1  # only one paragraph of the book is long enough


def test_extra_books_give_only_outlines_and_formal_rewrites():
    book = _book(5) + "\n" + "\n".join(PARAS * 4)
    _, kinds = finetune.build_mix([], 0, words, extra_books=[("Pip and Mara", book)])
    assert kinds["outline"] > 0 and kinds["formal"] > 0
    assert kinds["section"] == kinds["story"] == kinds["title"] == kinds["fable"] == 0


def test_encode_example_keeps_the_prompt_tokens_the_app_sends(tmp_path):
    from transformers import AutoTokenizer

    from nlg_assistant.training import data

    tok = AutoTokenizer.from_pretrained(
        SHIPPED
    )  # the real one: it has a ".\n" token, a merge across the join
    joined = tok("The end.\nThen", add_special_tokens=False)["input_ids"]
    assert tok("The end.", add_special_tokens=False)["input_ids"][-1] not in joined
    for prompt, target in [("The end.", "\nThen more."), ("Topic: x\n1.", " A\n2. B\n"), ("a", "")]:
        ids = finetune.encode_example(tok, (prompt, target))
        head = tok(prompt, add_special_tokens=False)["input_ids"]
        assert ids[: len(head)] == head and tok.decode(ids) == prompt + target
    n = finetune.write_mix(tok, [("The end.", "\nThen more.")], tmp_path / "mix.bin")
    rows = data.open_tokens(tmp_path / "mix.bin")
    assert n == len(rows) and rows[0] == tok.bos_token_id and rows[-1] == tok.eos_token_id


def test_arrange_keeps_outlines_in_runs_and_loses_nothing():
    tagged = [("outline", (f"o{i}", "")) for i in range(9)] + [("formal", (f"f{i}", "")) for i in range(20)]
    out = finetune.arrange(list(tagged), random.Random(0), {"outline": 3, "formal": 2})
    assert sorted(out) == sorted(e for _, e in tagged)
    kinds = "".join(p[0] for p, _ in out)
    assert kinds.count("ooo") == 3  # three runs of three outlines, whatever the shuffle
    assert all(len(run) % 2 == 0 for run in kinds.replace("o", " ").split())  # formal ones in pairs
