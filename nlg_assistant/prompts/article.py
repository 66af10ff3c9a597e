"""Topic-to-article prompt builders: the outline request, each section, and outline parsing (pure Python)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..backend import Prompt, TokenBudget
from .common import (
    Messages,
    PromptError,
    _check_budget,
    _check_fits,
    _counted,
    _fit_tail,
    _measure,
    _messages,
    _one_line,
    _whole_number,
    clean_text,
)
from .fewshot import FEWSHOT_STOP

MIN_LENGTH_WORDS, MAX_LENGTH_WORDS = 50, 20000
SECTION_STOP = ("\n## ", "\n# ", *FEWSHOT_STOP)  # the next heading; the few-shot layout never belongs
OUTLINE_STOP = ("\nTopic:",)
OUTLINE_PREFIX = "1."  # the document form ends with it: the outline's text starts after it
MAX_HEADING_CHARS = 80  # a drafted "heading" can be a whole paragraph; prompts use at most this much


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


def numbered_headings(headings: Sequence[str], first: int = 0) -> str:
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
    outline = numbered_headings(headings[first : index + span + 1], first)
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


def _spans(
    brief: _Brief, headings: Sequence[str], index: int, budget: TokenBudget | None, chat: bool | None
) -> list[int]:
    """Outline windows around section `index` to try, widest first: those whose prompt (without the
    article) fits the budget, or just the current heading when none does."""
    spans = [len(headings), 2, 1, 0]
    if budget is None:
        return spans[:1]
    _check_budget(budget)
    fitting = [
        span
        for span in spans
        if _measure(_counted(_section_forms(brief, headings, index, "", span), chat), budget.count)
        <= budget.limit
    ]
    return fitting or [0]


def outline_headings(outline: str) -> list[str]:
    """The section headings of an outline, each cut to `MAX_HEADING_CHARS` at a word boundary.

    Headings without a letter or digit (a stray "]" a small model wrote) are left out.
    """
    return [_clip(heading) for heading in parse_outline(outline) if any(c.isalnum() for c in heading)]


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
    written = clean_text(written).strip()
    for span in _spans(brief, headings, index, budget, chat):

        def render(part: str, span: int = span) -> tuple[str, Messages]:
            return _section_forms(brief, headings, index, part, span)

        def counted(part: str) -> tuple[str, Messages]:
            return _counted(render(part), chat)

        _check_fits(counted(""), budget, "shorten the topic, keywords or the current heading.")
        try:
            kept, notices = _fit_tail(written, counted, budget, "article so far")
        except PromptError:  # no room for the article next to these headings: try fewer, then none
            continue
        document, messages = render(kept)
        return Prompt(document=document, messages=messages, stop=SECTION_STOP, notices=notices)
    document, messages = render("")
    notice = "The article so far was left out of the prompt to fit the model's context."
    return Prompt(document=document, messages=messages, stop=SECTION_STOP, notices=(notice,))


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
