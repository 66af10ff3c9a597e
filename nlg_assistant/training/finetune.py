"""The fine-tuning mix: task examples built from corpus books with the app's own prompt builders.

Each example is a (prompt, target) pair: the app's base-model prompt (`Prompt.document` of
`prompts.build_*`) and the text the model should write after it. `write_mix` encodes the prompt exactly
as the app does and the target after it (`encode_example`), so the model learns the very token layouts
the app sends it:
- outline: `Topic:` book title -> the numbered titles of N consecutive chapters (N = the sections the
  prompt asks for), continuing the "1." the prompt ends with, then end of text; the titles come from
  the chapter headings and from the contents lists (`contents_titles`), also of extra books (novels
  that are in no split, `extra_examples`);
- section: the section prompt (brief, outline, article so far) -> the chapter's opening, then the next
  `## ` heading (the app's stop string) or end of text;
- few-shot, in the exact `### Input:` / `### Output:` layout: informal -> formal (corpus sentences
  lowercased, punctuation dropped, "u", "thx", "tmrw"...) -> the original; "message" (none by default):
  the same from quoted speech that uses a word messages shorten (chat-like lines, dense in shorthand,
  which narrative sentences rarely hold); paragraph -> chapter title;
  fable -> moral; each output followed by the next `### Input:` delimiter (the app's stop string);
- story: `[Memory: names]` / `[Style: ...]` notes + a passage -> its continuation;
- repeat (none by default): a passage -> the same passage again, plain text. v2 cannot continue a
  sentence it has just read even when given its first words (no copying "induction" behaviour), which
  any rewrite needs; repeated text is the plainest lesson in it.
Only training books are used (the caller passes the training split). Pure Python, no torch.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace

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
# a sentence ends at . ! ? before a capital, but not after "Mr." "Mrs." "St." or an initial ("J. M.")
_SENTENCE = re.compile(r"(?<=[.!?])(?<!\b[A-Z][a-z]\.)(?<!\bMrs\.)(?<!\b[A-Z]\.)\s+(?=[A-Z])")
# the words between double quotes (straight or curly) of one stretch of speech
_SPEECH = re.compile(r"[\"\u201c]([^\"\u201c\u201d]+)[\"\u201d]")
_NAME = re.compile(r"(?<![.!?\"']\s)(?<!^)\b([A-Z][a-z]{2,})\b")


@dataclass(frozen=True)
class Section:
    """A chapter (or tale) of a cleaned book: its `## ` title and its paragraphs."""

    title: str
    paragraphs: tuple[str, ...]


_NOT_A_TITLE = re.compile(
    r"illustrat|copyright|contents|\bpage\b|^(?:chapter|part|book)\b|^[\W\d_]|\bcompany\b|\bpublish|"
    r"\bpress\b|^(?:the )?end\b|^notes?$|^finis\b",
    re.IGNORECASE,
)


def usable_title(title: str) -> str:
    """A chapter title fit for an outline: page numbers and a stray quote cut; "" for labels, credits
    (publishers, notes, "End of the Second Book") and list headings."""
    title = re.sub(r"\s+\d+$", "", title).strip()
    if title.count('"') % 2:
        title = title.replace('"', "").strip()
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


Example = tuple[str, str]  # (the app's prompt document, the text the model should write after it)


def outline_lengths(k: int) -> list[int]:
    """Target lengths (multiples of 50 words, up to 3000) for which the app asks for `k` sections."""
    return [n for n in range(100, 3001, 50) if prompts.suggested_sections(n) == k]


def outline_example(topic: str, titles: list[str], rng: random.Random | None = None) -> Example:
    """Outline prompt asking for len(titles) (3-8) sections -> the numbered titles, continuing the
    prompt's "1." (the app shows "1." + the output), then a newline. With `rng`, the target length is
    any the app maps to that many sections (else 150 words a section)."""
    lengths = outline_lengths(len(titles))
    length = rng.choice(lengths) if rng else 150 * len(titles)
    assert length in lengths
    doc = prompts.build_outline(topic, length_words=length).document
    listing = "\n".join(f"{i}. {t}" for i, t in enumerate(titles, 1))
    assert doc.endswith(prompts.OUTLINE_PREFIX) and listing.startswith(prompts.OUTLINE_PREFIX)
    return doc, listing[len(prompts.OUTLINE_PREFIX) :] + "\n"


def outline_examples(topic: str, titles: list[str], rng: random.Random, n: int) -> list[Example]:
    """Up to `n` outlines of 3-8 consecutive titles (distinct windows), the book's first titles first."""
    if len(titles) < 3:
        return []
    windows = {(0, min(8, len(titles)))}
    for _ in range(4 * n):
        if len(windows) >= n:
            break
        k = rng.randint(3, min(8, len(titles)))
        windows.add((rng.randrange(0, len(titles) - k + 1), k))
    return [outline_example(topic, titles[a : a + k], rng) for a, k in sorted(windows)]


