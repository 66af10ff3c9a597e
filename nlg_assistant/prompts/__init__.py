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

from .article import (
    MAX_HEADING_CHARS,
    MAX_LENGTH_WORDS,
    MIN_LENGTH_WORDS,
    OUTLINE_PREFIX,
    OUTLINE_STOP,
    SECTION_STOP,
    build_outline,
    build_section,
    numbered_headings,
    outline_headings,
    parse_outline,
    suggested_sections,
)
from .common import PromptError, clean_text
from .fewshot import FEWSHOT_STOP, INPUT_TAG, MAX_EXAMPLES, OUTPUT_TAG, PRESETS, Preset, build_fewshot
from .story import STORY_STOP, build_story

__all__ = [
    "FEWSHOT_STOP",
    "INPUT_TAG",
    "MAX_EXAMPLES",
    "MAX_HEADING_CHARS",
    "MAX_LENGTH_WORDS",
    "MIN_LENGTH_WORDS",
    "OUTLINE_PREFIX",
    "OUTLINE_STOP",
    "OUTPUT_TAG",
    "PRESETS",
    "SECTION_STOP",
    "STORY_STOP",
    "Preset",
    "PromptError",
    "build_fewshot",
    "build_outline",
    "build_section",
    "build_story",
    "clean_text",
    "numbered_headings",
    "outline_headings",
    "parse_outline",
    "suggested_sections",
]
