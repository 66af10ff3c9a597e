"""Per-tab figures on held-out books, with the app's prompts and each model's own sampling settings.

- outline: share of outlines, written by the Article tab's own steps (`tasks.article.outline_steps` on a
  local backend: the app numbers the lines, the model writes each heading), that `prompts.parse_outline`
  reads as exactly the asked number of headings;
- section: share of outputs (cut at the app's stop strings) with >= 20 words and no apparatus line or
  heading in them (`clean.clean_document` leaves them unchanged);
- few-shot formal rewrite (the app's preset, written by the task layer's own steps): character error
  rate of the output as the tab shows it (cut at the end of its first line, the preset being one-line)
  against the original sentence, next to the corrupted input's;
- story: share of continuations that reuse a name given in the memory note.
Tries are seeded (the same prompts and seeds for every model), so models compare side by side.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from nlg_assistant import prompts
from nlg_assistant.training import finetune
from nlg_assistant.training.clean import clean_document


@dataclass(frozen=True)
class Task:
    """One try: the prompt document, where the app stops, and what scoring needs."""

    kind: str
    prompt: str
    stops: tuple[str, ...]
    expected: object  # outline: heading count; formal: (corrupted, original); story: names; section: None
    topic: str = ""  # outline: the book's title, the Article tab's topic


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions), O(len(a) * len(b))."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer(hypothesis: str, reference: str) -> float:
    """Character error rate of `hypothesis` against `reference`."""
    return edit_distance(hypothesis, reference) / max(1, len(reference))


def cut_at_stops(text: str, stops: tuple[str, ...]) -> str:
    """`text` up to the first stop string (as the app's streams end)."""
    ends = [text.find(s) for s in stops if s in text]
    return text[: min(ends)] if ends else text


def shown_rewrite(output: str) -> str:
    """The formal rewrite the Few-shot tab shows for a model's `output`: cut at the stop strings and,
    as the preset is one-line, at the end of its first line (the whole text if it has none)."""
    from nlg_assistant.tasks.fewshot import first_line

    text = cut_at_stops(output, prompts.FEWSHOT_STOP)
    line = first_line(text) if prompts.PRESETS["Formal rewrite"].one_line else None
    return (text if line is None else line).strip()


def outline_tasks(books, rng: random.Random, n: int) -> list[Task]:
    """Outline prompts for windows of 3-8 chapters of held-out books."""
    out = []
    usable = [(t, s) for t, s in books if len(s) >= 3]
    for _ in range(n if usable else 0):
        title, sections = rng.choice(usable)
        k = rng.randint(3, min(8, len(sections)))
        doc = prompts.build_outline(title, length_words=150 * k).document
        out.append(Task("outline", doc, prompts.OUTLINE_STOP, k, title))
    return out


def section_tasks(books, rng: random.Random, n: int, count, limit: int) -> list[Task]:
    """Section prompts (the article so far = earlier openings) from held-out chapters."""
    out = []
    usable = [(t, s) for t, s in books if len(s) >= 3]
    for _ in range(n if usable else 0):
        title, sections = rng.choice(usable)
        k = rng.randint(3, min(8, len(sections)))
        start = rng.randrange(len(sections) - k + 1)
        doc = finetune.section_prompt(title, sections[start : start + k], rng.randrange(k), count, limit)
        out.append(Task("section", doc, prompts.SECTION_STOP, None))
    return out


def formal_tasks(sentences: list[str], rng: random.Random, n: int) -> list[Task]:
    """The app's "Formal rewrite" preset applied to corrupted held-out sentences."""
    preset = prompts.PRESETS["Formal rewrite"]
    out = []
    for original in rng.sample(sentences, min(n, len(sentences))):
        corrupted = finetune.corrupt(original, rng)
        doc = prompts.build_fewshot(preset.examples, corrupted, preset.instruction).document
        out.append(Task("formal", doc, prompts.FEWSHOT_STOP, (corrupted, original)))
    return out


def story_tasks(books, rng: random.Random, n: int) -> list[Task]:
    """Story prompts whose memory names a character the true continuation mentions."""
    out = []
    sections = [s for _, secs in books for s in secs]
    for _ in range(n * 20):
        if len(out) >= n or not sections:
            break
        s = rng.choice(sections)
        doc, _, names = finetune.story_prompt(s.paragraphs, rng.randrange(len(s.paragraphs)), rng)
        if names:
            out.append(Task("story", doc, prompts.STORY_STOP, tuple(names)))
    return out


def build_tasks(books: list[tuple[str, str]], n: int, seed: int, count, limit: int = 400) -> list[Task]:
    """`n` tries per tab from held-out (title, raw text) books."""
    rng = random.Random(seed)
    cleaned = [(t, finetune.book_sections(clean_document(raw))) for t, raw in books]
    paragraphs = [p for _, secs in cleaned for s in secs for p in s.paragraphs]
    return [
        *outline_tasks(cleaned, rng, n),
        *section_tasks(cleaned, rng, n, count, limit),
        *formal_tasks(finetune.sentences_of(paragraphs), rng, n),
        *story_tasks(cleaned, rng, n),
    ]


def score(task: Task, output: str) -> dict:
    """The figure(s) of one try."""
    if task.kind == "outline":  # `output` is the outline as the tab shows it (`app_outline`)
        return {"ok": len(prompts.parse_outline(output)) == task.expected}
    text = cut_at_stops(output, task.stops).strip()
    if task.kind == "section":
        lines = "\n".join(line.strip() for line in text.split("\n") if line.strip())
        return {
            "ok": len(text.split()) >= 20 and clean_document(lines) == lines and not lines.startswith("#")
        }
    if task.kind == "formal":
        corrupted, original = task.expected
        shown = shown_rewrite(output)
        return {"cer": cer(shown, original), "cer_input": cer(corrupted, original)}
    return {"ok": any(name in text for name in task.expected)}


@torch.no_grad()
def generate(model, tok, prompt: str, seed: int, max_new_tokens: int) -> str:
    """One sampled continuation with the model's own generation settings (as the app uses them)."""
    torch.manual_seed(seed)
    ids = tok(prompt, return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id)
    return tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)