_CONTENTS_HEAD = re.compile(r"^(?:table of )?contents\s*[.:]?$", re.IGNORECASE)
_ENTRY_LABEL = re.compile(
    r"^(?:(?:chapter|part|book|story)\s+)?(?:[IVXLC]+|\d+)\b\s*[.:\-\u2014]*\s*", re.IGNORECASE
)


def contents_titles(raw: str, max_entries: int = 80) -> list[str]:
    """Chapter titles from the book's contents list ("CHAPTER I. The Title 17", "3. The Title"...):
    labels and page numbers cut, all-caps in title case; the list ends at a long line or where the
    chapters start (a title seen again); [] without a list of >= 3 usable entries."""
    from nlg_assistant.training.clean import title_case

    lines = raw.split("\n")
    for i, line in enumerate(lines[:2000]):
        if _CONTENTS_HEAD.match(line.strip()):
            titles = _list_titles(lines[i + 1 : i + 1 + max_entries], title_case)
            if len(titles) >= 3:
                return titles
    return []


def contents_entry(entry: str, title_case: Callable[[str], str]) -> str:
    """One contents line as a title: the label, page words and numbers, a subtitle after ":" or ";" and
    a trailing "(source)" cut; mostly-capitals text in title case; "" when nothing usable is left."""
    text = re.sub(r"^(?:page\s+)", "", entry.strip(), flags=re.IGNORECASE)
    text = _ENTRY_LABEL.sub("", text)
    text = re.split(r"[:;]|\s\(|\s--\s", text)[0].strip(" .,-\u2014")
    letters = [c for c in text if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) > 0.6 * len(letters):
        text = title_case(text.upper())
    return usable_title(text)


def _list_titles(entries: list[str], title_case: Callable[[str], str]) -> list[str]:
    """The usable titles of contents lines, up to the first long line or repeated title."""
    titles: list[str] = []
    for entry in entries:
        entry = entry.strip()
        if not entry or len(entry) > 90 or len(entry.split()) > 14:
            break
        title = contents_entry(entry, title_case)
        if title in titles:
            break
        if title and not re.search(r"[.!?]\W*\w+.*[.!]$", title):  # two sentences: prose, not a title
            titles.append(title)
    return titles


def section_prompt(topic: str, sections: list[Section], index: int, count: Count, limit: int) -> str:
    """The app's section prompt for sections[index] of this outline; the article so far (earlier
    openings) is trimmed by the app's own budget fitting."""
    outline = "\n".join(f"{i}. {s.title}" for i, s in enumerate(sections, 1))
    written = "\n\n".join(f"## {s.title}\n\n{opening(s.paragraphs, 60)}" for s in sections[:index])
    budget = TokenBudget(count=count, limit=limit)
    length = 150 * len(sections)
    return prompts.build_section(topic, outline, index, written, length_words=length, budget=budget).document


def section_example(topic: str, sections: list[Section], index: int, count: Count, limit: int) -> Example:
    """Section prompt -> the chapter's opening, then the next `## ` heading (the app's stop) if any."""
    doc = section_prompt(topic, sections, index, count, limit)
    body = opening(sections[index].paragraphs, 150)
    tail = f"\n\n## {sections[index + 1].title}" if index + 1 < len(sections) else ""
    return doc, f"\n{body}{tail}"


