"""v2 data cleaning: drop book apparatus (illustration lists, contents, captions, rules, datelines) and
rewrite chapter headings as ``## Title`` lines, the heading format of the app's article prompts.

Why: the ~0.4% of lines that are apparatus make the v1 model drift into all-caps titles and chapter
numerals; a heading written the way the Article tab writes them teaches that format instead.
Works on one document (a book, one paragraph per line) at a time; pure Python.
"""

from __future__ import annotations

import re

ROMAN = r"[IVXLC]+"
NUMBER_WORDS = (
    "ONE|TWO|THREE|FOUR|FIVE|SIX|SEVEN|EIGHT|NINE|TEN|ELEVEN|TWELVE|THIRTEEN|FOURTEEN|FIFTEEN|"
    "SIXTEEN|SEVENTEEN|EIGHTEEN|NINETEEN|TWENTY|THIRTY|FIRST|SECOND|THIRD|FOURTH|FIFTH|SIXTH|"
    "SEVENTH|EIGHTH|NINTH|TENTH|LAST"
)
# "CHAPTER XI. The Title", "Chapter 3 THE FLIGHT", "PART II HOW ...", "THE SIXTH CHAPTER", "XII", "3."
_LABEL_WORD = r"(?:CHAPTER|Chapter|PART|Part|BOOK|Book|STORY|Story|CANTO|Canto)"
_LABEL_NUMBER = rf"(?:{ROMAN}|\d+|(?i:{NUMBER_WORDS})(?:[- ](?i:{NUMBER_WORDS}))?)"
_LABELLED = re.compile(
    rf"^(?:{_LABEL_WORD}\s+{_LABEL_NUMBER}|THE\s+(?:{NUMBER_WORDS})\s+CHAPTER|(?:{ROMAN}|\d+))"
    r"\b\s*[.:\-\u2014]*\s*(?P<title>.*)$"
)
_APPARATUS_HEADS = re.compile(
    r"^(?:(?:LIST OF |TABLE OF )?(?:ILLUSTRATIONS?|CONTENTS|PLATES|FULL-PAGE ILLUSTRATIONS)"
    r"|(?:List of |Table of )?(?:Illustrations|Contents))\s*[.:]?$"
)
_ILLUSTRATION = re.compile(r"^\[?(?:Illustration|ILLUSTRATION)\b|^\[.*\]$")
_RULE = re.compile(r"^[-=*_~.\s]{3,}")
_SENTENCE_END = re.compile(r"[.!?;,'\"\u201d\u2019)]$")
SHORT = 80  # a heading or list entry is shorter than this (characters)


def title_case(text: str) -> str:
    """ALL-CAPS titles in title case (small words lower-case); mixed-case titles unchanged."""
    if not text.isupper():
        return text
    small = {"a", "an", "the", "and", "or", "of", "in", "on", "to", "at", "by", "for", "with", "from"}
    words = text.lower().split()
    out = [w if (i and w in small) else w[:1].upper() + w[1:] for i, w in enumerate(words)]
    return " ".join(out)


def _heading_title(line: str) -> str | None:
    """The title of a chapter-heading line ("" for a bare label such as "CHAPTER IV"); None if not one."""
    if len(line) >= SHORT:
        return None
    m = _LABELLED.match(line)
    if not m:
        return None
    title = m.group("title").strip(" .:-\u2014")
    if title and (title[0].islower() or len(title.split()) > 12):
        return None  # "3 or 4 of them came" is prose, not a heading
    return title


def _is_caps_title(line: str) -> bool:
    """A short all-caps line without sentence punctuation: a story title inside a collection."""
    letters = [c for c in line if c.isalpha()]
    return 0 < len(line) < SHORT and len(letters) >= 3 and line.isupper() and not _SENTENCE_END.search(line)


def _is_title_like(line: str) -> bool:
    """A line that can be the title after a bare chapter label: short, no sentence ending."""
    return (0 < len(line) < SHORT and not line.endswith((".", "!", "?", ",", ";"))) or _is_caps_title(line)


def _is_list_entry(line: str) -> bool:
    """A line of a contents or illustration list: short, not a sentence."""
    return (len(line) < 100 and not re.search(r"[.!?]['\"\u201d\u2019]?$", line)) or bool(
        re.search(r"\s\d+\.?$", line)
    )


def _is_apparatus(line: str) -> bool:
    """Captions, rules, datelines and other lines that are not prose or a heading."""
    if _ILLUSTRATION.match(line) or _RULE.match(line):
        return True
    stripped = line.strip("\"'\u201c\u201d\u2018\u2019 ")
    quoted_caps = line[:1] in "\"'\u201c\u2018" and stripped.isupper() and len(line) < SHORT
    letters = sum(c.isalpha() for c in line)
    caps_sentence = line.isupper() and letters >= 4 and len(line) < SHORT and bool(_SENTENCE_END.search(line))
    return quoted_caps or caps_sentence


def _list_end(lines: list[str], i: int) -> int:
    """Index after the contents/illustration list starting at `i`, giving back the heading of the first
    chapter ("CHAPTER I" / "CHAPTER I" + title) that sits between the list and the first paragraph."""
    start = i
    while i < len(lines) and _is_list_entry(lines[i].strip()):
        i += 1
    if i - 2 >= start and _heading_title(lines[i - 2].strip()) == "":
        return i - 2
    if i - 1 >= start and _heading_title(lines[i - 1].strip()) is not None:
        return i - 1
    return i


def clean_document(text: str) -> str:
    """One book with apparatus lines dropped and headings as ``## Title`` (a bare label is dropped)."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line:
            continue
        if _APPARATUS_HEADS.match(line):  # skip the whole contents / illustrations list
            i = _list_end(lines, i)
            continue
        title = _heading_title(line)
        if title == "" and i < len(lines) and _is_title_like(lines[i].strip()):
            title = lines[i].strip()  # "CHAPTER IV" then "The Rabbit Sends in a Little Bill"
            i += 1
        if title is None and _is_caps_title(line):
            title = line
        if title is not None:
            if sum(c.isalpha() for c in title) >= 2:
                if out and out[-1].startswith("## "):
                    out.pop()  # book title, part title... directly above: keep the innermost heading
                out.append("## " + title_case(title.strip(" .:-\u2014")))
            continue
        if not _is_apparatus(line):
            out.append(line)
    while out and out[-1].startswith("## "):
        out.pop()
    return "\n".join(out)
