"""Tests for the per-tab evaluation: scoring rules, task building on held-out-like books, real generation."""

from __future__ import annotations

import pytest
import torch

from nlg_assistant import prompts
from nlg_assistant.training import taskeval

PARAS = [
    "Pip the fox lived at the edge of the green wood with his old mother.",
    "Every morning Pip ran down to the river, where Mara the heron stood fishing.",
    "One day Mara told Pip about a castle beyond the hills, full of golden apples.",
    "So Pip packed a little bag and set out, and Mara flew above him to show the way.",
]
CHAPTERS = ["The Green Wood", "The River", "The Castle", "The Golden Apples", "Home Again"]
BOOK = "\n".join(line for i, t in enumerate(CHAPTERS, 1) for line in (f"CHAPTER {i}", t.upper(), *PARAS * 3))


def words(text: str) -> int:
    return len(text.split())


def test_edit_distance_and_cer():
    assert taskeval.edit_distance("kitten", "sitting") == 3
    assert taskeval.edit_distance("", "abc") == 3 and taskeval.edit_distance("same", "same") == 0
    assert taskeval.cer("thx u", "Thank you.") == pytest.approx(
        taskeval.edit_distance("thx u", "Thank you.") / 10
    )


def test_outline_score_needs_the_asked_number_of_headings():
    task = taskeval.Task("outline", "", prompts.OUTLINE_STOP, 3, "Pip and Mara")
    assert taskeval.score(task, "1. A\n2. B\n3. C")["ok"]  # what the tab shows (`app_outline`)
    assert not taskeval.score(task, "1. A\n2. B")["ok"]
    assert not taskeval.score(task, "1. A\n2. B\n3. C\n4. D")["ok"]


def test_app_outline_is_the_article_tabs_own_outline(tmp_path):
    model, tok = tiny_model(tmp_path)
    task = taskeval.build_tasks([("Pip and Mara", BOOK)], 1, 0, words)[0]
    shown = taskeval.app_outline(taskeval.local_backend(model, tok), task, seed=2)
    assert task.kind == "outline" and task.topic == "Pip and Mara"
    assert [line.split(".")[0] for line in shown.split("\n")] == [str(n + 1) for n in range(task.expected)]


def test_section_score_rejects_apparatus_and_short_output():
    task = taskeval.Task("section", "", prompts.SECTION_STOP, None)
    body = " ".join(PARAS)
    assert taskeval.score(task, f"\n{body}\n\n## Next heading\nmore")["ok"]
    assert not taskeval.score(task, f"\nCHAPTER IV\n{body}")["ok"]
    assert not taskeval.score(task, f"[Illustration: a fox]\n{body}")["ok"]
    assert not taskeval.score(task, "Too short.")["ok"]


def test_formal_and_story_scores():
    formal = taskeval.Task("formal", "", prompts.FEWSHOT_STOP, ("thx u", "Thank you."))
    res = taskeval.score(formal, "Thank you.\n### Input:\nmore")
    assert res["cer"] == 0 and res["cer_input"] > 0.5
    # the preset is one-line: the tab shows the first line only, as the app stops there
    assert taskeval.score(formal, "\nThank you.\nAnd then the story went on and on.")["cer"] == 0
    assert taskeval.score(formal, "Thank you")["cer"] == 0.1  # a stream that ends without a newline
    story = taskeval.Task("story", "", ("\n[Memory:",), ("Mara",))
    assert taskeval.score(story, "Then Mara came back.")["ok"]
    assert not taskeval.score(story, "Then nobody came.\n[Memory: Mara]")["ok"]


def test_build_tasks_uses_the_app_prompts_on_the_given_books():
    tasks = taskeval.build_tasks([("Pip and Mara", BOOK)], 4, 0, words)
    kinds = [t.kind for t in tasks]
    assert {k: kinds.count(k) for k in set(kinds)} == {"outline": 4, "section": 4, "formal": 4, "story": 4}
    for t in tasks:
        if t.kind == "outline":
            assert t.prompt == prompts.build_outline("Pip and Mara", length_words=150 * t.expected).document
        if t.kind == "section":
            assert (
                t.prompt.startswith("Topic: Pip and Mara\n")
                and t.prompt.rstrip("\n").split("\n")[-1][:3] == "## "
            )
        if t.kind == "story":  # scored on what the Story tab shows: cut where the app's stream ends
            assert t.prompt.startswith("[Memory: ") and set(t.expected) <= {"Pip", "Mara"}
            assert t.stops == prompts.build_story(BOOK[:200]).stop
    assert tasks == taskeval.build_tasks([("Pip and Mara", BOOK)], 4, 0, words)  # seeded


def tiny_model(tmp_path):
    """A 1-layer Llama with a tokenizer trained on BOOK."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from nlg_assistant.training import tokenizer as tk

    sp = tk.train_sentencepiece([BOOK] * 3, tmp_path / "sp", 400, 100_000, 0)
    tok = tk.build_hf_tokenizer(sp, tmp_path / "tok")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=1024,
    )
    return LlamaForCausalLM(config).eval(), tok


def test_run_tasks_generates_with_a_real_tiny_model(tmp_path):
    model, tok = tiny_model(tmp_path)
    tasks = taskeval.build_tasks([("Pip and Mara", BOOK)], 1, 0, words)
    res = taskeval.run_tasks(model, tok, tasks, seed=0)
    assert res["outline_tries"] == res["section_tries"] == res["formal_tries"] == res["story_tries"] == 1
    assert 0 <= res["outline_ok_share"] <= 1 and res["formal_cer"] > 0  # an untrained model rewrites nothing
    assert res == taskeval.run_tasks(model, tok, tasks, seed=0)  # same seeds, same figures
    assert set(res["samples"]) == {"outline", "section", "formal", "story"}


def test_formal_tries_are_what_the_api_writes_for_the_preset(tmp_path):
    """The eval's rewrite is the task layer's: the API's few-shot with the preset gives the same text."""
    from nlg_assistant.config import GenerationSettings
    from nlg_assistant.tasks.fewshot import fewshot_from_spec

    model, tok = tiny_model(tmp_path)
    task = next(t for t in taskeval.build_tasks([("Pip and Mara", BOOK)], 1, 0, words) if t.kind == "formal")
    backend = taskeval.local_backend(model, tok)
    shown = taskeval.app_formal(backend, task, seed=5)
    settings = GenerationSettings(max_new_tokens=taskeval.MAX_NEW["formal"], seed=5)
    *_, last = fewshot_from_spec(backend, settings, task.expected[0], "Formal rewrite")
    assert shown == last.text and "\n" not in shown.strip()