def section_examples(
    topic: str, sections: list[Section], rng: random.Random, count: Count, limit: int, per_book: int
) -> list[Example]:
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


def speech_of(paragraphs: list[str], min_words: int = 4, max_words: int = 30) -> list[str]:
    """Quoted speech that reads like a message: a stretch between double quotes that starts with a
    capital, uses a word people shorten in messages (`SHORTHAND`), and has no brackets or dashes; a
    trailing comma or colon (`"...," said he`) becomes a full stop."""
    out = []
    for p in paragraphs:
        for m in _SPEECH.finditer(p):
            line = re.sub(r"[,;:]+$", ".", m.group(1).strip())
            words = len(line.split())
            if (
                min_words <= words <= max_words
                and line[0].isupper()
                and _SHORTHAND.search(line)
                and not re.search(r"[\[\]()_*]|--|\u2014", line)
            ):
                out.append(line)
    return out


def fewshot_example(instruction: str, pairs: list[tuple[str, str]], new_input: str, target: str) -> Example:
    """The app's few-shot document -> the answer and the next `### Input:` (where the app stops)."""
    doc = prompts.build_fewshot(pairs, new_input, instruction).document
    return doc, f"{target}\n\n{prompts.INPUT_TAG}\n"


def formal_examples(
    sentences: list[str], rng: random.Random, n: int, preset_share: float = 0.3
) -> list[Example]:
    """Formal-rewrite few-shot prompts, then a corrupted sentence -> the original. The examples are the
    app's preset ones (exactly as the Few-shot tab sends them) in `preset_share` of the prompts, else
    corpus pairs, so the model learns the task and not only the preset. (At 0.75 the second v2 run
    learnt the preset's sentences by heart and recited them in the other tabs.)"""
    preset = prompts.PRESETS["Formal rewrite"]
    out = []
    for _ in range(min(n, len(sentences) // 4)):
        picked = rng.sample(sentences, 4)
        own = [(corrupt(s, rng), s) for s in picked[:3]]
        pairs = list(preset.examples) if rng.random() < preset_share else own
        out.append(fewshot_example(preset.instruction, pairs, corrupt(picked[3], rng), picked[3]))
    return out


def title_examples(sections: list[Section], rng: random.Random, n: int) -> list[Example]:
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


def fable_examples(fables: list[tuple[str, str]], rng: random.Random, n: int) -> list[Example]:
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


def story_example(paragraphs: tuple[str, ...], start: int, rng: random.Random) -> Example | None:
    """Story prompt (memory names, sometimes a style note) -> its continuation; None if too short."""
    doc, cont, _ = story_prompt(paragraphs, start, rng)
    return (doc, "\n" + cont.replace("\n\n", "\n")) if doc else None


def story_examples(sections: list[Section], rng: random.Random, n: int) -> list[Example]:
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


def repeat_examples(paragraphs: list[str], rng: random.Random, n: int) -> list[Example]:
    """A passage of 20-120 words, a blank line, then the same passage (the target)."""
    return [(f"{p}\n\n", p) for p in sample_passages(paragraphs, rng, n)]


def sample_passages(paragraphs: list[str], rng: random.Random, n: int, words=(20, 120)) -> list[str]:
    """Up to `n` of the paragraphs of `words` (low, high) words, drawn with `rng`."""
    usable = [p for p in paragraphs if words[0] <= len(p.split()) <= words[1]]
    return rng.sample(usable, min(n, len(usable)))


def scramble_examples(paragraphs: list[str], rng: random.Random, n: int) -> list[Example]:
    """A passage's words in random order, a blank line, then the same scrambled words (the target).

    Why: the words of a real passage can be guessed from what came before, so a repeated passage
    rewards copying only a little; in scrambled order copying is the only way to predict the second
    half, which is the lesson ("induction") a rewrite needs. Measured: 300 steps from v2 with half
    the rows from such a mix taught the words' frequencies, not copying (docs/training.md, sixth run)."""
    scrambled = [shuffled_words(p, rng) for p in sample_passages(paragraphs, rng, n)]
    return [(f"{p}\n\n", p) for p in scrambled]


def shuffled_words(text: str, rng: random.Random) -> str:
    """`text` with its words in random order (single spaces)."""
    words = text.split()
    rng.shuffle(words)
    return " ".join(words)


@dataclass(frozen=True)
class Quota:
    """Examples per book for each kind; the short formats (outline, formal) are weighted up so that many
    of the decay's mix rows start with one (a row starts at an example)."""

    outline: int = 14  # distinct windows of the chapter headings, and as many of the contents list
    section: int = 6
    formal: int = 16
    title: int = 4
    fable: int = 30
    story: int = 8
    repeat: int = 0
    scramble: int = 0
    message: int = 0  # formal rewrites of quoted speech (`speech_of`)


EXTRA_QUOTA = Quota(
    outline=14, section=0, formal=4, title=0, fable=0, story=0, repeat=0, scramble=0, message=0
)


def quota_from(pairs: list[str], base: Quota = Quota()) -> Quota:
    """`base` with the "kind=N" overrides in `pairs` (the `mix --quota` flag); ValueError on a bad one."""
    kinds = {f.name for f in fields(Quota)}
    changes = {}
    for pair in pairs:
        kind, _, number = pair.partition("=")
        if kind not in kinds or not number.isdigit():
            raise ValueError(f"bad quota {pair!r}: expected KIND=N with KIND one of {sorted(kinds)}")
        changes[kind] = int(number)
    return replace(base, **changes)


def book_outlines(title: str, raw: str, sections: list[Section], rng: random.Random, n: int) -> list[Example]:
    """Outlines from the chapter headings and, when it differs, from the contents list."""
    headings = [s.title for s in sections]
    listed = contents_titles(raw)
    out = outline_examples(title, headings, rng, n)
    return out + (outline_examples(title, listed, rng, n) if listed and listed != headings else [])


def book_examples(
    title: str, raw: str, rng: random.Random, count: Count, limit: int, quota: Quota = Quota()
) -> dict[str, list[Example]]:
    """All task examples from one training book, by kind."""
    from nlg_assistant.training.clean import clean_document

    sections = book_sections(clean_document(raw))
    paragraphs = [p for s in sections for p in s.paragraphs]
    fable = "fable" in title.lower() and quota.fable
    return {
        "outline": book_outlines(title, raw, sections, rng, quota.outline) if quota.outline else [],
        "section": section_examples(title, sections, rng, count, limit, quota.section),
        "formal": formal_examples(sentences_of(paragraphs), rng, quota.formal),
        "title": title_examples(sections, rng, quota.title),
        "fable": fable_examples(fables_of(raw), rng, quota.fable) if fable else [],
        "story": story_examples(sections, rng, quota.story),
        "repeat": repeat_examples(paragraphs, rng, quota.repeat) if quota.repeat else [],
        "scramble": scramble_examples(paragraphs, rng, quota.scramble) if quota.scramble else [],
        # never after the preset's own examples: with them (a third of prompts), a decay learnt them by
        # heart and answered short messages with "Hello, I cannot..." (docs/training.md, seventh run)
        "message": formal_examples(speech_of(paragraphs), rng, quota.message, 0.0) if quota.message else [],
    }


RUNS = {"outline": 3}  # examples of these kinds are written in runs of this many


def build_mix(
    books: list[tuple[str, str]],
    seed: int,
    count: Count,
    limit: int = 400,
    extra_books: list[tuple[str, str]] = (),
    runs: dict[str, int] | None = None,
    quotas: tuple[Quota, Quota] = (Quota(), EXTRA_QUOTA),
) -> tuple[list[Example], dict]:
    """Examples from (title, raw text) training books (the full `Quota`) and extra books (only outlines
    and formal rewrites, `EXTRA_QUOTA`; `quotas` replaces both), shuffled with the short kinds in runs
    (`RUNS`); and the number of each kind."""
    rng = random.Random(seed)
    tagged, kinds = [], {}
    own, extra = quotas
    for (title, raw), quota in [*((b, own) for b in books), *((b, extra) for b in extra_books)]:
        for kind, found in book_examples(title, raw, rng, count, limit, quota).items():
            tagged += [(kind, example) for example in found]
            kinds[kind] = kinds.get(kind, 0) + len(found)
    return arrange(tagged, rng, RUNS if runs is None else runs), kinds


def arrange(tagged: list[tuple[str, Example]], rng: random.Random, runs: dict[str, int]) -> list[Example]:
    """The examples in random order, those of a kind in `runs` kept together in runs of that many.

    Why: a training row is a fixed-length window (512 tokens in the decay) that starts at a random
    example; an outline is short (~100 tokens), so one that starts a row is followed by others and the
    row teaches several outlines rather than one and the start of something else. (Formal rewrites,
    ~260 tokens, gain nothing: two do not fit in a row.)"""
    rng.shuffle(tagged)
    units = [[example] for kind, example in tagged if kind not in runs]
    for kind, size in runs.items():
        same = [example for k, example in tagged if k == kind]
        units += [same[i : i + size] for i in range(0, len(same), max(1, size))]
    rng.shuffle(units)
    return [example for unit in units for example in unit]


def training_books(files, manifest, val_fraction: float, seed: int, min_death_year: int = 1955) -> list:
    """(title, raw text) of the books `prepare` puts in the training split (held-out books never)."""
    from nlg_assistant.training import corpus

    docs = corpus.load_corpus(files, manifest, min_death_year)
    train, _ = corpus.split_documents(docs, val_fraction, seed)
    names = corpus.titles(manifest)
    return [(names.get((d.source, d.index)) or d.text.split("\n", 1)[0][:60], d.text) for d in train]


def extra_books(files, manifest) -> list:
    """(title, raw text) of every book of `files` (e.g. the ELTeC novels, which no `prepare` split
    uses, so none of them is held out anywhere)."""
    from nlg_assistant.training import corpus

    docs = corpus.load_corpus(files, manifest)
    names = corpus.titles(manifest)
    return [(names.get((d.source, d.index)) or d.text.split("\n", 1)[0][:60], d.text) for d in docs]


_ANCHOR = "\u00a7"  # a character the tokenizer spells in bytes: nothing merges across it


def encode_example(tok, example: Example) -> list[int]:
    """Token ids of prompt + target whose first ids are exactly the prompt's own (as the app encodes
    the prompt before generating), without the tokenizer's special tokens.

    Where a token would merge across the join (".\n"), the target is tokenised on its own after an
    anchor the tokenizer cannot merge with, so no prefix space is added to it."""
    prompt, target = example
    head = tok(prompt, add_special_tokens=False)["input_ids"]
    whole = tok(prompt + target, add_special_tokens=False)["input_ids"]
    if whole[: len(head)] == head:
        return list(whole)
    anchor = tok(_ANCHOR, add_special_tokens=False)["input_ids"]
    tail = tok(_ANCHOR + target, add_special_tokens=False)["input_ids"]
    assert tail[: len(anchor)] == anchor, "the anchor merged with the target"
    return [*head, *tail[len(anchor) :]]


def write_mix(tok, examples: list[Example], path) -> int:
    """Tokenise `examples` as `<s> prompt target </s>` rows (`encode_example`) into `path` atomically (a
    running trainer may be waiting for the file); returns the token count."""
    from pathlib import Path

    import numpy as np

    from nlg_assistant.training import data

    assert len(tok) < 2**16, "uint16 storage needs a vocabulary under 65536"
    rows = [[tok.bos_token_id, *encode_example(tok, e), tok.eos_token_id] for e in examples]
    tokens = (
        np.concatenate([np.asarray(r, dtype=np.uint16) for r in rows]) if rows else np.zeros(0, np.uint16)
    )
    tmp = Path(str(path) + ".tmp")
    data.write_tokens(tmp, tokens)
    tmp.replace(path)
    return int(tokens.size)
