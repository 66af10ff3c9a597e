"""Ship a trained model folder and write its model card (README.md), loss curve and numbers.

Everything printed in the card is read from files the other commands wrote (run summaries, metrics,
eval JSONs, the speed benchmark) or generated here (samples); nothing is typed in by hand except the
free-text notes file.
"""

from __future__ import annotations

import json
import math
import platform
from pathlib import Path

from nlg_assistant.training.train import export_model

GENERATION_DEFAULTS = {
    "do_sample": True,
    "temperature": 0.8,
    "top_k": 50,
    "top_p": 0.95,
    "repetition_penalty": 1.1,
    "max_new_tokens": 200,
}
PROMPTS = [
    "Once upon a time there was a little",
    "The old king called his three sons and said,",
    "In the middle of the dark forest",
]
COLORS = {"teacher": (31, 119, 180), "student_plain": (255, 127, 14), "student_kd": (44, 160, 44)}


def ship(final_dir: Path, dest: Path) -> Path:
    """Copy a run's final model (fp32 safetensors + tokenizer) to `dest` with sampling defaults."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    from nlg_assistant.training.tokenizer import load_tokenizer

    model = AutoModelForCausalLM.from_pretrained(str(final_dir), dtype=torch.float32)
    tok = load_tokenizer(final_dir)
    export_model(model, tok, dest)
    gen = GenerationConfig(
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        **GENERATION_DEFAULTS,
    )
    gen.save_pretrained(str(dest))
    return dest


def read_metrics(run_dir: Path) -> tuple[list[dict], list[dict]]:
    """(train records, val records) from a run's metrics.jsonl."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
    return [r for r in rows if "train_loss" in r], [r for r in rows if "val_loss" in r]


def _scale(v: float, lo: float, hi: float, a: int, b: int) -> float:
    return a + (v - lo) / max(hi - lo, 1e-9) * (b - a)


def plot_losses(runs: dict[str, Path], out_png: Path, size=(900, 560)) -> Path:
    """Train (thin) and validation (thick, dots) loss against training step for each run, with Pillow."""
    from PIL import Image, ImageDraw

    curves = {name: read_metrics(d) for name, d in runs.items()}
    steps = [r["step"] for tr, va in curves.values() for r in tr + va]
    losses = [r.get("train_loss", r.get("val_loss")) for tr, va in curves.values() for r in tr + va]
    x0, x1, y0, y1 = 70, size[0] - 20, size[1] - 50, 20
    lo, hi = math.floor(min(losses)), min(math.ceil(max(losses)), 10)
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle([x0, y1, x1, y0], outline="black")
    for tick in range(int(lo), int(hi) + 1):
        y = _scale(tick, lo, hi, y0, y1)
        draw.line([x0, y, x1, y], fill=(225, 225, 225))
        draw.text((x0 - 30, y - 6), f"{tick}", fill="black")
    for k in range(6):
        s = max(steps) * k / 5
        draw.text((_scale(s, 0, max(steps), x0, x1) - 10, y0 + 8), f"{int(s)}", fill="black")
    draw.text((x0 + 300, y0 + 28), "optimizer step   (y: loss, nats/token)", fill="black")
    for i, (name, (tr, va)) in enumerate(curves.items()):
        color = COLORS.get(name, (100, 100, 100))
        pts = [
            (
                _scale(r["step"], 0, max(steps), x0, x1),
                _scale(min(r.get("train_ce", r["train_loss"]), hi), lo, hi, y0, y1),
            )
            for r in tr
        ]
        draw.line(pts, fill=color, width=1)
        vpts = [
            (_scale(r["step"], 0, max(steps), x0, x1), _scale(min(r["val_loss"], hi), lo, hi, y0, y1))
            for r in va
        ]
        draw.line(vpts, fill=color, width=3)
        for x, y in vpts:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=color)
        draw.text((x1 - 260, y1 + 10 + 16 * i), f"{name}: thin=train CE, thick=val", fill=color)
    img.save(out_png)
    return out_png


