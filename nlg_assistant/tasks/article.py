"""Topic to article: draft an outline, then write it section by section (pure Python).

Every step fits the model's window whatever the model wrote before: the outline request asks
for the number of sections the target length implies and stops after them; an outline is cut
to its headings before use; each section prompt keeps the brief, its heading and the nearest
headings and trims the article so far from the left. The target length sets each section's
token budget: words per section times this tokenizer's measured tokens per word.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Generator, Iterator

from ..backend import Backend, GenerationResult, Prompt, max_new_tokens_limit, prompt_budget
from ..config import GenerationSettings
from ..prompts import (
    OUTLINE_PREFIX,
    PromptError,
    build_outline,
    build_section,
    build_story,
    clean_text,
    numbered_headings,
    outline_headings,
    suggested_sections,
)
from .progress import Progress, fit_new_tokens, stream_progress, whole_number

# Plain English prose to measure a tokenizer's tokens per word (the measured ratio converts
# the target length in words into each section's token budget).
_RATIO_SAMPLE = (
    "The city council voted on Tuesday to add new bike lanes across the town centre. Researchers "
    "found that a short walk after meals helps people stay healthy, and many readers wrote in to "
    "say that small daily habits, like sleeping well and cooking at home, matter more than they "
    "expected. Good writing is clear, friendly and practical."
)
MIN_SECTION_TOKENS = 16  # a section gets at least this many tokens, however long its prompt
MIN_CONTEXT_TOKENS = 16  # room kept for the end of the article so far and the nearest headings
HEADING_TOKENS = 32  # one outline heading: MAX_HEADING_CHARS (80) characters are ~20-25 tokens
OUTLINE_LABEL = "Outline"
_NUMBERED_LINE = re.compile(r"\s*\(?\d{1,3}[.)]\s*\S")
_BULLET_LINE = re.compile(r"\s*[-*+\u2022]\s")


def tokens_per_word(backend: Backend) -> float:
    """This backend's tokens per English word, measured on a fixed sample (at least 1)."""
    return max(1.0, backend.count_tokens(_RATIO_SAMPLE) / len(_RATIO_SAMPLE.split()))


def section_tokens(backend: Backend, length_words: int, sections: int) -> int:
    """Each section's token budget: (target words / sections) x tokens per word, within the model's limit."""
    wanted = math.ceil(length_words / max(1, sections) * tokens_per_word(backend))
    return max(MIN_SECTION_TOKENS, min(wanted, max_new_tokens_limit(backend.info.context_window)))


def outline_steps(
    backend: Backend,
    settings: GenerationSettings,
    topic: str,
    keywords: str = "",
    audience: str = "",
    tone: str = "",
    length_words: int = 600,
) -> Iterator[Progress]:
    """Stream an article outline (numbered section headings) for the topic; one draft.

    The outline has as many headings as the target length implies. A base model writes it one
    heading at a time (`numbered_outline`); a chat model's reply stops after that many headings
    or at the blank line that ends its list.
    """
    settings = dataclasses.replace(settings, num_drafts=1)
    length = whole_number(length_words, "The target length")
    chat, fields = backend.info.chat, (topic, keywords, audience, tone, length)
    settings = fit_new_tokens(backend, settings, build_outline(*fields))  # the request is mostly ours
    prompt = build_outline(*fields, prompt_budget(backend, settings), chat=chat)
    wanted = suggested_sections(length)
    if not chat:
        yield from numbered_outline(backend, prompt, settings, wanted)
        return

    def enough(written: str) -> str | None:
        return outline_end(written, wanted)

    yield from stream_progress(backend, prompt, settings, "", f"{OUTLINE_LABEL} · ", enough)


