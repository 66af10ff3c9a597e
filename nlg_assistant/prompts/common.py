"""What every prompt builder shares: `PromptError`, text cleaning and fitting text into a token budget."""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable

from ..backend import TokenBudget

Messages = tuple[dict[str, str], ...]
Render = Callable[[str], tuple[str, Messages]]


class PromptError(ValueError):
    """The fields cannot make a prompt (empty text, too many examples...); the message is for the user."""


# ---------------------------------------------------------------------------- text cleaning

# C0 controls other than tab and newline confuse tokenizers and UIs; NUL can truncate C strings.
_CONTROL = {code: None for code in range(32) if code not in (9, 10)}
# Lone surrogates cannot be encoded as UTF-8, so a tokenizer would fail on them.
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: object) -> str:
    """`value` as text with NUL and other C0 controls removed (tab and newline kept).

    Line ends become ``\\n``; lone surrogates become U+FFFD; CJK, emoji and everything else
    pass through unchanged. ``None`` gives "".
    """
    if value is None:
        return ""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n").translate(_CONTROL)
    return _SURROGATE.sub("\ufffd", text)


def _one_line(value: object) -> str:
    """A short field (topic, keywords...) cleaned, with all runs of whitespace made one space."""
    return " ".join(clean_text(value).split())


def _block(value: object) -> str:
    """A multi-line field (memory, style, examples) cleaned and stripped at both ends."""
    return clean_text(value).strip()


def _required(value: object, what: str, hint: str) -> str:
    """The cleaned main text of a task; raises `PromptError` when it is empty or only whitespace."""
    text = clean_text(value)
    if not text.strip():
        raise PromptError(f"The {what} is empty: {hint}")
    return text


# ---------------------------------------------------------------------------- budget fitting

_PARAGRAPH_BOUNDARIES = (
    re.compile(r"\n[ \t]*\n\s*"),
    re.compile(r"\n\s*"),
    re.compile(r"[.!?\u2026]['\"\u2019\u201d)\]]*\s+|[\u3002\uff01\uff1f]"),
)
_SPACE = re.compile(r"\s+")


def _measure(forms: tuple[str, Messages], count: Callable[[str], int]) -> int:
    """Tokens of the larger of the two forms (the messages counted as their joined contents)."""
    document, messages = forms
    chat = "\n\n".join(m["content"] for m in messages)
    return max(count(document), count(chat) if chat else 0)


def _counted(forms: tuple[str, Messages], chat: bool | None) -> tuple[str, Messages]:
    """The form(s) the budget applies to: the messages (chat=True), the document (False) or both (None)."""
    if chat is None:
        return forms
    return ("", forms[1]) if chat else (forms[0], ())


def _check_budget(budget: TokenBudget) -> None:
    """Reject a budget that cannot hold any prompt (a caller bug, reported plainly)."""
    if not isinstance(budget.limit, numbers.Integral) or budget.limit < 1:
        raise PromptError(f"The prompt token limit must be a positive whole number (got {budget.limit!r})")


def _snap_start(text: str, start: int) -> int:
    """Move a cut at `start` forward to a paragraph, line, sentence or word start, if one is near.

    A paragraph/line/sentence start is taken within the first fifth of the kept text, a word
    start within its first half; otherwise (e.g. CJK without punctuation) the cut stays.
    """
    if start <= 0 or start >= len(text) or text[start - 1] == "\n":
        return start
    kept = len(text) - start
    for pattern in _PARAGRAPH_BOUNDARIES:
        match = pattern.search(text, start, start + max(1, kept // 5))
        if match:
            return match.end()
    if text[start - 1].isspace():
        return start
    match = _SPACE.search(text, start, start + max(1, kept // 2))
    return match.end() if match else start


def _tail_within(text: str, room: int, count: Callable[[str], int]) -> str:
    """The longest end of `text` counting at most `room` tokens, starting at a boundary.

    Counts the whole text once, then probes tails whose length is first guessed from the
    characters-per-token ratio and then binary-searched: O(log n) counts of about `room` tokens.
    """
    if room <= 0 or not text:
        return ""
    total = count(text)
    if total <= room:
        return text
    n = len(text)
    fits, too_long = 0, n  # tail lengths known to fit / known not to fit
    guess = min(n - 1, n * room // total + 1)  # the characters-per-token estimate
    step = guess // 16 + 1
    while fits < guess < too_long:  # gallop from the estimate until the answer is bracketed
        if count(text[n - guess :]) <= room:
            fits, guess = guess, min(too_long - 1, guess + step)
        else:
            too_long, guess = guess, max(fits, guess - step)
        step *= 2
    while too_long - fits > max(1, fits // 256):
        middle = (fits + too_long) // 2
        if count(text[n - middle :]) <= room:
            fits = middle
        else:
            too_long = middle
    start = _snap_start(text, n - fits) if fits else n
    return text[start:].lstrip()


def _fit_tail(
    text: str, render: Render, budget: TokenBudget | None, what: str
) -> tuple[str, tuple[str, ...]]:
    """Trim `text` from the left so `render(text)` fits the budget; returns (kept text, notices).

    `render` builds (document, messages) around the trimmable text; everything else it adds is
    fixed and must fit on its own. If nothing of `text` fits, `PromptError` says what to shorten.
    """
    if budget is None or not text:
        return text, ()
    _check_budget(budget)
    room = budget.limit - _measure(render(""), budget.count)
    kept = _tail_within(text, room, budget.count)
    for _ in range(4):  # tokens can merge differently across the joins; shrink until it fits
        over = _measure(render(kept), budget.count) - budget.limit if kept else 0
        if over <= 0:
            break
        room -= over
        kept = _tail_within(kept, room, budget.count)
    if not kept or _measure(render(kept), budget.count) > budget.limit:
        raise PromptError(
            f"The {what} does not fit in the model's context ({budget.limit} tokens) next to the "
            "other fields: shorten the other fields."
        )
    return kept, _left_out_notice(text, kept, what)


def _left_out_notice(text: str, kept: str, what: str) -> tuple[str, ...]:
    """A notice saying how much of the start of `text` was left out (none if nothing was)."""
    dropped = len(text) - len(kept)
    if not text[:dropped].strip():
        return ()
    percent = min(99, max(1, round(100 * dropped / len(text))))
    return (
        f"The {what} is too long for the model's context: its first {dropped:,} characters "
        f"(about {percent}%) were left out of the prompt.",
    )


def _check_fits(forms: tuple[str, Messages], budget: TokenBudget | None, hint: str) -> None:
    """Raise `PromptError` when a prompt that cannot be trimmed is over the budget."""
    if budget is None:
        return
    _check_budget(budget)
    used = _measure(forms, budget.count)
    if used > budget.limit:
        raise PromptError(
            f"The prompt is too long: {used} tokens, but the model allows {budget.limit} here; {hint}"
        )


def _messages(system: str, *turns: tuple[str, str]) -> Messages:
    """A system message followed by (role, content) turns."""
    return ({"role": "system", "content": system}, *({"role": r, "content": c} for r, c in turns))


def _whole_number(value: object, what: str) -> int:
    """`value` as an int (a whole float such as a slider's 600.0 is accepted)."""
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole:
        raise PromptError(f"{what} must be a whole number (got {value!r}).")
    return int(value)
