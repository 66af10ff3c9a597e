"""The fine-tuning mix: task examples built from corpus books with the app's own prompt builders.

Each example is the app's base-model prompt (`Prompt.document` of `prompts.build_*`) followed by the
text the model should write, so the model learns exactly the layouts the app sends it:
- outline: `Topic:` book title -> the numbered titles of N consecutive chapters (N = the sections the
  prompt asks for), then end of text;
- section: the section prompt (brief, outline, article so far) -> the chapter's opening, then the next
  `## ` heading (the app's stop string) or end of text;
- few-shot, in the exact `### Input:` / `### Output:` layout: informal -> formal (corpus sentences
  lowercased, punctuation dropped, "u", "thx", "tmrw"...) -> the original; paragraph -> chapter title;
  fable -> moral; each output followed by the next `### Input:` delimiter (the app's stop string);
- story: `[Memory: names]` / `[Style: ...]` notes + a passage -> its continuation.
Only training books are used (the caller passes the training split). Pure Python, no torch.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from nlg_assistant import prompts
from nlg_assistant.backend import TokenBudget

Count = Callable[[str], int]
TITLE_INSTRUCTION = "Give the chapter a short title."
MORAL_INSTRUCTION = "Write the moral of the fable in one sentence."
SHORTHAND = {
    "you": "u",
    "your": "ur",
    "are": "r",
    "thanks": "thx",
    "thank you": "thx",
    "tomorrow": "tmrw",
    "because": "cuz",
    "please": "pls",
    "tonight": "tonite",
    "going to": "gonna",
    "want to": "wanna",
}
_SHORTHAND = re.compile(r"\b(" + "|".join(sorted(SHORTHAND, key=len, reverse=True)) + r")\b", re.IGNORECASE)
_PUNCT = re.compile(r"[.,;:!?\"'\u2018\u2019\u201c\u201d()-]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_NAME = re.compile(r"(?<![.!?\"']\s)(?<!^)\b([A-Z][a-z]{2,})\b")


@dataclass(frozen=True)
class Section:
    """A chapter (or tale) of a cleaned book: its `## ` title and its paragraphs."""

    title: str
    paragraphs: tuple[str, ...]


_NOT_A_TITLE = re.compile(r"illustrat|copyright|contents|^(?:chapter|part|book)\b|^[\W\d_]", re.IGNORECASE)


def usable_title(title: str) -> str:
    """A chapter title fit for an outline: page numbers cut; "" for labels, credits and list headings."""
    title = re.sub(r"\s+\d+$", "", title).strip()
    return "" if _NOT_A_TITLE.search(title) or len(title) < 3 else title


def book_sections(cleaned: str, min_paragraphs: int = 2) -> list[Section]:
    """The `## Title` sections of a book cleaned by `clean.clean_document` (short, untitled ones dropped)."""
    sections, title, paras = [], "", []
    for line in [*cleaned.split("\n"), "## "]:
        if line.startswith("## "):
            if title and len(paras) >= min_paragraphs:
                sections.append(Section(title, tuple(paras)))
            title, paras = usable_title(line[3:]), []
        elif line.strip():
            paras.append(line.strip())
    return sections


def opening(paragraphs: tuple[str, ...], words: int) -> str:
    """Whole paragraphs from the start up to about `words` words (at least one), joined as the app does."""
    kept, total = [], 0
    for p in paragraphs:
        if kept and total + len(p.split()) > words * 1.3:
            break
        kept.append(p)
        total += len(p.split())
    return "\n\n".join(kept)


def outline_example(topic: str, titles: list[str]) -> str:
    """Outline prompt asking for len(titles) (3-8) sections -> the numbered titles."""
    length = 150 * len(titles)
    assert prompts.suggested_sections(length) == len(titles)
    doc = prompts.build_outline(topic, length_words=length).document
    return doc + "\n".join(f"{i}. {t}" for i, t in enumerate(titles, 1)) + "\n"


def outline_examples(topic: str, sections: list[Section], rng: random.Random) -> list[str]:
    """One or two outlines of consecutive chapter titles (3-8 of them) for a book with >= 3 chapters."""
    titles = [s.title for s in sections]
    if len(titles) < 3:
        return []
    out = [outline_example(topic, titles[: min(8, len(titles))])]
    if len(titles) > 8:
        n = rng.randint(3, 8)
        start = rng.randrange(0, len(titles) - n + 1)
        out.append(outline_example(topic, titles[start : start + n]))
    return out


def section_prompt(topic: str, sections: list[Section], index: int, count: Count, limit: int) -> str:
    """The app's section prompt for sections[index] of this outline; the article so far (earlier
    openings) is trimmed by the app's own budget fitting."""
    outline = "\n".join(f"{i}. {s.title}" for i, s in enumerate(sections, 1))
    written = "\n\n".join(f"## {s.title}\n\n{opening(s.paragraphs, 60)}" for s in sections[:index])
    budget = TokenBudget(count=count, limit=limit)
    length = 150 * len(sections)
    return prompts.build_section(topic, outline, index, written, length_words=length, budget=budget).document


