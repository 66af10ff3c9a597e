"""The copy guide: which input tokens continue a rewrite's copy of its input (pure Python)."""

from __future__ import annotations

import random

from nlg_assistant.copy_guide import MAX_MATCH, CopyGuide, CopyIndex


def walk(guide: CopyGuide, answer: list[int]) -> list[tuple[int, ...]]:
    """What the guide favours before each token of `answer` and after the last, asked every step."""
    return [guide.favoured(answer[:end]) for end in range(len(answer) + 1)]


def test_an_empty_answer_starts_at_the_inputs_first_tokens():
    assert CopyGuide(CopyIndex([[5, 6, 7, 8]])).favoured([]) == (5, 6)
    assert CopyGuide(CopyIndex([[5]])).favoured([]) == (5,)
    assert CopyGuide(CopyIndex([[]])).favoured([]) == ()


def test_a_faithful_copy_is_favoured_token_by_token():
    source = [11, 12, 13, 14, 15]
    favoured = walk(CopyGuide(CopyIndex([source])), source)
    assert favoured[1:-1] == [(12,), (13,), (14,), (15,)]  # after each copied token: the next one
    assert favoured[-1] == ()  # the copy is done: the answer may end (nothing pushes it to repeat)


def test_after_an_edit_the_copy_resumes_where_it_left_off():
    """ "cuz" (21) written as "because" (90, 91): after the edit the words that follow "cuz" are favoured."""
    source = [20, 21, 22, 23]  # "he left cuz he ..." in miniature
    guide = CopyGuide(CopyIndex([source]))
    assert guide.favoured([20]) == (21,)  # the copy would write "cuz" next
    assert guide.favoured([20, 90]) == (21, 22)  # an edit: "cuz" or the word after it
    assert guide.favoured([20, 90, 91]) == (21, 22)
    assert guide.favoured([20, 90, 91, 22]) == (23,)  # back on the input


def test_the_longest_suffix_decides_between_repeated_words():
    """ "the" (1) occurs twice; the two tokens before it say which one the answer is at."""
    source = [7, 1, 8, 9, 1, 4]  # "a the cat sat the mat"
    guide = CopyGuide(CopyIndex([source]))
    assert guide.favoured([9, 1]) == (4,)  # "sat the" -> "mat" only
    assert CopyGuide(CopyIndex([source])).favoured([3, 1]) == (4, 8)  # "the" alone: either continuation


def test_the_place_moves_forward_through_repeats():
    """A repeated word moves the place to its first match at or after the place, not back."""
    source = [1, 2, 3, 1, 5, 6]
    guide = CopyGuide(CopyIndex([source]))
    walk(guide, [1, 2, 3, 1])
    assert guide.place == (0, 4)  # the second "1", not the first
    assert guide.favoured([1, 2, 3, 1, 99]) == (5, 6)  # after an edit: the words after the second "1"


def test_asking_now_and_then_equals_asking_every_step():
    """The simple engine asks at every step; another caller may not: the guide walks what it missed."""
    rng = random.Random(0)
    for _ in range(50):
        source = [rng.randrange(6) for _ in range(rng.randrange(1, 12))]
        answer = [rng.choice(source) if rng.random() < 0.7 else rng.randrange(6, 9) for _ in range(15)]
        every = walk(CopyGuide(CopyIndex([source])), answer)[-1]
        sometimes = CopyGuide(CopyIndex([source]))
        for end in sorted(rng.sample(range(len(answer) + 1), 4)):
            sometimes.favoured(answer[:end])
        assert sometimes.favoured(answer) == every


def test_a_new_shorter_answer_starts_a_new_walk():
    guide = CopyGuide(CopyIndex([[1, 2, 3, 4]]))
    walk(guide, [1, 2, 3])
    assert guide.favoured([]) == (1, 2) and guide.place == (0, 0)


def test_suffixes_longer_than_max_match_are_not_needed():
    """A long repeated stretch: only the last `MAX_MATCH` tokens are looked up."""
    source = list(range(10)) * 2
    answer = source[: MAX_MATCH + 6]
    assert CopyGuide(CopyIndex([source])).favoured(answer) == (source[len(answer)],)


def test_a_capitalised_form_is_followed_when_the_answer_starts_with_it():
    """ "and the day" may be written "And the day": both first words start the copy, and the copy then
    goes on in the form the answer took, without pushing the lower-case word back in."""
    written, capital = [40, 41, 42, 43], [50, 41, 42, 43]  # 40 "and", 50 "And"
    guide = CopyGuide(CopyIndex([written, capital]))
    assert guide.favoured([]) == (40, 41, 50)
    assert guide.favoured([50]) == (41,) and guide.place == (1, 1)
    assert guide.favoured([50, 41, 42]) == (43,) and guide.place == (1, 3)
    index = CopyIndex([written, capital])
    assert CopyGuide(index).favoured([50, 41, 99]) == (42, 43)  # an edit: resume in that form
    assert CopyGuide(index).favoured([40]) == (41,)  # the form as written still works


def test_the_place_stays_in_the_form_being_copied():
    """A tail found in both forms keeps the place in the form the copy is in."""
    guide = CopyGuide(CopyIndex([[1, 2, 3, 4], [7, 2, 3, 4]]))
    guide.favoured([7, 2])
    assert guide.place == (1, 2)
    guide.favoured([7, 2, 3])  # "3" follows "2" in both forms
    assert guide.place == (1, 3)
