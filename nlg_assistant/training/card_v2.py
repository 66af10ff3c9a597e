"""The model card of a v2 model (issue 14): warm-started from v1, trained by `train-v2`, compared with v1.

As in `card.py`, every number printed is read from files the other commands wrote: the run's
`settings.json`, `summary.json` and `metrics.jsonl`, the side-by-side `eval --json` of v2 and v1 on the same
windows and tries, the fine-tuning mix's counts, the prepared data's `meta.json`, the speed benchmark. The
free text (what the model still cannot do) is the notes file named in the spec.

    python -m nlg_assistant.training card-v2 assets/models/storyteller --report runs/card_v2.json
"""

from __future__ import annotations

import json
from pathlib import Path

from nlg_assistant.training.card import (
    _cpu_name,
    _load_json,
    _speed_section,
    _table,
    generate_samples,
    plot_losses,
    read_metrics,
)

TASK_ROWS = (  # (label, key, format): the per-tab figures of `eval --tasks`
    ("outlines with the asked number of headings", "outline_ok_share", "share"),
    ("sections on format (>= 20 words, no heading or apparatus)", "section_ok_share", "share"),
    ("formal rewrite: character error rate of the output", "formal_cer", "float"),
    ("formal rewrite: character error rate of the input (unchanged)", "formal_cer_input", "float"),
    ("formal rewrite: tries that lowered the error rate", "formal_improved_share", "share"),
    ("story continuations reusing a memory name", "story_ok_share", "share"),
)


def collect_v2(spec: dict, folder: Path) -> dict:
    """All numbers the v2 card prints, from the files named in `spec`."""
    run = Path(spec["run"])
    evals = _load_json(spec["eval"])
    return {
        "config": _load_json(folder / "config.json"),
        "settings": _load_json(run / "settings.json"),
        "summary": _load_json(run / "summary.json"),
        "v2": evals[spec["v2_key"]],
        "v1": evals[spec["v1_key"]],
        "mix": _load_json(spec["mix"]),
        "data": _load_json(Path(spec["data_dir"]) / "meta.json"),
        "speed": _load_json(spec["speed"]),
        "generation_config": _load_json(folder / "generation_config.json"),
        "folder_bytes": sum(
            f.stat().st_size for f in folder.iterdir() if f.suffix in (".safetensors", ".json")
        ),
        "hardware": spec.get("hardware") or f"{_cpu_name()}, 2 shared cores",
        "earlier": [_run_record(Path(r)) for r in spec.get("earlier_runs", [])],
        "name": spec.get("name", "v2"),
        "previous": evals[spec["previous_key"]] if spec.get("previous_key") else None,
        "previous_name": spec.get("previous_name", "previous"),
    }


def _run_record(run: Path) -> dict:
    """An earlier run's summary and settings (for the lineage line of the card). A run stopped before its
    end has no summary.json: its last logged step stands in for it (not decayed)."""
    settings = {"settings": _load_json(run / "settings.json")}
    if (run / "summary.json").exists():
        return _load_json(run / "summary.json") | settings
    last = read_metrics(run)[0][-1]
    return {"tokens_seen_this_run": last["tokens"], "seconds": last["seconds"], "decayed": False} | settings


def _run_line(e: dict) -> str:
    """One earlier run in the lineage: tokens, minutes, its decay (or none) and its copy drills."""
    s = e["settings"]
    decay = (
        f"decayed with {s['mix_frac']:.0%} mix rows" if e.get("decayed", True) else "stopped before a decay"
    )
    drills = f", {s['copy_frac']:.0%} copy drills" if s.get("copy_frac") else ""
    return (
        f"{e['tokens_seen_this_run'] / 1e6:.1f} M tokens in {e['seconds'] / 60:.0f} minutes, {decay}{drills}"
    )


def _lineage(n: dict) -> str:
    """How the weights got to this run's start: v1, then each earlier run (none: v1 itself)."""
    earlier = n["earlier"]
    if not earlier:
        return f"Warm start from v1's weights (`{n['settings']['init_from']}`)"
    steps = "; ".join(
        _run_line(e) + (" (from v1's weights)" if i == 0 else "") for i, e in enumerate(earlier)
    )
    total = sum(e["tokens_seen_this_run"] for e in [*earlier, n["summary"]])
    return (
        f"Warm start from `{n['settings']['init_from']}`, the end of {len(earlier)} earlier run(s) "
        f"({steps}); in all {n['name']} trained on {total / 1e6:.1f} M tokens after v1"
    )


