"""The writer's document: history, the generated span, counts and files (pure Python)."""

import doctest

import pytest

from nlg_assistant import document as doc
from nlg_assistant.document import DocumentError


def test_doctests_run():
    assert doctest.testmod(doc).failed == 0


def test_undo_and_redo_walk_five_steps_both_ways():
    history = doc.new_history()
    states = [{"story": f"v{i}", "memory": "m"} for i in range(6)]
    for before in states[:-1]:
        history = doc.record(history, before)
    current = states[-1]
    for expected in reversed(states[:-1]):
        current, history = doc.undo(history, current)
        assert current == expected
    assert doc.undo(history, current)[0] is None
    for expected in states[1:]:
        current, history = doc.redo(history, current)
        assert current == expected
    assert doc.counts(history) == (5, 0)


def test_a_new_change_clears_redo_and_repeats_are_one_step():
    history = doc.record(doc.new_history(), {"story": "a"})
    _, history = doc.undo(history, {"story": "b"})
    assert doc.counts(history) == (0, 1)
    history = doc.record(history, {"story": "a"})
    history = doc.record(history, {"story": "a"})
    assert doc.counts(history) == (1, 0)


def test_a_change_recorded_with_after_is_one_step_with_the_change_that_follows_from_it():
    before, picked = {"story": "A fox ran", "memory": "m"}, {"story": "A cat", "memory": "m"}
    history = doc.record(doc.record(None, {"story": "older"}), before, after=picked)
    history = doc.record(history, picked)  # the generation the pick resumed: no step of its own
    written = {"story": "A cat sat.", "memory": "m"}
    assert doc.counts(history) == (2, 0)
    back, history = doc.undo(history, written)
    assert back == before
    assert doc.redo(history, back)[0] == written
    other = doc.record(doc.record(None, before, after=picked), {"story": "A cat!", "memory": "m"})
    assert doc.counts(other) == (2, 0)  # anything else is a step of its own, and ends the joining
    assert "joins" not in other and "joins" not in doc.undo(history, written)[1]


def test_history_keeps_at_least_fifty_steps_and_is_bounded():
    history = doc.new_history()
    for i in range(200):
        history = doc.record(history, {"story": str(i)})
    undo_count, _ = doc.counts(history)
    assert 50 <= undo_count <= 200
    assert history["undo"][-1] == {"story": "199"}
    big = doc.new_history()
    for i in range(60):
        big = doc.record(big, {"story": str(i) * 100_000})
    assert sum(len(s["story"]) for s in big["undo"]) <= 1_100_000
    assert big["undo"][-1]["story"].startswith("59")


@pytest.mark.parametrize("junk", [None, "x", {"undo": "no"}, {"undo": [1, None, {"story": "ok"}]}])
def test_malformed_history_from_the_browser_is_tolerated(junk):
    snapshot, history = doc.undo(junk, {"story": "now"})
    assert snapshot in (None, {"story": "ok"})
    assert isinstance(history["undo"], list) and isinstance(history["redo"], list)


def test_generated_span_lives_until_the_writer_edits_it():
    document = "Once upon a time"
    span = doc.span_of(document + " there was a fox.", len(document))
    assert span == {"start": 16, "text": " there was a fox."}
    full = document + " there was a fox."
    assert doc.live_span(full, span) == span
    assert doc.without_span(full, span) == document
    edited = full.replace("fox", "cat")
    assert doc.live_span(edited, span) is None
    assert doc.without_span(edited, span) == edited
    assert doc.live_span(full + " More.", span) is None  # text after the span: no longer the last span
    assert doc.live_span(full, {"start": "0", "text": 5}) is None


@pytest.mark.parametrize(
    ("text", "words", "chars"),
    [
        ("Once upon a time", 4, 16),
        ("Hello, world! -- end", 3, 20),
        ("从前有一座山", 6, 6),
        ("A 大 cat 猫.", 4, 10),
        ("line one\r\nline two\n", 4, 16),
        ("", 0, 0),
    ],
)
def test_counts_words_and_characters_as_writers_do(text, words, chars):
    assert doc.word_count(text) == words
    assert doc.char_count(text) == chars


FIELDS = ("story", "memory", "style")


@pytest.mark.parametrize(
    "fields",
    [
        {"story": "It rained.\n\nThen it stopped.", "memory": "Ann, a baker.\nBen, her son.", "style": ""},
        {"story": "  indented\n", "memory": "ends with newline\n", "style": "  lead space\ntwo"},
        {"story": "---\nnot front matter\n---", "memory": 'quotes " and \\ and: colons', "style": "中文风格"},
        {"story": "", "memory": "trailing space \nline", "style": "#hash\n  - dash"},
    ],
)
def test_markdown_round_trips_every_field(fields):
    text = doc.to_markdown("story", fields)
    assert text.startswith("---\nnlg-assistant: story\n")
    assert doc.from_markdown(text, FIELDS, "story") == fields
    assert doc.from_markdown(text.replace("\n", "\r\n"), FIELDS, "story") == fields


def test_non_text_fields_come_back_as_text():
    text = doc.to_markdown("article", {"article": "Body", "length_words": 600, "outline": "1. A\n2. B"})
    back = doc.from_markdown(text, ("topic", "outline", "length_words", "article"), "article")
    assert back == {"outline": "1. A\n2. B", "length_words": "600", "article": "Body"}


def test_plain_text_opens_as_the_document():
    assert doc.from_markdown("\ufeffJust a story.\n", FIELDS, "story") == {"story": "Just a story."}


@pytest.mark.parametrize(
    ("text", "reason"),
    [("---\nmemory: x\nno end", "never closed"), ("---\n: bad\n---\nbody", "not 'name: value'")],
)
def test_malformed_front_matter_says_why(text, reason):
    with pytest.raises(DocumentError, match=reason):
        doc.from_markdown(text, FIELDS, "story")


def test_uploads_are_capped_and_text_only():
    assert doc.decode_upload("\ufeffHé 你".encode(), 100) == "Hé 你"
    with pytest.raises(DocumentError, match="up to 10 bytes"):
        doc.decode_upload(b"x" * 11, 10)
    with pytest.raises(DocumentError, match="binary"):
        doc.decode_upload(b"PK\x03\x04\x00\x00", 100)
    with pytest.raises(DocumentError, match="UTF-8"):
        doc.decode_upload("caf\xe9".encode("latin-1"), 100)