def numbered_outline(
    backend: Backend, prompt: Prompt, settings: GenerationSettings, wanted: int
) -> Iterator[Progress]:
    """A base model's outline, one heading per request: the app writes each number ("2.") and the
    model the heading, up to the end of its line (at most `HEADING_TOKENS`).

    Why: a small base model does not count. Left to number its own list, the bundled model wrote
    "1. ... 4. ... 6." or left the list after two lines in 7 of 12 held-out tries; numbered for it,
    every try has the asked number of headings and the model only chooses their words. An empty or
    repeated heading is asked for once more; an empty one or Stop ends the outline with what it has.
    """
    per_line = dataclasses.replace(settings, max_new_tokens=min(settings.max_new_tokens, HEADING_TOKENS))
    headings: list[str] = []
    results: list[GenerationResult] = []
    for number in range(1, wanted + 1):
        shown = numbered_headings(headings)  # the headings so far (the streamed text only grows)
        opened = f"{shown}\n{number}." if shown else OUTLINE_PREFIX
        line = dataclasses.replace(  # the prompt itself ends with the first "1."
            prompt, document=prompt.document + opened[len(OUTLINE_PREFIX) :], stop=(*prompt.stop, "\n")
        )
        label = f"{OUTLINE_LABEL} · Heading {number}/{wanted} · "  # locales: task.outline, task.heading
        for attempt in range(2):
            result = yield from _heading(backend, line, reseeded(per_line, attempt), shown, label)
            results.append(result)
            heading = " ".join(clean_text(result.texts[0]).split())  # one clean line
            if result.finish_reason == "stopped" or (heading and heading not in headings):
                break
        if not heading or result.finish_reason == "stopped":
            break
        headings.append(heading)
    outline = numbered_headings(headings)
    total = joined_result(results, outline[len(OUTLINE_PREFIX) :])
    yield Progress(outline, f"{OUTLINE_LABEL} · {total.status_line()}", total)


def _heading(
    backend: Backend, line: Prompt, settings: GenerationSettings, shown: str, label: str
) -> Generator[Progress, None, GenerationResult]:
    """Run one heading's request; return its result. Its running updates show `shown` (the headings
    so far) and the count of characters written: the heading itself appears once it is complete and
    cleaned (and maybe asked for again), so a streamed outline only ever grows."""
    for progress in stream_progress(backend, line, settings, "", label):
        if progress.result is None:
            yield dataclasses.replace(progress, text=shown)
    return progress.result


def reseeded(settings: GenerationSettings, attempt: int) -> GenerationSettings:
    """`settings` for another try: a fixed seed moves on by `attempt` (a random one stays random)."""
    if attempt == 0 or settings.seed < 0:
        return settings
    return dataclasses.replace(settings, seed=(settings.seed + attempt) % 2**31)  # seeds are 0..2**31-1


def joined_result(results: list[GenerationResult], text: str) -> GenerationResult:
    """One result for several requests that wrote `text` together: summed tokens, the first one's
    prompt, latency and seed, the overall speed and the last one's finish reason."""
    first = results[0]
    tokens = sum(r.generated_tokens for r in results)
    seconds = sum(r.generated_tokens / r.tokens_per_s for r in results if r.tokens_per_s > 0)
    return dataclasses.replace(
        first,
        texts=(text,),
        finish_reason=results[-1].finish_reason,
        generated_tokens=tokens,
        tokens_per_s=tokens / seconds if seconds > 0 else 0.0,
        notices=tuple(dict.fromkeys(n for r in results for n in r.notices)),
    )


def outline_end(text: str, wanted: int) -> str | None:
    """`text` cut where its numbered list ends, or None while it may still grow.

    The list ends after its `wanted`-th numbered line, at a blank line, or at an unindented line
    that is neither numbered nor a bullet (prose after the list). Only complete lines count (the
    last one may still be growing); lines before the first numbered one (a chat model's "Here is
    an outline:") end nothing.
    """
    kept, numbered = [], 0
    for line in text.split("\n")[:-1]:
        ends_list = not line.strip() or not (line[:1].isspace() or _BULLET_LINE.match(line))
        if numbered and not _NUMBERED_LINE.match(line) and ends_list:
            return "\n".join(kept)
        kept.append(line)
        numbered += bool(_NUMBERED_LINE.match(line))
        if numbered >= wanted:
            return "\n".join(kept)
    return None