def _head(n: dict) -> str:
    v2, v1 = n["v2"], n["v1"]
    return (
        "---\nlicense: apache-2.0\nlanguage: en\nlibrary_name: transformers\npipeline_tag: text-generation\n"
        f"---\n\n# storyteller {n['name']}: the nlg-assistant house story model\n\n"
        f"A {n['summary']['params'] / 1e6:.2f} M-parameter Llama trained on public-domain children's books, "
        f"the app's offline default. {n['name']} continues v1's weights with Muon + AdamW, a "
        "warm-up-stable-decay schedule, cleaned text and a fine-tuning mix of the app's own task formats "
        "in the decay. Held-out "
        f"perplexity {v2['ppl']:.2f} (v1: {v1['ppl']:.2f} on the same windows, "
        f"{100 * (v2['ppl'] / v1['ppl'] - 1):+.0f}%); {n['speed']['tokens_per_s']:.0f} tokens/s at batch 1 "
        "on 2 CPU threads.\n"
    )


def _data_section(n: dict) -> str:
    d, mix = n["data"], n["mix"]
    files = ", ".join(Path(f).name for f in d["files"])
    examples = ", ".join(f"{k} {v:,}" for k, v in mix["examples"].items())
    return (
        "## Data\n\n"
        f"Project Gutenberg children's books from the shared corpus ({files}): {d['n_docs']} books whose "
        "authors died before 1955, split by whole books with seed "
        f"{d['seed']} exactly as for v1, so v1's held-out books stay held out: {len(d['val']['docs'])} "
        f"held-out books, {len(d['train']['docs'])} training books ({d['train']['tokens']:,} tokens after "
        "cleaning). Cleaning (`training/clean.py`) drops contents and illustration lists, `[Illustration]` "
        "lines, captions and all-caps datelines and rewrites chapter headings as `## Title` lines, the "
        "Article tab's heading format. Tokeniser: v1's sentencepiece BPE (8,192 pieces, byte fallback).\n\n"
        f"Fine-tuning mix (`training/finetune.py`, training books only): {mix['tokens']:,} tokens of "
        f"examples in the app's exact prompt layouts ({examples}).\n\n"
        "## Licence\n\nThe texts are public domain in the USA (pre-1929 publications); the death-year filter "
        "also leaves out books that may still be in copyright in life+70 countries. The weights are released "
        "under the repository's Apache-2.0 licence.\n"
    )


def _config_section(n: dict) -> str:
    c = n["config"]
    rope = c.get("rope_parameters", {}).get("rope_theta", c.get("rope_theta"))
    rows = [
        ["architecture", "LlamaForCausalLM (no custom code)"],
        ["parameters", f"{n['summary']['params']:,}"],
        [
            "hidden size / layers / heads",
            f"{c['hidden_size']} / {c['num_hidden_layers']} / {c['num_attention_heads']}",
        ],
        ["MLP size / vocabulary", f"{c['intermediate_size']} / {c['vocab_size']}"],
        ["rope_theta", f"{rope:g}"],
        [
            "trained context",
            f"{n['settings']['seq_len']}, then {n['settings']['decay_seq_len']} in the decay",
        ],
        ["context window (config)", c["max_position_embeddings"]],
        ["weights", f"fp32 safetensors, folder {n['folder_bytes'] / 2**20:.1f} MiB"],
    ]
    return "## Model\n\n" + _table(["", ""], rows) + "\n"


def _drills(settings: dict) -> str:
    """The run's copy drills in words ('' for none)."""
    share = settings.get("copy_frac") or 0
    return f" and {share:.0%} copy drills (random token spans, each repeated)" if share else ""


def _training_section(n: dict) -> str:
    s, m = n["settings"], n["summary"]
    sched = m["schedule"]
    return (
        "## Training\n\n"
        f"{_lineage(n)}; rope_theta {s['rope_theta']:g}. "
        "Next-token cross-entropy; Muon (fp32 Newton-Schulz, update RMS matched to AdamW's) on the hidden "
        f"matrices and AdamW on embeddings and norms, one peak rate {s['lr']:g}; warm-up {s['warmup_steps']} "
        f"steps, stable, then a 1-sqrt decay to {s['min_lr_ratio']:g} of the peak over the last "
        f"{sched['decay_steps']} steps, on {s['decay_seq_len']}-token windows with "
        f"{s['mix_frac']:.0%} of the rows from the fine-tuning mix{_drills(s)}. Batch {s['batch_size']}; "
        f"{m['step']:,} steps, "
        f"{m['tokens_seen_this_run'] / 1e6:.1f} M tokens, {m['seconds'] / 60:.0f} minutes in this run. "
        "Hardware: "
        f"{n['hardware']}. v1's history (pre-training from scratch, the distillation comparison) is in "
        "`docs/storyteller_v1.md` of the repository.\n\n![loss curve](loss_curve.png)\n"
    )


