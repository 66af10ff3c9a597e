"""The few-shot prompt builder and its ready-made presets (pure Python)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..backend import Prompt, TokenBudget
from .common import Messages, PromptError, _block, _check_fits, _counted, _measure, _messages, _required

MAX_EXAMPLES = 8
INPUT_TAG, OUTPUT_TAG = "### Input:", "### Output:"
FEWSHOT_STOP = ("\n" + INPUT_TAG, "\n" + OUTPUT_TAG)


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
    keep_words: bool = False,
) -> Prompt:
    """A few-shot prompt: 1-8 (input, output) examples, then `new_input` for the model to answer.

    Document form: optional instruction, then "### Input:" / "### Output:" blocks ending in an
    open "### Output:"; the stop strings end the output where the next block would begin. Chat
    form: the examples as alternating user/assistant turns. Delimiter look-alikes in user text
    are defused; pairs with an empty side are skipped; under a `budget` the oldest examples
    are dropped first (at least one is kept). Raises `PromptError` for an empty input, 0 or
    more than 8 usable examples, or an input that cannot fit (`chat` as in `build_story`).
    `keep_words`: the answer is an edit of the input (a rewrite), so the prompt names the input as
    its `copy_source`.
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
    # the output reuses the input's words (a rewrite, a headline from its paragraph): only its own
    # repeats count for the repetition penalty
    source = text if keep_words else ""
    return Prompt(document, messages, FEWSHOT_STOP, notices, penalise_prompt=False, copy_source=source)


# ---------------------------------------------------------------------------- presets and registry


@dataclass(frozen=True)
class Preset:
    """A ready-made few-shot task: an instruction and example (input, output) pairs.

    `one_line`: the outputs are single lines (headlines...), so generation stops at the end of
    the line. `keep_words`: the outputs are edits of the inputs (rewrites), so a local model is nudged
    to keep the input's words. Every preset fits the bundled model's 512-token window at default settings.
    """

    name: str
    instruction: str
    examples: tuple[tuple[str, str], ...]
    one_line: bool = False
    keep_words: bool = False


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "Formal rewrite",
            "Rewrite the informal message in a polite, formal register. Keep its meaning.",
            # Light edits that keep the writer's words (spelling out shorthand, capitals, punctuation, a
            # formal turn of phrase): the message stays the writer's, and a small base model learns from
            # such examples to copy the input with edits instead of inventing a new sentence.
            (
                (
                    "hey, can't make it tmrw, something came up. can we move it?",
                    "Hello, I cannot make it tomorrow, as something has come up. Could we move it?",
                ),
                (
                    "the report's late cuz the data was a total mess",
                    "The report is late because the data was in a very poor state.",
                ),
                (
                    "thx a lot for helping out last week, u really saved us",
                    "Thank you very much for helping out last week; you really saved us.",
                ),
            ),
            one_line=True,  # a message's rewrite is one line: a small model's text after it is not part of it
            keep_words=True,
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
