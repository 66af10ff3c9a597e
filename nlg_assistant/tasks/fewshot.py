"""Few-shot style: apply the pattern of example pairs to a new input (pure Python).

Examples come from a preset, the UI's table or the API's JSON; `examples_from_spec` reads
the API's and the CLI's form (a preset name or JSON pairs).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from ..backend import Backend, Prompt, prompt_budget
from ..config import GenerationSettings
from ..prompts import MAX_EXAMPLES, PRESETS, Preset, PromptError, build_fewshot
from .progress import Progress, stream_progress

DEFAULT_PRESET = next(iter(PRESETS))


def find_preset(name: str) -> Preset | None:
    """The preset called `name` (case, '-', '_' and spaces ignored), or None."""
    wanted = " ".join((name or "").strip().lower().replace("-", " ").replace("_", " ").split())
    return next((preset for key, preset in PRESETS.items() if key.lower() == wanted), None)


def keeps_words(preset: Preset | None, chat: bool) -> bool:
    """Whether "keep the input's words" starts on: for a rewrite preset on a base model. The copy guide
    was measured there (it keeps a small model on the input); an instruct model follows the
    instruction itself, and a nudge to keep the words could make its rewrite more literal."""
    return preset is not None and preset.keep_words and not chat


def preset_rows(name: str) -> tuple[str, list[list[str]]]:
    """The instruction and the example table rows (padded to `MAX_EXAMPLES`) of preset `name`."""
    preset = find_preset(name)
    if preset is None:
        raise PromptError(f"Unknown preset {name!r}: choose one of {', '.join(PRESETS)}.")
    rows = [[source, target] for source, target in preset.examples]
    return preset.instruction, rows + [["", ""]] * (MAX_EXAMPLES - len(rows))


def examples_from_rows(rows: Any) -> list[tuple[str, str]]:
    """(input, output) pairs from the examples table (a DataFrame or a list of rows); blank rows dropped."""
    if hasattr(rows, "values") and hasattr(rows, "columns"):  # a pandas DataFrame
        rows = rows.values.tolist()
    pairs = []
    for row in rows or []:
        cells = ["" if cell is None else str(cell) for cell in list(row)[:2]]
        cells += [""] * (2 - len(cells))
        if cells[0].strip() or cells[1].strip():
            pairs.append((cells[0], cells[1]))
    return pairs


def examples_from_spec(spec: str, instruction: str) -> tuple[list[tuple[str, str]], str, Preset | None]:
    """Examples, instruction and the preset (None for JSON pairs) from a preset name, a JSON list of
    pairs, or "".

    "" means the default preset. JSON may be ``[["in", "out"], ...]`` or
    ``[{"input": "in", "output": "out"}, ...]``. A preset's instruction is used when `instruction`
    is empty. Raises `PromptError` for anything else.
    """
    spec = (spec or "").strip() or DEFAULT_PRESET
    preset = find_preset(spec)
    if preset is not None:
        return list(preset.examples), instruction or preset.instruction, preset
    try:
        data = json.loads(spec)
    except RecursionError:  # e.g. 100,000 nested brackets: the parser's depth limit, not a crash
        raise PromptError("examples JSON is nested too deeply: use [[input, output], ...]") from None
    except json.JSONDecodeError:
        raise PromptError(
            f"examples must be a preset name ({', '.join(PRESETS)}) or a JSON list of [input, output] pairs"
        ) from None
    if not isinstance(data, list):
        raise PromptError("examples JSON must be a list of [input, output] pairs")
    return [_json_pair(item, number) for number, item in enumerate(data, 1)], instruction, None


def _json_pair(item: Any, number: int) -> tuple[str, str]:
    """One example from JSON: a 2-item list or an object with "input" and "output"."""
    if isinstance(item, dict) and {"input", "output"} <= set(item):
        pair = [item["input"], item["output"]]
    elif isinstance(item, list) and len(item) == 2:
        pair = item
    else:
        pair = []
    if pair and all(isinstance(cell, str | int | float) for cell in pair):  # never a nested list
        return str(pair[0]), str(pair[1])
    raise PromptError(f'example {number} must be [input, output] or {{"input": ..., "output": ...}}')


def fewshot_steps(
    backend: Backend,
    settings: GenerationSettings,
    examples: Sequence[tuple[str, str]],
    new_input: str,
    instruction: str = "",
    base: str = "",
    one_line: bool = False,
    keep_words: bool = False,
) -> Iterator[Progress]:
    """Apply the examples' pattern to `new_input`; with `base`, extend that answer instead.

    `one_line` ends the output at the end of its first line (headlines, titles...); blank lines
    before it do not count. `keep_words` nudges the answer to keep the input's words (a rewrite).
    """
    prompt = fewshot_prompt(backend, settings, examples, new_input, instruction, base, keep_words)
    enough = first_line if one_line else None
    yield from stream_progress(backend, prompt, settings, base, enough=enough)


def fewshot_prompt(
    backend: Backend,
    settings: GenerationSettings,
    examples: Sequence[tuple[str, str]],
    new_input: str,
    instruction: str = "",
    base: str = "",
    keep_words: bool = False,
) -> Prompt:
    """The few-shot prompt for `new_input`; with `base`, the one that extends that open answer
    (without a copy source: the copy guide follows an answer from its start)."""
    used = backend.count_tokens(base) if base else 0
    budget = prompt_budget(backend, settings, used)
    chat = backend.info.chat
    prompt = build_fewshot(examples, new_input, instruction, budget=budget, chat=chat, keep_words=keep_words)
    if base:  # continue the open answer: plain document form, the model sees its earlier output
        prompt = replace(prompt, document=prompt.document + base, messages=(), copy_source="")
    return prompt


def first_line(written: str) -> str | None:
    """The output's first line once it is complete (leading blank lines dropped), else None."""
    text = written.lstrip()
    end = text.find("\n")
    return None if end < 0 else text[:end].rstrip()


def fewshot_from_spec(
    backend: Backend,
    settings: GenerationSettings,
    new_input: str,
    examples_json: str = "",
    instruction: str = "",
    stop_at_line_end: bool | None = None,
    keep_input_words: bool | None = None,
) -> Iterator[Progress]:
    """The API's and CLI's few-shot: examples from a preset name or JSON (see `examples_from_spec`).

    `stop_at_line_end` None follows the preset; `keep_input_words` None follows it on a base model
    (`keeps_words`). Both are off for JSON examples.
    """
    pairs, instruction_now, preset = examples_from_spec(examples_json, instruction)
    one_line = _flag(stop_at_line_end, preset.one_line if preset else False)
    keep_words = _flag(keep_input_words, keeps_words(preset, backend.info.chat))
    yield from fewshot_steps(
        backend, settings, pairs, new_input, instruction_now, one_line=one_line, keep_words=keep_words
    )


def _flag(asked: bool | None, preset_value: bool) -> bool:
    """The caller's choice when given, else the preset's."""
    return preset_value if asked is None else bool(asked)