def _figure(value, kind: str, tries: int | None) -> str:
    if value is None:
        return "-"
    if kind == "share":
        return f"{round(value * tries)} of {tries}" if tries else f"{value:.0%}"
    return f"{value:.3f}"


COPY_ROWS = (  # (label, key): the copy check of `eval --copying` (mean loss per token, nats)
    ("copy check: loss on a held-out paragraph", "copy_first_nll"),
    ("copy check: loss on the same paragraph repeated", "copy_second_nll"),
)


def _columns(n: dict) -> list[tuple[str, dict]]:
    """The card's model columns: this model, the previous house model (if named in the spec), v1."""
    previous = [(n["previous_name"], n["previous"])] if n.get("previous") else []
    return [(n["name"], n["v2"]), *previous, ("v1", n["v1"])]


def _eval_rows(cols: list[tuple[str, dict]]) -> list[list]:
    """One row per figure: perplexities, the trigram, per position, per tab, the copy check."""
    first = cols[0][1]
    rows = [
        [
            "held-out perplexity",
            *(f"**{m['ppl']:.2f}**" if i == 0 else f"{m['ppl']:.2f}" for i, (_, m) in enumerate(cols)),
        ]
    ]
    rows.append(["bits per character", *(f"{m['bits_per_char']:.3f}" for _, m in cols)])
    if "trigram_ppl" in first:
        rows.append(["Kneser-Ney trigram (same targets)", *(f"{first['trigram_ppl']:.2f}" for _ in cols)])
    for band in first.get("ppl_by_position", {}):
        rows.append([f"perplexity at tokens {band}", *(f"{m['ppl_by_position'][band]:.1f}" for _, m in cols)])
    for label, key, kind in TASK_ROWS:
        tries = first.get(f"{key.split('_')[0]}_tries")
        rows.append([label, *(_figure(m.get(key), kind, tries) for _, m in cols)])
    for label, key in COPY_ROWS if "copy_second_nll" in first else ():
        rows.append([label, *(_figure(m.get(key), "float", None) for _, m in cols)])
    return rows


def _eval_section(n: dict) -> str:
    cols = _columns(n)
    first = cols[0][1]
    return (
        "## Evaluation\n\n"
        f"The models on the same {first['windows']} windows of {first['seq_len']} tokens of the held-out "
        "books (v1's uncleaned validation stream, token for token v1's card windows) and the same seeded "
        "tries per tab, built from held-out books with the app's own prompts and each model's sampling "
        "settings (`python -m nlg_assistant.training eval ... --positions --tasks N --copying N`).\n\n"
        + _table(["figure", *(name for name, _ in cols)], _eval_rows(cols))
        + "\n"
    )


def _samples_section(n: dict, samples: list[dict]) -> str:
    parts = ["## Samples (unedited, first seeds tried, the folder's generation settings, 120 new tokens)\n"]
    for s in samples:
        body = s["continuation"].replace("\n", "\n>\n> ")
        parts.append(f"**Prompt:** `{s['prompt']}` (seed {s['seed']})\n\n> {s['prompt']}{body}\n")
    for kind, text in n["v2"].get("samples", {}).items():
        parts.append(
            f"**{kind} try** (held-out book, the app's prompt; output up to the app's stop):\n\n"
            f"```\n{text.strip()}\n```\n"
        )
    return "\n".join(parts)


def write_card_v2(folder: Path, spec: dict) -> Path:
    """Write README.md, loss_curve.png and card_numbers.json of a v2 model into `folder`."""
    numbers = collect_v2(spec, folder)
    plot_losses({"v2": Path(spec["run"])}, folder / "loss_curve.png")
    samples = generate_samples(folder)
    (folder / "card_numbers.json").write_text(json.dumps(numbers | {"samples": samples}, indent=1))
    notes = Path(spec["notes"]).read_text() if spec.get("notes") else ""
    body = [
        _head(numbers),
        _data_section(numbers),
        _config_section(numbers),
        _training_section(numbers),
        _eval_section(numbers),
        _speed_section(numbers),
        _samples_section(numbers, samples),
        notes,
    ]
    (folder / "README.md").write_text("\n".join(body))
    return folder / "README.md"
