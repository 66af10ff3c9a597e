"""The writer's document, in plain Python (no gradio, no torch): history, the generated span, files, counts.

A tab's work is a `Fields` mapping (field name -> text), e.g. ``{"story": ..., "memory": ..., "style": ...}``.
Everything here is JSON-friendly so that the browser can keep it (autosave) and send it back:

>>> h = record(new_history(), {"story": "Once"})
>>> before, h = undo(h, {"story": "Once upon a time"})
>>> before
{'story': 'Once'}
>>> after, h = redo(h, before)
>>> after
{'story': 'Once upon a time'}
>>> text = to_markdown("story", {"story": "It rained.", "memory": "Ann, a baker"})
>>> from_markdown(text, ("story", "memory", "style"), "story")
{'story': 'It rained.', 'memory': 'Ann, a baker'}
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

Fields = dict[str, Any]

HISTORY_LIMIT = 60  # undo steps kept per tab (the issue asks for at least 50)
HISTORY_CHARS = 1_000_000  # total characters kept in a tab's history: the browser's storage is ~5 MB
FRONT = "---"
FORMAT_KEY = "nlg-assistant"  # the front-matter key that names the tab a file was saved from
JOINS = "joins"  # the history's key for the fields a change left that the next change joins (`record`)


class DocumentError(ValueError):
    """A file could not be opened as a document (its message says why, for the writer)."""


# ---------------------------------------------------------------------------- history


def new_history() -> dict[str, list[Fields]]:
    """An empty history: snapshots to undo to and snapshots to redo to (newest last)."""
    return {"undo": [], "redo": []}


def _size(snapshot: Mapping[str, Any]) -> int:
    return sum(len(str(value)) for value in snapshot.values())


def _bounded(stack: list[Fields]) -> list[Fields]:
    """The newest snapshots that fit `HISTORY_LIMIT` and `HISTORY_CHARS` (always at least one)."""
    kept: list[Fields] = []
    total = 0
    for snapshot in reversed(stack[-HISTORY_LIMIT:]):
        total += _size(snapshot)
        if kept and total > HISTORY_CHARS:
            break
        kept.append(snapshot)
    return kept[::-1]


def _clean(history: Mapping[str, Any] | None) -> dict[str, list[Fields]]:
    """A well-formed copy of `history` (what the browser sends back may be missing or malformed)."""
    if not isinstance(history, Mapping):
        return new_history()
    stacks = {}
    for name in ("undo", "redo"):
        stack = history.get(name)
        stacks[name] = [dict(s) for s in stack if isinstance(s, Mapping)] if isinstance(stack, list) else []
    return stacks


def record(
    history: Mapping[str, Any] | None, before: Mapping[str, Any], after: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The history after a change away from `before`: `before` becomes undoable and Redo is cleared.

    A change that repeats the newest snapshot adds nothing (pressing a button twice is one step).
    `after`, when given, are the fields this change leaves, and the next change recorded from
    exactly them joins this step instead of adding one: picking an alternative and the generation
    it resumes are one step, so one Undo gives back the document from before the pick. Any other
    change, Undo or Redo ends that.
    """
    stacks = _clean(history)
    joined = isinstance(history, Mapping) and history.get(JOINS) == dict(before)
    if not joined and (not stacks["undo"] or stacks["undo"][-1] != dict(before)):
        stacks["undo"] = _bounded([*stacks["undo"], dict(before)])
    recorded: dict[str, Any] = {"undo": stacks["undo"], "redo": []}
    if after is not None:
        recorded[JOINS] = dict(after)
    return recorded


def _step(history: Mapping[str, Any] | None, current: Mapping[str, Any], source: str, target: str):
    stacks = _clean(history)
    if not stacks[source]:
        return None, stacks
    snapshot = stacks[source].pop()
    stacks[target] = _bounded([*stacks[target], dict(current)])
    return snapshot, stacks


def undo(history: Mapping[str, Any] | None, current: Mapping[str, Any]) -> tuple[Fields | None, dict]:
    """The snapshot to go back to (None when there is none) and the history with `current` redoable."""
    return _step(history, current, "undo", "redo")


def redo(history: Mapping[str, Any] | None, current: Mapping[str, Any]) -> tuple[Fields | None, dict]:
    """The snapshot to go forward to (None when there is none) and the history with `current` undoable."""
    return _step(history, current, "redo", "undo")


def counts(history: Mapping[str, Any] | None) -> tuple[int, int]:
    """How many steps can be undone and redone."""
    stacks = _clean(history)
    return len(stacks["undo"]), len(stacks["redo"])


# ---------------------------------------------------------------------------- the generated span


def span_of(document: str, start: int) -> dict[str, Any]:
    """The span generation wrote: from `start` to the end of `document` (JSON-friendly)."""
    start = max(0, min(start, len(document)))
    return {"start": start, "text": document[start:]}


