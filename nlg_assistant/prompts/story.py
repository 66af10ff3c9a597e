"""The story-continuation prompt builder (pure Python)."""

from __future__ import annotations

from ..backend import Prompt, TokenBudget
from .common import Messages, _block, _check_fits, _counted, _fit_tail, _messages, _required
from .fewshot import FEWSHOT_STOP

# A story never contains the few-shot tab's layout: the house model, trained on the app's task layouts,
# slipped into "### Output:" blocks in 3 of 12 story continuations (and once wrote "## Input:"), so a
# story ends where such a line starts.
STORY_STOP = (*FEWSHOT_STOP, "\n## Input:", "\n## Output:")

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
    return Prompt(document=document, messages=messages, stop=STORY_STOP, notices=notices)