def section_example(topic: str, sections: list[Section], index: int, count: Count, limit: int) -> str:
    """Section prompt -> the chapter's opening, then the next `## ` heading (the app's stop) if any."""
    doc = section_prompt(topic, sections, index, count, limit)
    body = opening(sections[index].paragraphs, 150)
    tail = f"\n\n## {sections[index + 1].title}" if index + 1 < len(sections) else ""
    return f"{doc}\n{body}{tail}"


def section_examples(
    topic: str, sections: list[Section], rng: random.Random, count: Count, limit: int, per_book: int
) -> list[str]:
    """Up to `per_book` section prompts over windows of 3-8 consecutive chapters."""
    if len(sections) < 3:
        return []
    out = []
    for _ in range(per_book):
        n = rng.randint(3, min(8, len(sections)))
        start = rng.randrange(0, len(sections) - n + 1)
        window = sections[start : start + n]
        try:
            out.append(section_example(topic, window, rng.randrange(n), count, limit))
        except prompts.PromptError:
            continue  # brief + outline alone over the limit: skip this window
    return out


def corrupt(sentence: str, rng: random.Random) -> str:
    """An informal version: shorthand ("u", "thx", "tmrw"...), lower case, most punctuation dropped."""
    text = _SHORTHAND.sub(lambda m: SHORTHAND[m.group(1).lower()], sentence)
    text = text.lower() if rng.random() < 0.8 else text
    text = _PUNCT.sub(lambda m: "" if rng.random() < 0.7 else m.group(0), text)
    return " ".join(text.split())


def sentences_of(paragraphs: list[str], min_words: int = 6, max_words: int = 30) -> list[str]:
    """Plain narrative sentences (no quotes or brackets) of a moderate length."""
    out = []
    for p in paragraphs:
        for s in _SENTENCE.split(p):
            words = len(s.split())
            if min_words <= words <= max_words and not re.search(
                r"[\"'\u201c\u201d\u2018\u2019\[\]_*]|--", s
            ):
                out.append(s.strip())
    return out


def fewshot_example(instruction: str, pairs: list[tuple[str, str]], new_input: str, target: str) -> str:
    """The app's few-shot document, the answer, and the next `### Input:` (where the app stops)."""
    doc = prompts.build_fewshot(pairs, new_input, instruction).document
    return f"{doc}{target}\n\n{prompts.INPUT_TAG}\n"