def live_span(document: str, span: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`span` while it still stands unedited where it was written, else None (an edit accepts it)."""
    if not isinstance(span, Mapping):
        return None
    start, text = span.get("start"), span.get("text")
    if not isinstance(start, int) or not isinstance(text, str) or not text:
        return None
    if document[start : start + len(text)] != text or start + len(text) != len(document):
        return None
    return {"start": start, "text": text}


def without_span(document: str, span: Mapping[str, Any] | None) -> str:
    """`document` with its live generated span cut off (unchanged when the span was edited)."""
    live = live_span(document, span)
    return document if live is None else document[: live["start"]]


# ---------------------------------------------------------------------------- counts

# Han, kana and Hangul are written without spaces: each character counts as a word, as writers
# (and word processors) count them.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
_WORD = re.compile(r"[^\s\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")


def word_count(text: str) -> int:
    """Words as a writer counts them: runs of non-space letters, plus one per CJK character."""
    spaced = [w for w in _WORD.findall(text) if any(unicodedata.category(c)[0] in "LN" for c in w)]
    return len(spaced) + len(_CJK.findall(text))


def char_count(text: str) -> int:
    """Characters, not counting line breaks (so a pasted Windows file counts like a Unix one)."""
    return len(text) - text.count("\n") - text.count("\r")


# ---------------------------------------------------------------------------- files


def _scalar(value: Any) -> str:
    """A front-matter value: a literal block for plain multi-line text, else a JSON (YAML) string."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    lines = text.split("\n")
    plain = len(lines) > 1 and not text.endswith("\n") and not lines[0].startswith((" ", "\t"))
    if plain and all(line == line.rstrip() for line in lines):
        return "|-\n" + "\n".join(f"  {line}" if line else "" for line in lines)
    return json.dumps(text, ensure_ascii=False)


def to_markdown(tab: str, fields: Mapping[str, Any], main: str | None = None) -> str:
    """The tab's work as Markdown: a front-matter block with every field but `main`, then `main`'s text.

    `main` defaults to `tab` (the story tab's document is its ``story`` field).
    """
    main = main or tab
    header = [FRONT, f"{FORMAT_KEY}: {tab}"]
    header += [f"{name}: {_scalar(value)}" for name, value in fields.items() if name != main]
    return "\n".join([*header, FRONT, "", str(fields.get(main, ""))]) + "\n"


_KEY = re.compile(r"([A-Za-z_][\w-]*):(?: (.*))?$")


def _parse_front(lines: Sequence[str]) -> dict[str, str]:
    """Our front-matter subset: ``key: "json"``, ``key: |-`` + two-space-indented lines, ``key: plain``."""
    values: dict[str, str] = {}
    index = 0
    while index < len(lines):
        match = _KEY.match(lines[index])
        if not match:
            raise DocumentError(f"the front matter's line {index + 2} is not 'name: value'")
        name, raw = match.group(1), (match.group(2) or "").strip()
        index += 1
        if raw in ("|", "|-"):
            block = []
            while index < len(lines) and (lines[index].startswith("  ") or not lines[index]):
                block.append(lines[index][2:])
                index += 1
            values[name] = "\n".join(block) + ("\n" if raw == "|" else "")
        elif raw.startswith('"'):
            try:
                values[name] = json.loads(raw)
            except json.JSONDecodeError:
                raise DocumentError(f"the front matter's value of {name!r} is not a quoted string") from None
        else:
            values[name] = raw
    return values


def from_markdown(text: str, names: Sequence[str], main: str) -> Fields:
    """The fields of a saved file (or of plain text, which becomes `main`); unknown keys are ignored.

    Raises `DocumentError` when a front-matter block is malformed.
    """
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    lines = text.split("\n")
    if lines[0].strip() != FRONT:
        return {main: text.rstrip("\n")}
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == FRONT)
    except StopIteration:
        raise DocumentError("the front matter (between '---' lines) is never closed") from None
    values = _parse_front(lines[1:end])
    body = "\n".join(lines[end + 1 :])
    fields: Fields = {name: values[name] for name in names if name in values and name != main}
    fields[main] = body[1:] if body.startswith("\n") else body
    fields[main] = fields[main][:-1] if fields[main].endswith("\n") else fields[main]
    return {name: fields[name] for name in names if name in fields}


def decode_upload(data: bytes, limit_bytes: int) -> str:
    """An uploaded file's text: UTF-8 (with or without BOM), at most `limit_bytes`, no binary data.

    Raises `DocumentError` with the reason when the file is too large or not text.
    """
    if len(data) > limit_bytes:
        size = f"{len(data):,} bytes"
        raise DocumentError(f"the file is {size}; files up to {limit_bytes:,} bytes can be opened")
    if b"\x00" in data:
        raise DocumentError("the file is not text (it holds binary data); open a .md or .txt file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DocumentError("the file is not UTF-8 text; save it as UTF-8 and open it again") from None