def generate_samples(folder: Path, n_tokens: int = 120, seed: int = 0) -> list[dict]:
    """One sample per prompt with the folder's own generation_config, seeded."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    samples = []
    for i, prompt in enumerate(PROMPTS):
        torch.manual_seed(seed + i)
        ids = tok(prompt, return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=n_tokens, pad_token_id=tok.pad_token_id)
        # decode the whole sequence: decoding the new ids alone would drop the first space
        full = tok.decode(out[0], skip_special_tokens=True)
        text = full[len(prompt) :] if full.startswith(prompt) else full
        samples.append({"prompt": prompt, "seed": seed + i, "continuation": text})
    return samples


def _load_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def _run_facts(run_dir: Path) -> dict:
    """Settings + summary of one training run."""
    return {
        "settings": _load_json(run_dir / "settings.json"),
        "summary": _load_json(run_dir / "summary.json"),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def collect(spec: dict, folder: Path) -> dict:
    """All numbers the card prints, gathered from the files named in `spec`."""
    config = _load_json(folder / "config.json")
    runs = {k: _run_facts(Path(v)) for k, v in spec["runs"].items()}
    size = sum(f.stat().st_size for f in folder.iterdir() if f.suffix in (".safetensors", ".json"))
    return {
        "shipped_from": spec["shipped_from"],
        "config": config,
        "runs": runs,
        "evals": {k: _load_json(v) for k, v in spec["evals"].items()},
        "slice": _load_json(folder / "eval_slice.json"),
        "speed": _load_json(spec["speed"]),
        "data": _load_json(Path(spec["data_dir"]) / "meta.json"),
        "folder_bytes": size,
        "hardware": f"{_cpu_name()}, 2 threads (2 shared cores, other jobs running)",
        "generation_config": _load_json(folder / "generation_config.json"),
    }


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def _data_section(n: dict) -> str:
    d = n["data"]
    files = ", ".join(Path(f).name for f in d["files"])
    return (
        "## Data\n\n"
        f"Project Gutenberg children's books from the shared corpus ({files}). Books whose author or listed "
        f"contributor died in or after {d['min_death_year']} were left out (manifest column "
        f"`author_death_year`), leaving {d['n_docs']} books. Whole books were held out for validation "
        f"(seeded shuffle, seed {d['seed']}): {len(d['val']['docs'])} validation books "
        f"({d['val']['tokens']:,} tokens), {len(d['train']['docs'])} training books "
        f"({d['train']['tokens']:,} "
        f"tokens). Validation books: {', '.join(d['val']['docs'])}.\n\n"
        f"Tokeniser: sentencepiece BPE, {d['vocab_size']} pieces, byte fallback, no normalisation (newlines "
        "and spacing round-trip), trained on a sample of the training split only; saved as a transformers "
        "`LlamaTokenizer` (tokenizer.json). Special tokens `<s>` (bos, prepended), `</s>` (eos, "
        "appended after "
        "every book in the training stream), `<unk>`, `<pad>`.\n\n"
        "## Licence\n\nThe texts are public domain in the USA (pre-1929 publications, GITenberg metadata "
        "`rights: Public domain in the USA`); the filter above also removes books that may still be in "
        "copyright in life+70 countries. The weights are released under the repository's Apache-2.0 "
        "licence.\n"
    )


def _config_section(n: dict) -> str:
    c, ship = n["config"], n["runs"][n["shipped_from"]]
    params = ship["summary"]["params"]
    rows = [
        ["architecture", "LlamaForCausalLM (no custom code)"],
        ["parameters", f"{params:,} ({params / 1e6:.2f} M)"],
        [
            "hidden size / layers / heads",
            f"{c['hidden_size']} / {c['num_hidden_layers']} / {c['num_attention_heads']}",
        ],
        ["MLP size", c["intermediate_size"]],
        ["vocabulary", c["vocab_size"]],
        ["tied embeddings", c.get("tie_word_embeddings")],
        ["trained context", ship["settings"]["seq_len"] or 256],
        ["context window (config)", c["max_position_embeddings"]],
        ["weights", f"fp32 safetensors, folder {n['folder_bytes'] / 2**20:.1f} MiB"],
    ]
    return "## Model\n\n" + _table(["", ""], rows) + "\n"


def _training_rows(n: dict) -> list[list]:
    rows = []
    for name, r in n["runs"].items():
        s, m = r["settings"], r["summary"]
        kd = f"alpha {s['alpha']}, T {s['temperature']}" if s["teacher"] else "none"
        rows.append(
            [
                name,
                s["preset"],
                f"{m['params'] / 1e6:.2f} M",
                m["step"],
                f"{m['tokens_seen'] / 1e6:.2f} M",
                f"{m['seconds'] / 60:.1f} min",
                s["batch_size"],
                s["lr"],
                kd,
            ]
        )
    return rows


def _training_section(n: dict) -> str:
    header = [
        "run",
        "preset",
        "params",
        "steps",
        "tokens seen",
        "train time",
        "batch",
        "peak lr",
        "distillation",
    ]
    return (
        "## Training\n\n"
        "Next-token cross-entropy, AdamW (betas 0.9/0.95, weight decay 0.1 on matrices), linear warm-up then "
        "cosine decay to 10% of the peak rate, gradient clipping at 1.0, sequences of "
        f"{n['runs'][n['shipped_from']]['settings']['seq_len'] or 256} tokens drawn at random "
        "offsets (a pure function of seed and step, so runs resume exactly and the two students saw the same "
        f"data in the same order). Hardware: {n['hardware']}. Wall-clock times include contention from the "
        "team's other jobs.\n\n" + _table(header, _training_rows(n)) + "\n\n![loss curve](loss_curve.png)\n"
    )


def _eval_section(n: dict) -> str:
    ev = n["evals"]
    base = next(e for e in ev.values() if "trigram_ppl" in e)
    rows = [
        [k, f"{e['ppl']:.2f}", f"{e['tokens']:,}", f"{e['score_tokens_per_s']:.0f}"] for k, e in ev.items()
    ]
    rows.append(
        [
            "Kneser-Ney trigram (same training split, same target tokens)",
            f"{base['trigram_ppl']:.2f}",
            f"{base['tokens']:,}",
            "-",
        ]
    )
    sl = n["slice"]
    return (
        "## Evaluation\n\n"
        f"Perplexity on the held-out books: {base['windows']} non-overlapping windows of "
        f"{base['seq_len']} tokens "
        "spread evenly over the validation stream (each window starts with no earlier context; the trigram "
        "sees the two previous tokens at every position, a slight advantage at window starts). "
        "Interpolated Kneser-Ney trigram with Ney discounts, fitted on the training-split tokens.\n\n"
        + _table(["model", "val ppl", "tokens scored", "scoring tok/s"], rows)
        + f"\n\nTest slice (`eval_slice.json`, recomputed by `tests/test_training.py`): first "
        f"{sl['max_docs']} "
        f"validation books cut to {sl['max_chars']:,} characters each, {sl['tokens']:,} tokens: "
        f"ppl {sl['ppl']:.3f}.\n"
    )


def _distil_section(n: dict) -> str:
    plain, kd = n["evals"]["student_plain"], n["evals"]["student_kd"]
    rp, rk = n["runs"]["student_plain"], n["runs"]["student_kd"]
    rows = [
        [
            "plain (CE only)",
            rp["summary"]["step"],
            f"{plain['ppl']:.2f}",
            f"{rp['summary']['seconds'] / 60:.1f} min",
        ],
        [
            f"distilled (alpha {rk['settings']['alpha']}, T {rk['settings']['temperature']})",
            rk["summary"]["step"],
            f"{kd['ppl']:.2f}",
            f"{rk['summary']['seconds'] / 60:.1f} min",
        ],
    ]
    verdict = "helped" if kd["ppl"] < plain["ppl"] else "did not help"
    return (
        "## Distillation comparison\n\n"
        "Same student shape, same init seed, same batches in the same order, same number of steps, same "
        "validation windows; the only difference is the loss "
        "(alpha*CE + (1-alpha)*T^2*KL(teacher_T || student_T)).\n\n"
        + _table(["student", "steps", "val ppl", "train time"], rows)
        + f"\n\nAt this budget distillation {verdict} (val ppl {kd['ppl']:.2f} vs {plain['ppl']:.2f}).\n"
    )


def _speed_section(n: dict) -> str:
    sp = n["speed"]
    return (
        "## Speed\n\n"
        f"`bench/house_model_speed.py`: {sp['tokens_per_s']:.1f} tokens/s at batch 1 with `model.generate` "
        f"({sp['threads']} CPU threads, {sp['new_tokens']} new tokens, sampling, median of "
        f"{len(sp['runs'])}) = "
        f"{sp['ratio_to_target']:.2f}x the {sp['target']:.0f} tok/s target. The figure depends on what else "
        "runs on the two cores at the time.\n"
    )


def _samples_section(samples: list[dict], gen: dict) -> str:
    keys = ["do_sample", "temperature", "top_k", "top_p", "repetition_penalty", "max_new_tokens"]
    settings = ", ".join(f"{k}={gen.get(k)}" for k in keys)
    parts = [f"## Samples (unedited, first seeds tried; {settings}, 120 new tokens)\n"]
    for s in samples:
        parts.append(
            f"**Prompt:** `{s['prompt']}` (seed {s['seed']})\n\n> {s['prompt']}"
            + s["continuation"].replace("\n", "\n>\n> ")
            + "\n"
        )
    return "\n".join(parts)


def write_card(folder: Path, spec: dict) -> Path:
    """Write README.md, loss_curve.png and card_numbers.json into the shipped model `folder`."""
    numbers = collect(spec, folder)
    plot_losses({k: Path(v) for k, v in spec["runs"].items()}, folder / "loss_curve.png")
    samples = generate_samples(folder)
    numbers["samples"] = samples
    (folder / "card_numbers.json").write_text(json.dumps(numbers, indent=1))
    ship = numbers["runs"][numbers["shipped_from"]]["summary"]
    head = (
        "---\nlicense: apache-2.0\nlanguage: en\nlibrary_name: transformers\npipeline_tag: "
        "text-generation\n---\n\n"
        "# storyteller: the nlg-assistant house story model\n\n"
        f"A {ship['params'] / 1e6:.1f} M-parameter Llama trained from scratch on public-domain "
        f"children's books, "
        f"shipped from the `{numbers['shipped_from']}` run as the app's offline default. Validation "
        f"perplexity "
        f"{numbers['evals'][numbers['shipped_from']]['ppl']:.2f}; {numbers['speed']['tokens_per_s']:.0f} "
        "tokens/s at batch 1 on 2 CPU threads.\n"
    )
    notes = Path(spec["notes"]).read_text() if spec.get("notes") else ""
    body = [
        head,
        _data_section(numbers),
        _config_section(numbers),
        _training_section(numbers),
        _eval_section(numbers),
        _distil_section(numbers),
        _speed_section(numbers),
        _samples_section(samples, numbers["generation_config"]),
        notes,
    ]
    (folder / "README.md").write_text("\n".join(body))
    return folder / "README.md"