MAX_NEW = {"outline": 90, "section": 160, "formal": 60, "story": 80}


def app_outline(backend, task: Task, seed: int) -> str:
    """The outline the Article tab shows for `task`: the task layer's own steps, the app's default
    sampling settings (those of the house model's generation config) with this seed."""
    from nlg_assistant.config import GenerationSettings
    from nlg_assistant.tasks.article import outline_steps

    settings = GenerationSettings(max_new_tokens=MAX_NEW["outline"], seed=seed)
    *_, last = outline_steps(backend, settings, task.topic, length_words=150 * task.expected)
    return last.text


def app_formal(backend, task: Task, seed: int) -> str:
    """The rewrite the Few-shot tab shows for `task` with the Formal rewrite preset: the task layer's
    own steps (its prompt, one-line stop, penalty scope and copy guide), the app's default settings,
    this seed."""
    from nlg_assistant.config import GenerationSettings
    from nlg_assistant.tasks.fewshot import fewshot_steps, keeps_words

    preset = prompts.PRESETS["Formal rewrite"]
    settings = GenerationSettings(max_new_tokens=MAX_NEW["formal"], seed=seed)
    corrupted, _ = task.expected
    flags = {"one_line": preset.one_line, "keep_words": keeps_words(preset, backend.info.chat)}
    *_, last = fewshot_steps(backend, settings, preset.examples, corrupted, preset.instruction, **flags)
    return last.text


def local_backend(model, tok):
    """`model` and `tok` as the app's local backend (what the Article tab's steps call)."""
    from nlg_assistant.generation import LocalBackend
    from nlg_assistant.models import LoadedModel

    window = model.config.max_position_embeddings
    loaded = LoadedModel(model, tok, "eval", "cpu", model.dtype, window, chat=False)
    return LocalBackend(loaded, timeout_s=600)


def run_tasks(model, tok, tasks: list[Task], seed: int) -> dict:
    """Per-tab figures of one model on `tasks` (same seeds for every model), plus one sample per tab."""
    rows: dict[str, list[dict]] = {}
    samples: dict[str, str] = {}
    backend = local_backend(model, tok)
    for i, task in enumerate(tasks):
        if task.kind == "outline":
            output = app_outline(backend, task, seed + i)
        elif task.kind == "formal":
            output = app_formal(backend, task, seed + i)
        else:
            output = cut_at_stops(generate(model, tok, task.prompt, seed + i, MAX_NEW[task.kind]), task.stops)
        rows.setdefault(task.kind, []).append(score(task, output))
        samples.setdefault(task.kind, output)
    return summarise(rows) | {"samples": samples}


def summarise(rows: dict[str, list[dict]]) -> dict:
    """Shares and mean CERs by tab."""
    out = {}
    for kind, results in rows.items():
        if kind == "formal":
            out["formal_cer"] = sum(r["cer"] for r in results) / len(results)
            out["formal_cer_input"] = sum(r["cer_input"] for r in results) / len(results)
            out["formal_improved_share"] = sum(r["cer"] < r["cer_input"] for r in results) / len(results)
        else:
            out[f"{kind}_ok_share"] = sum(r["ok"] for r in results) / len(results)
        out[f"{kind}_tries"] = len(results)
    return out
