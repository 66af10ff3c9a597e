"""Prompt builders: turn a task's fields into a `Prompt` that a base or a chat model can use.

Pure Python (no torch, no gradio). Every builder returns both forms of the same task:
`document`, plain text a base model continues, and `messages`, system/user (and, for
few-shot, assistant) turns for a model with a chat template; plus `stop` strings and
`notices` (what the builder left out or changed). With a `TokenBudget` the builders keep
the prompt within `budget.limit` tokens as counted by `budget.count` (both forms are
checked; leave a margin for chat-template tokens and for the tokens to be generated).
Bad input raises `PromptError`, whose message is fit to show a user.

>>> from nlg_assistant.backend import TokenBudget
>>> p = build_story("The door creaked open.", memory="Mara, a retired locksmith.")
>>> p.document
'[Memory: Mara, a retired locksmith.]\\n\\nThe door creaked open.'
>>> [m["role"] for m in p.messages]
['system', 'user']
>>> words = TokenBudget(count=lambda s: len(s.split()), limit=60)
>>> p = build_fewshot([("hi", "Hello."), ("thx", "Thank you.")], "bye", budget=words)
>>> p.document.endswith("### Input:\\nbye\\n\\n### Output:\\n")
True
>>> parse_outline("1. Intro\\n2) Why it matters\\n\\n  3.  Next steps")
['Intro', 'Why it matters', 'Next steps']
>>> build_outline("Urban beekeeping").document.endswith("one numbered heading per line:\\n1.")
True
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .backend import Prompt, TokenBudget

MAX_EXAMPLES = 8
MIN_LENGTH_WORDS, MAX_LENGTH_WORDS = 50, 20000
INPUT_TAG, OUTPUT_TAG = "### Input:", "### Output:"
FEWSHOT_STOP = ("\n" + INPUT_TAG, "\n" + OUTPUT_TAG)
SECTION_STOP = ("\n## ", "\n# ")
OUTLINE_STOP = ("\nTopic:",)
OUTLINE_PREFIX = "1."  # the document form ends with it: the outline's text starts after it
MAX_HEADING_CHARS = 80  # a drafted "heading" can be a whole paragraph; prompts use at most this much

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


# ---------------------------------------------------------------------------- story continuation

_STORY_SYSTEM = (
    "You are a fiction co-writer. Continue the user's story from exactly where it stops, in the "
    "same voice, tense and style. Write only the continuation: no title, no comments, and do not "
    "repeat the text you were given."
)


def _story_header(memory: str, style: str) -> str:
    """The compact notes block that precedes the story in the document form."""
    lines = [f"[Memory: {memory}]" if memory else "", f"[Style: {style}]" if style else ""]
    header = "\n".join(line for line in lines if line)
    return header + "\n\n" if header else ""


def _story_forms(story: str, memory: str, style: str) -> tuple[str, Messages]:
    """Document and chat forms of a story continuation with the given (possibly trimmed) story."""
    notes = "".join(f"\n\n{label}:\n{text}" for label, text in (("Memory", memory), ("Style", style)) if text)
    messages = _messages(_STORY_SYSTEM + notes, ("user", f"Continue this story:\n\n{story}"))
    return _story_header(memory, style) + story, messages


def build_story(
    story: str,
    memory: str = "",
    style: str = "",
    budget: TokenBudget | None = None,
    *,
    chat: bool | None = None,
    what: str = "story",
) -> Prompt:
    """A prompt that continues `story`, keeping `memory` (characters, setting) and `style` notes.

    The document is the notes header followed by the story itself, so a base model continues
    the story seamlessly; trailing spaces and tabs are dropped (a trailing space makes BPE
    models continue badly) but trailing newlines are kept. With a `budget`, the story is cut
    from the left at a paragraph, line or word boundary so that notes plus story end fit;
    the notes are always kept and a notice says how much was left out. `chat` picks the form
    the budget applies to (True: messages, False: document, None: both), see `BackendInfo.chat`.
    `what` names the text in messages ("story", or "article" when Continue extends an article).
    """
    text = _required(story, what, "write a few sentences for the model to continue.").rstrip(" \t")
    notes = (_block(memory), _block(style))

    def render(part: str) -> tuple[str, Messages]:
        return _story_forms(part, *notes)

    def counted(part: str) -> tuple[str, Messages]:
        return _counted(render(part), chat)

    _check_fits(counted(""), budget, "shorten the memory and style notes.")
    kept, notices = _fit_tail(text.lstrip("\n"), counted, budget, what)
    document, messages = render(kept)
    return Prompt(document=document, messages=messages, notices=notices)


# ---------------------------------------------------------------------------- topic to article


@dataclass(frozen=True)
class _Brief:
    """The cleaned fields shared by the outline and section prompts."""

    topic: str
    keywords: str
    audience: str
    tone: str
    length_words: int

    @classmethod
    def from_fields(cls, topic: str, keywords: str, audience: str, tone: str, length_words: int) -> _Brief:
        """Clean and validate the article fields; raises `PromptError` for an empty topic or bad length."""
        subject = _one_line(topic)
        if not subject:
            raise PromptError("The topic is empty: describe what the article should be about.")
        length = _whole_number(length_words, "The target length")
        if not MIN_LENGTH_WORDS <= length <= MAX_LENGTH_WORDS:
            raise PromptError(
                f"The target length must be between {MIN_LENGTH_WORDS} and {MAX_LENGTH_WORDS} words "
                f"(got {length})."
            )
        return cls(subject, _one_line(keywords), _one_line(audience), _one_line(tone), length)

    def lines(self) -> str:
        """'Field: value' lines for the non-empty fields, then the target length."""
        fields = {"Topic": self.topic, "Keywords": self.keywords}
        fields |= {"Audience": self.audience, "Tone": self.tone}
        rows = [f"{name}: {value}" for name, value in fields.items() if value]
        return "\n".join([*rows, f"Length: about {self.length_words} words"])


def _whole_number(value: object, what: str) -> int:
    """`value` as an int (a whole float such as a slider's 600.0 is accepted)."""
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole:
        raise PromptError(f"{what} must be a whole number (got {value!r}).")
    return int(value)


def suggested_sections(length_words: int) -> int:
    """How many sections an outline should have for an article of about `length_words` words (3-8)."""
    return max(3, min(8, round(length_words / 150)))


def build_outline(
    topic: str,
    keywords: str = "",
    audience: str = "",
    tone: str = "",
    length_words: int = 600,
    budget: TokenBudget | None = None,
    *,
    chat: bool | None = None,
) -> Prompt:
    """A prompt asking for an article outline: numbered section headings, one per line.

    It asks for `suggested_sections(length_words)` sections. The document form ends with
    `OUTLINE_PREFIX` ("1."), so a base model's text continues the first heading. The user may
    edit the result; `parse_outline` reads it back. Raises `PromptError` for an empty topic,
    a target length outside 50-20000 words, or fields too long for the budget (`chat` as in
    `build_story`).
    """
    brief = _Brief.from_fields(topic, keywords, audience, tone, length_words)
    sections = suggested_sections(brief.length_words)
    # the document opens the list, so a base model writes numbered headings rather than prose
    ask = f"Outline of the article in {sections} sections, one numbered heading per line:\n{OUTLINE_PREFIX}"
    system = (
        "You plan articles. Reply with the outline only: numbered section headings, one per "
        "line, with no other text."
    )
    user = f"{brief.lines()}\n\nWrite an outline with exactly {sections} sections."
    forms = (f"{brief.lines()}\n\n{ask}", _messages(system, ("user", user)))
    _check_fits(_counted(forms, chat), budget, "shorten the topic and keywords.")
    return Prompt(document=forms[0], messages=forms[1], stop=OUTLINE_STOP)


def _numbered(headings: Sequence[str], first: int = 0) -> str:
    """Headings as a numbered list (numbers from `first` + 1), one per line."""
    return "\n".join(f"{i}. {heading}" for i, heading in enumerate(headings, first + 1))


def _section_forms(
    brief: _Brief, headings: Sequence[str], index: int, written: str, span: int
) -> tuple[str, Messages]:
    """Document and chat forms for writing section `index` after the (possibly trimmed) `written`.

    The outline shows the headings within `span` of the current one (all of them when it fits).
    """
    words = max(30, round(brief.length_words / len(headings)))
    heading = headings[index]
    first = max(0, index - span)
    outline = _numbered(headings[first : index + span + 1], first)
    article = f"{written}\n\n" if written else ""
    document = f"{brief.lines()}\n\nOutline:\n{outline}\n\nArticle:\n\n{article}## {heading}\n"
    system = (
        "You write an article one section at a time. Write only the body of the section you are "
        f"asked for, about {words} words, fitting the audience and tone. Do not repeat its heading, "
        "do not write other sections, and add no comments."
    )
    so_far = written or "(nothing yet)"
    user = (
        f"{brief.lines()}\n\nOutline:\n{outline}\n\nArticle so far:\n{so_far}\n\n"
        f"Write section {index + 1} of {len(headings)}: {heading}"
    )
    return document, _messages(system, ("user", user))


def _outline_span(
    brief: _Brief, headings: Sequence[str], index: int, budget: TokenBudget | None, chat: bool | None
) -> int:
    """The widest outline window around section `index` whose prompt (without article) fits the budget."""
    spans = (len(headings), 2, 1, 0)
    if budget is None:
        return spans[0]
    _check_budget(budget)
    for span in spans:
        if (
            _measure(_counted(_section_forms(brief, headings, index, "", span), chat), budget.count)
            <= budget.limit
        ):
            return span
    return 0  # even the current heading alone is too long: _check_fits says what to shorten


def outline_headings(outline: str) -> list[str]:
    """The section headings of an outline, each cut to `MAX_HEADING_CHARS` at a word boundary."""
    return [_clip(heading) for heading in parse_outline(outline)]


def _clip(heading: str) -> str:
    """`heading` cut to at most `MAX_HEADING_CHARS` characters, at a word boundary when there is one."""
    if len(heading) <= MAX_HEADING_CHARS:
        return heading
    cut = heading[:MAX_HEADING_CHARS].rsplit(" ", 1)[0]
    return (cut or heading[:MAX_HEADING_CHARS]).rstrip(" ,;:-") + "…"


def build_section(
    topic: str,
    outline: str,
    section_index: int,
    written: str = "",
    keywords: str = "",
    audience: str = "",
    tone: str = "",
    length_words: int = 600,
    budget: TokenBudget | None = None,
    *,
    chat: bool | None = None,
) -> Prompt:
    """A prompt that writes the body of section `section_index` (0-based) of `outline`.

    `written` is the article so far; under a `budget` it is trimmed from the left (with a notice),
    while the brief, the current heading and the nearest outline headings are kept (the whole
    outline when it fits; headings are cut to `MAX_HEADING_CHARS`). The target is about
    `length_words` / number of sections words. The
    stop strings end the output where a base model would start the next "## " heading.
    `chat` as in `build_story`.
    """
    brief = _Brief.from_fields(topic, keywords, audience, tone, length_words)
    headings = outline_headings(outline)
    if not headings:
        raise PromptError("The outline is empty: write or generate at least one section heading.")
    index = _whole_number(section_index, "The section number")
    if not 0 <= index < len(headings):
        raise PromptError(f"There is no section {index + 1}: the outline has {len(headings)} section(s).")
    span = _outline_span(brief, headings, index, budget, chat)

    def render(part: str) -> tuple[str, Messages]:
        return _section_forms(brief, headings, index, part, span)

    def counted(part: str) -> tuple[str, Messages]:
        return _counted(render(part), chat)

    _check_fits(counted(""), budget, "shorten the topic, keywords or the current heading.")
    kept, notices = _fit_tail(clean_text(written).strip(), counted, budget, "article so far")
    document, messages = render(kept)
    return Prompt(document=document, messages=messages, stop=SECTION_STOP, notices=notices)


# ---------------------------------------------------------------------------- outline parsing

_HASH = re.compile(r"(#{1,6})\s+")
_BULLET = re.compile(r"[-*+\u2022\u2023\u25e6\u25aa]\s+")
_NUMBER = re.compile(
    r"\(?(?P<num>\d{1,3}(?:\.\d{1,3})*)[ \t]*(?:[.)]|[-\u2013\u2014])[ \t]*(?=\D)"  # 1.  1)  (1)  1.2.  1 -
    r"|(?P<multi>\d{1,3}(?:\.\d{1,3})+)\s+"  # 1.2 Heading
    r"|(?P<roman>(?=[IVX])X{0,3}(?:IX|IV|V?I{0,3}))[.)]\s+"  # IV. Heading
    r"|(?P<letter>[A-Za-z])[.)]\s+"  # a) Heading
    r"|(?P<label>(?i:section|part|chapter|step)\s+\d{1,3})\s*[:.)\u2013\u2014-]?\s*"  # Section 2: Heading
)
_RULE = re.compile(r"[-=*_#~`.|:\s]*")


@dataclass(frozen=True)
class _Line:
    """One non-empty outline line: how it is marked, its indent, its nesting rank, its text."""

    kind: str  # "number", "hash", "bullet" or "plain"
    indent: int
    rank: tuple[int, ...]
    text: str


def _tidy(text: str) -> str:
    """Heading text without bold/underline markup and with single spaces; "" for rules like '---'."""
    text = " ".join(text.replace("**", "").replace("__", "").split())
    return "" if _RULE.fullmatch(text) else text


def _number_rank(match: re.Match[str]) -> tuple[int, ...]:
    """Nesting rank of a numbering: 1 < 1.2 < a); roman and 'Section n' count as top level."""
    digits = match.group("num") or match.group("multi")
    if digits:
        return (0, digits.count("."))
    return (1, 0) if match.group("letter") else (0, 0)


def _parse_line(raw: str) -> _Line | None:
    """Classify one outline line by its marker ('1.', '#', '-', none) and extract its text."""
    line = raw.expandtabs(4)
    indent = len(line) - len(line.lstrip())
    text, kind, rank = line.strip(), "plain", (0, 0)
    if match := _HASH.match(text):
        text, kind, rank = text[match.end() :], "hash", (len(match.group(1)), 0)
    elif match := _BULLET.match(text):
        text, kind = text[match.end() :], "bullet"
    text = text.replace("**", "").strip()
    if match := _NUMBER.match(text):
        text, kind, rank = text[match.end() :], "number", _number_rank(match)
    heading = _tidy(text)
    return _Line(kind, indent, rank, heading) if heading else None


def _top_level(group: list[_Line]) -> list[str]:
    """Texts of the outermost lines of one kind: least indented (give or take stray spaces), lowest rank.

    For markdown headings, a single top-level heading above deeper ones is a title and is skipped.
    """
    least = min(line.indent for line in group)
    slack = 2 if group[0].kind == "bullet" else 3  # nested items sit under the text of "- " / "1. "
    group = [line for line in group if line.indent < least + slack]
    ranks = sorted({line.rank for line in group})
    top = ranks[0]
    if group[0].kind == "hash" and len(ranks) > 1 and sum(line.rank == top for line in group) == 1:
        top = ranks[1]
    return [line.text for line in group if line.rank == top]


def parse_outline(outline: str) -> list[str]:
    """Section headings from an outline text, as typed or edited by the user.

    Understands numbered lines ("1.", "1)", "(1)", "1.2", "IV.", "a)", "Section 2:"), bullets
    ("-", "*", "+", "\u2022"), markdown "#" headings and plain lines; ignores blank lines, rules
    and stray whitespace. When some lines are numbered, only those are headings (sub-items and
    a chat model's preamble are skipped); else markdown headings, else bullets, else every line
    but a chat model's framing ("Sure! Here is an outline.", "I hope this helps!").
    """
    lines = [parsed for raw in clean_text(outline).split("\n") if (parsed := _parse_line(raw))]
    for kind in ("number", "hash", "bullet"):
        group = [line for line in lines if line.kind == kind]
        if group:
            return [text.rstrip(":").strip() or text for text in _top_level(group)]
    texts = [line.text for line in lines]
    while len(texts) > 1 and _is_chatter(texts[0]):  # "Sure! Here is an outline:" before the headings
        texts = texts[1:]
    while len(texts) > 1 and _is_chatter(texts[-1]):  # "I hope this helps!" after them
        texts = texts[:-1]
    return [text.rstrip(":").strip() or text for text in texts]


_CHATTER = re.compile(
    r"(?i)(sure|certainly|of course|okay|ok|absolutely|great|here(?:'s| is| are)|below is|"
    r"i hope|hope this|let me know|feel free)\b"
)


def _is_chatter(text: str) -> bool:
    """True for a chat model's framing line around an outline (a lead-in ending in ':', 'Sure!...')."""
    return text.endswith(":") or bool(_CHATTER.match(text))


# ---------------------------------------------------------------------------- few-shot

_FEWSHOT_SYSTEM = (
    "Follow the pattern shown by the examples: for each input, write the matching output. "
    "Reply with the output only."
)
# A line that would read as a block delimiter: "### Output:", "##input :", ...
_DELIMITER = re.compile(r"#{2,}[ \t]*(input|output)[ \t]*:", re.IGNORECASE)


def _neutralise(text: str) -> str:
    """`text` with anything that looks like an Input/Output delimiter defused ('### Output:' -> 'Output:')."""
    return _DELIMITER.sub(lambda match: f"{match.group(1)}:", text)


def _usable_pairs(examples: Sequence[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """Cleaned (input, output) pairs with text on both sides, and notices for half-empty ones."""
    pairs, notices = [], []
    for number, example in enumerate(examples or (), 1):
        if not isinstance(example, (tuple, list)) or len(example) != 2:
            raise PromptError(f"Example {number} must be an (input, output) pair.")
        source, target = _block(example[0]), _block(example[1])
        if source and target:
            pairs.append((source, target))
        elif source or target:
            notices.append(f"Example {number} was skipped: its input or its output is empty.")
    if not pairs:
        raise PromptError("There are no examples: add at least one example with an input and an output.")
    if len(pairs) > MAX_EXAMPLES:
        raise PromptError(f"Use at most {MAX_EXAMPLES} examples (got {len(pairs)}): remove some.")
    return pairs, notices


def _example_block(source: str, target: str) -> str:
    """One example in the document form."""
    return f"{INPUT_TAG}\n{source}\n\n{OUTPUT_TAG}\n{target}\n\n"


def _fewshot_forms(
    instruction: str, pairs: Sequence[tuple[str, str]], new_input: str
) -> tuple[str, Messages]:
    """Document and chat forms of a few-shot prompt with these example pairs."""
    head = f"{instruction}\n\n" if instruction else ""
    blocks = "".join(_example_block(source, target) for source, target in pairs)
    document = f"{head}{blocks}{INPUT_TAG}\n{new_input}\n\n{OUTPUT_TAG}\n"
    turns = [turn for s, t in pairs for turn in (("user", s), ("assistant", t))]
    return document, _messages(instruction or _FEWSHOT_SYSTEM, *turns, ("user", new_input))


def _fit_examples(
    instruction: str,
    pairs: list[tuple[str, str]],
    new_input: str,
    budget: TokenBudget | None,
    chat: bool | None,
) -> list[tuple[str, str]]:
    """The newest examples that fit the budget with the instruction and the new input (at least one)."""
    if budget is None:
        return pairs
    count, limit = budget.count, budget.limit

    def used(keep: int) -> int:
        """Tokens of the counted form(s) with the newest `keep` examples."""
        forms = _fewshot_forms(instruction, pairs[len(pairs) - keep :], new_input)
        return _measure(_counted(forms, chat), count)

    bare = _counted(_fewshot_forms(instruction, [], new_input), chat)
    _check_fits(bare, budget, "shorten the new input or the instruction.")
    fixed = used(0)
    sizes = [count(_example_block(source, target)) for source, target in pairs]
    keep = len(pairs)
    while keep and fixed + sum(sizes[-keep:]) > limit:  # estimate from one count per example
        keep -= 1
    while keep and used(keep) > limit:  # the joins may tokenize differently from the parts
        keep -= 1
    if not keep:
        raise PromptError(
            f"Even the most recent example does not fit in the model's context ({limit} tokens) "
            "next to the new input: shorten that example or the input."
        )
    return pairs[-keep:]


def _defused(
    instruction: str, pairs: list[tuple[str, str]], new_input: str
) -> tuple[str, list[tuple[str, str]], str, tuple[str, ...]]:
    """Instruction, pairs and input with delimiter look-alikes defused, plus a notice if any were."""
    safe = [(_neutralise(source), _neutralise(target)) for source, target in pairs]
    safe_instruction, safe_input = _neutralise(instruction), _neutralise(new_input)
    changed = safe != pairs or safe_instruction != instruction or safe_input != new_input
    notice = f"Text that looked like '{INPUT_TAG}' or '{OUTPUT_TAG}' was changed so it cannot start a block."
    return safe_instruction, safe, safe_input, (notice,) if changed else ()


def build_fewshot(
    examples: Sequence[tuple[str, str]],
    new_input: str,
    instruction: str = "",
    budget: TokenBudget | None = None,
    *,
    chat: bool | None = None,
) -> Prompt:
    """A few-shot prompt: 1-8 (input, output) examples, then `new_input` for the model to answer.

    Document form: optional instruction, then "### Input:" / "### Output:" blocks ending in an
    open "### Output:"; the stop strings end the output where the next block would begin. Chat
    form: the examples as alternating user/assistant turns. Delimiter look-alikes in user text
    are defused; pairs with an empty side are skipped; under a `budget` the oldest examples
    are dropped first (at least one is kept). Raises `PromptError` for an empty input, 0 or
    more than 8 usable examples, or an input that cannot fit (`chat` as in `build_story`).
    """
    text = _block(_required(new_input, "new input", "type the text the examples should be applied to."))
    pairs, skipped = _usable_pairs(examples)
    instruction, pairs, text, defused = _defused(_block(instruction), pairs, text)
    kept = _fit_examples(instruction, pairs, text, budget, chat)
    dropped = len(pairs) - len(kept)
    which = "oldest example was" if dropped == 1 else f"{dropped} oldest examples were"
    left_out = (f"The {which} left out to fit the model's context.",)
    notices = (*skipped, *defused, *(left_out if dropped else ()))
    document, messages = _fewshot_forms(instruction, kept, text)
    return Prompt(document=document, messages=messages, stop=FEWSHOT_STOP, notices=notices)


# ---------------------------------------------------------------------------- presets and registry


@dataclass(frozen=True)
class Preset:
    """A ready-made few-shot task: an instruction and example (input, output) pairs.

    `one_line`: the outputs are single lines (headlines...), so generation stops at the end of
    the line. Every preset fits the bundled model's 512-token window at default settings.
    """

    name: str
    instruction: str
    examples: tuple[tuple[str, str], ...]
    one_line: bool = False


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "Formal rewrite",
            "Rewrite the informal message in a polite, formal register. Keep its meaning.",
            (
                (
                    "hey, can't make it tmrw, something came up. can we move it?",
                    "I am afraid I will not be able to attend tomorrow because of an unexpected "
                    "commitment. Would it be possible to reschedule?",
                ),
                (
                    "the report's late cuz the data was a total mess",
                    "The report has been delayed because the source data required extensive cleaning.",
                ),
                (
                    "thx a lot for helping out last week, u really saved us",
                    "Thank you very much for your help last week; it made a decisive difference to our team.",
                ),
            ),
        ),
        Preset(
            "Product description",
            "Write a short, vivid product description from the product notes.",
            (
                (
                    "Steel water bottle, 750 ml, keeps drinks cold 24 h",
                    "Stay refreshed all day: this 750 ml steel bottle keeps drinks ice-cold for 24 hours.",
                ),
                (
                    "Wireless earbuds, noise cancelling, 30 h battery",
                    "Shut out the world with noise cancelling and enjoy up to 30 hours of music.",
                ),
                (
                    "Wool hiking socks, pack of 3, cushioned sole",
                    "Soft wool and a cushioned sole keep your feet warm and comfortable on every trail.",
                ),
            ),
        ),
        Preset(
            "Headline",
            "Write a concise, accurate news headline for the paragraph.",
            (
                (
                    "The city council voted on Tuesday to add 40 km of protected bike lanes, paid for "
                    "by a new parking fee.",
                    "Council Approves 40 km of Bike Lanes, Funded by Parking Fee",
                ),
                (
                    "A study found that a short walk after meals reduced blood sugar spikes in adults.",
                    "Short Walk After Meals Cuts Blood Sugar Spikes, Study Finds",
                ),
                (
                    "After a student petition, the library will stay open until midnight during exams.",
                    "Library to Stay Open Until Midnight During Exams",
                ),
            ),
            one_line=True,
        ),
    )
}