def formal_examples(sentences: list[str], rng: random.Random, n: int) -> list[str]:
    """Formal-rewrite few-shot prompts (the preset examples or corpus pairs), then a corrupted sentence."""
    preset = prompts.PRESETS["Formal rewrite"]
    out = []
    for _ in range(min(n, len(sentences) // 4)):
        picked = rng.sample(sentences, 4)
        pairs = list(preset.examples) if rng.random() < 0.5 else [(corrupt(s, rng), s) for s in picked[:3]]
        out.append(fewshot_example(preset.instruction, pairs, corrupt(picked[3], rng), picked[3]))
    return out


def title_examples(sections: list[Section], rng: random.Random, n: int) -> list[str]:
    """Paragraph -> chapter title few-shot prompts from the chapters of one book."""
    usable = [(opening(s.paragraphs, 60), s.title) for s in sections if len(s.title.split()) <= 10]
    out = []
    for _ in range(min(n, len(usable) // 3)):
        picked = rng.sample(usable, 3)
        out.append(fewshot_example(TITLE_INSTRUCTION, picked[:2], *picked[2]))
    return out


def fables_of(raw: str) -> list[tuple[str, str]]:
    """(fable, moral) pairs from a fable book: a title line, the fable's paragraphs, a short last paragraph
    (or a "Moral." line) as the moral."""
    out, body = [], []
    lines = [line.strip() for line in raw.split("\n") if line.strip()] + ["End"]
    for line in lines:
        is_title = len(line) < 60 and line[:1].isupper() and not line.endswith((".", "!", "?", '"', ":"))
        if not is_title:
            body.append(line)
            continue
        if len(body) >= 2 and len(body[-1]) < 200 and len(" ".join(body[:-1])) > 200:
            moral = re.sub(r"^moral[.:]?\s*", "", body[-1], flags=re.IGNORECASE).strip()
            if len(moral.split()) >= 4 and '"' not in moral:
                out.append(("\n".join(body[:-1]), moral))
        body = []
    return out


def fable_examples(fables: list[tuple[str, str]], rng: random.Random, n: int) -> list[str]:
    """Fable -> moral few-shot prompts (two short fables as examples, a third to answer)."""
    short = [f for f in fables if len(f[0].split()) < 220]
    out = []
    for _ in range(min(n, len(short) // 3)):
        picked = rng.sample(short, 3)
        out.append(fewshot_example(MORAL_INSTRUCTION, picked[:2], *picked[2]))
    return out


def names_in(text: str) -> list[str]:
    """Capitalised words used as names inside sentences (not sentence-initial), most frequent first."""
    stop = {"The", "And", "But", "Then", "When", "She", "His", "Her", "They", "You", "What", "Mrs", "Mr"}
    counts: dict[str, int] = {}
    for m in _NAME.finditer(text):
        if m.group(1) not in stop:
            counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return sorted(counts, key=lambda k: -counts[k])


def style_note(text: str) -> str:
    """A style note that is true of `text`: dialogue share and sentence length."""
    sentences = _SENTENCE.split(text)
    words = len(text.split()) / max(1, len(sentences))
    notes = ["Lots of dialogue" if text.count('"') >= 6 else "Mostly narration"]
    notes.append("short sentences" if words < 14 else "long, flowing sentences")
    return ", ".join(notes) + "."


def story_prompt(paragraphs: tuple[str, ...], start: int, rng: random.Random) -> tuple[str, str, list[str]]:
    """(app story prompt, true continuation, memory names) from paragraphs[start:], or ("", "", []) when
    the chapter is too short. Memory = up to two names of the passage that the continuation reuses."""
    story, i = [], start
    while i < len(paragraphs) and len(" ".join(story).split()) < 120:
        story.append(paragraphs[i])
        i += 1
    cont = opening(paragraphs[i:], 80)
    if not cont or len(" ".join(story).split()) > 260:
        return "", "", []
    shared = [n for n in names_in(" ".join(story)) if n in cont][:2]
    memory = ", ".join(shared) + "." if shared else ""
    style = style_note(" ".join(story)) if rng.random() < 0.4 else ""
    return prompts.build_story("\n".join(story), memory, style).document, cont, shared


def story_example(paragraphs: tuple[str, ...], start: int, rng: random.Random) -> str | None:
    """Story prompt (memory names, sometimes a style note) -> its continuation; None if too short."""
    doc, cont, _ = story_prompt(paragraphs, start, rng)
    return f"{doc}\n{cont.replace(chr(10) * 2, chr(10))}" if doc else None


def story_examples(sections: list[Section], rng: random.Random, n: int) -> list[str]:
    """Up to `n` story prompts from random chapter positions."""
    out = []
    for _ in range(n):
        if not sections:
            break
        s = rng.choice(sections)
        example = story_example(s.paragraphs, rng.randrange(len(s.paragraphs)), rng)
        if example:
            out.append(example)
    return out


def book_examples(title: str, raw: str, rng: random.Random, count: Count, limit: int) -> dict[str, list[str]]:
    """All task examples from one training book, by kind."""
    from nlg_assistant.training.clean import clean_document

    sections = book_sections(clean_document(raw))
    paragraphs = [p for s in sections for p in s.paragraphs]
    return {
        "outline": outline_examples(title, sections, rng),
        "section": section_examples(title, sections, rng, count, limit, per_book=6),
        "formal": formal_examples(sentences_of(paragraphs), rng, 8),
        "title": title_examples(sections, rng, 4),
        "fable": fable_examples(fables_of(raw), rng, 30) if "fable" in title.lower() else [],
        "story": story_examples(sections, rng, 8),
    }


def build_mix(books: list[tuple[str, str]], seed: int, count: Count, limit: int = 400) -> tuple[list, dict]:
    """Shuffled examples from (title, raw text) training books, and the number of each kind."""
    rng = random.Random(seed)
    texts, kinds = [], {}
    for title, raw in books:
        for kind, examples in book_examples(title, raw, rng, count, limit).items():
            texts += examples
            kinds[kind] = kinds.get(kind, 0) + len(examples)
    rng.shuffle(texts)
    return texts, kinds


def training_books(files, manifest, val_fraction: float, seed: int, min_death_year: int = 1955) -> list:
    """(title, raw text) of the books `prepare` puts in the training split (held-out books never)."""
    from nlg_assistant.training import corpus

    docs = corpus.load_corpus(files, manifest, min_death_year)
    train, _ = corpus.split_documents(docs, val_fraction, seed)
    names = corpus.titles(manifest)
    return [(names.get((d.source, d.index)) or d.text.split("\n", 1)[0][:60], d.text) for d in train]


def write_mix(tok, texts: list[str], path) -> int:
    """Tokenise `texts` as `<s> example </s>` rows into `path` atomically (a running trainer may be
    waiting for the file); returns the token count."""
    from pathlib import Path

    from nlg_assistant.training import data

    tokens = data.encode_documents(tok, texts)
    tmp = Path(str(path) + ".tmp")
    data.write_tokens(tmp, tokens)
    tmp.replace(path)
    return int(tokens.size)