def article_steps(
    backend: Backend,
    settings: GenerationSettings,
    topic: str,
    outline: str,
    keywords: str = "",
    audience: str = "",
    tone: str = "",
    length_words: int = 600,
) -> Iterator[Progress]:
    """Write the article section by section from `outline`, streaming the growing Markdown text.

    Each section may write (target length / sections) words' worth of tokens; `max_new_tokens`
    does not apply to sections.
    """
    length = whole_number(length_words, "The target length")
    if not (outline or "").strip():
        raise PromptError("The outline is empty: click “Draft outline” or write one heading per line.")
    headings, fallback = outline_headings(outline), ""
    if not headings:  # e.g. a small model's "1.]": write one section on the topic rather than fail
        headings = outline_headings(f"1. {topic}") or ["Article"]
        fallback = "\n⚠ The outline has no usable heading, so the article is one section on the topic."
    per_section = section_tokens(backend, length, len(headings))
    settings = dataclasses.replace(settings, num_drafts=1, max_new_tokens=per_section)
    numbered = "\n".join(f"{number}. {heading}" for number, heading in enumerate(headings, 1))
    brief = (keywords, audience, tone, length)
    article, tokens, started, progress = "", 0, time.monotonic(), None
    for index, heading in enumerate(headings):
        least = build_section(topic, f"1. {heading}", 0, "", *brief)  # the brief and this heading only
        fitted = fit_new_tokens(backend, settings, least, MIN_CONTEXT_TOKENS, MIN_SECTION_TOKENS)
        budget = prompt_budget(backend, fitted)
        prompt = build_section(topic, numbered, index, article, *brief, budget=budget, chat=backend.info.chat)
        base = f"{article}\n\n## {heading}\n\n" if article else f"## {heading}\n\n"
        label = f"Section {index + 1}/{len(headings)} (up to {fitted.max_new_tokens} tokens) · "
        for progress in stream_progress(backend, prompt, fitted, base, label):
            yield progress
        article, tokens = progress.text.rstrip(), tokens + progress.result.generated_tokens
    took = time.monotonic() - started
    total = f"Article: {len(headings)} sections, {tokens} tokens in {took:.1f} s\n"
    yield dataclasses.replace(progress, text=article, status=total + progress.status + fallback)


def outline_then_article(
    backend: Backend,
    settings: GenerationSettings,
    topic: str,
    outline: str = "",
    keywords: str = "",
    audience: str = "",
    tone: str = "",
    length_words: int = 600,
) -> Iterator[Progress]:
    """The article from `outline`, drafting the outline first when it is empty (its status streams)."""
    brief = (keywords, audience, tone, length_words)
    if not (outline or "").strip():
        for progress in outline_steps(backend, settings, topic, *brief):
            outline = progress.text
            yield Progress("", progress.status)
    yield from article_steps(backend, settings, topic, outline, *brief)


def continue_article_steps(
    backend: Backend, settings: GenerationSettings, topic: str, tone: str, article: str
) -> Iterator[Progress]:
    """Extend the (possibly edited) article text where it stops; the topic and tone stay in the prompt."""
    prompt = continue_article_prompt(backend, settings, topic, tone, article)
    yield from stream_progress(backend, prompt, settings, article)


def continue_article_prompt(
    backend: Backend, settings: GenerationSettings, topic: str, tone: str, article: str
) -> Prompt:
    """The prompt that extends `article` where it stops (topic and tone kept), fitted to the window."""
    memory = f"An article about: {topic}" if topic.strip() else ""
    budget = prompt_budget(backend, settings)
    return build_story(article, memory, tone, budget=budget, chat=backend.info.chat, what="article")
