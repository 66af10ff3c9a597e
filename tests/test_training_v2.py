"""Tests for training v2: data cleaning, Muon groups, WSD schedule, light resume, per-position perplexity."""

from __future__ import annotations

import itertools
import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from nlg_assistant.training import clean, data, optim, positions, train_v2

TALES = [
    "Once upon a time a little fox lived in the green wood. He had a red tail and bright eyes.",
    'The princess walked to the old castle. "Who is there?" she asked, and opened the door.',
    "Every morning the baker made bread and sweet buns. The children ran to his shop before school.",
    "A clever crow found a jug of water. She dropped stones into it until she could drink.",
]

BOOK = "\n".join(
    [
        "THE FOX BOOK",
        "CONTENTS",
        "I. The Fox",
        "II. The Crow",
        "LIST OF ILLUSTRATIONS",
        "The fox in the wood Frontispiece",
        "The crow and the jug 12",
        "CHAPTER I",
        "THE FOX",
        TALES[0],
        "[Illustration: The fox]",
        '"HE RAN AWAY"',
        "CHAPTER II. The Crow and the Jug",
        TALES[3],
        "------------",
        "THE END.",
    ]
)


def test_clean_document_drops_apparatus_and_writes_headings():
    out = clean.clean_document(BOOK).split("\n")
    assert out == ["## The Fox", TALES[0], "## The Crow and the Jug", TALES[3]]


def test_clean_document_keeps_prose_that_starts_with_a_number_or_capitals():
    text = "3 or 4 of them came home late.\nI am glad you came, said the fox.\nOK."
    assert clean.clean_document(text) == text


def test_caps_story_titles_in_a_collection_become_headings():
    text = f"THE OLD MAN AND HIS GRANDSON\n{TALES[1]}\nCAT AND MOUSE IN PARTNERSHIP\n{TALES[2]}"
    assert clean.clean_document(text).split("\n")[::2] == [
        "## The Old Man and His Grandson",
        "## Cat and Mouse in Partnership",
    ]


def _tiny_model():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=128,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


def test_muon_gets_the_hidden_matrices_and_adamw_the_rest():
    model = _tiny_model()
    hidden, other = optim.split_parameters(model)
    names = {id(p): n for n, p in model.named_parameters()}
    assert hidden and all(p.dim() == 2 for p in hidden)
    assert all("embed" not in names[id(p)] for p in hidden)
    assert any("embed" in names[id(p)] for p in other) and any("norm" in names[id(p)] for p in other)
    assert len(hidden) + len(other) == len(list(model.parameters()))  # tied head counted once
    muon, adamw = optim.make_optimizers(model, 1e-3, 0.1)
    assert isinstance(muon, optim.Muon) and isinstance(adamw, torch.optim.AdamW)
    assert len(optim.make_optimizers(model, 1e-3, 0.1, muon=False)) == 1


def test_newton_schulz_orthogonalises_in_fp32():
    g = torch.randn(48, 16, dtype=torch.float64)
    u = optim.newton_schulz(g)
    assert u.dtype == torch.float32 and u.shape == g.shape
    s = torch.linalg.svdvals(u)
    assert s.min() > 0.5 and s.max() < 1.3  # all singular values pulled towards 1 (quintic NS: 0.7-1.2)
    assert torch.linalg.svdvals(g.float()).max() / torch.linalg.svdvals(g.float()).min() > 2


def test_muon_lowers_a_loss():
    model = _tiny_model()
    opts = optim.make_optimizers(model, 3e-3, 0.0)
    x = torch.randint(0, 64, (4, 16))
    losses = []
    for _ in range(20):
        loss = model(input_ids=x, labels=x).loss
        for opt in opts:
            opt.zero_grad()
        loss.backward()
        for opt in opts:
            opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.5


def test_wsd_schedule_warms_up_stays_then_decays():
    f = [optim.wsd_factor(s, 10, None, 0, 0.1) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == 1.0 and f[10:] == [1.0] * 90  # stable until decided
    d = [optim.wsd_factor(s, 10, 50, 40, 0.1) for s in range(100)]
    assert d[49] == 1.0 and d[50] == 1.0 and all(a > b for a, b in itertools.pairwise(d[50:91]))
    assert d[90] == pytest.approx(0.1) and d[99] == pytest.approx(0.1)


def test_resume_rewarms_but_never_raises_a_decaying_lr():
    s = train_v2.V2Settings("d", "o", warmup_steps=10, min_lr_ratio=0.1)
    sched = train_v2.Schedule(decay_start=100, decay_steps=100)
    assert sched.factor(50, s, warm_from=50) == pytest.approx(0.1)  # re-warm-up after a resume
    assert sched.factor(150, s, warm_from=0) < 1.0
    assert sched.factor(160, s, warm_from=150) <= sched.factor(160, s, warm_from=0)
    assert sched.done(200) and not sched.done(199)


@pytest.fixture(scope="module")
def v2_data(tmp_path_factory) -> Path:
    """A v2 data folder: cleaned tiny corpus tokenised with a tiny sentencepiece tokenizer."""
    from nlg_assistant.training import corpus
    from nlg_assistant.training import tokenizer as tk

    root = tmp_path_factory.mktemp("v2")
    books = ["\n".join(["CHAPTER I", "THE TALE", *[TALES[(b + k) % 4] for k in range(60)]]) for b in range(5)]
    files = [root / "gutenberg_children_01.txt"]
    files[0].write_text("".join(b + "\n<|endoftext|>\n" for b in books), encoding="utf-8")
    texts = [d.text for d in corpus.load_corpus(files, None)]
    sp = tk.train_sentencepiece(texts, root / "sp", 300, 100_000, 0)
    tk.build_hf_tokenizer(sp, root / "tok")
    torch.set_num_threads(1)
    data.prepare_v2(files, None, root / "prep", root / "tok", val_fraction=0.2, seed=0)
    return root / "prep"


def test_prepare_v2_keeps_the_split_and_cleans(v2_data):
    meta = json.loads((v2_data / "meta.json").read_text())
    assert len(meta["val"]["docs"]) == 1 and len(meta["train"]["docs"]) == 4
    assert meta["val"]["chars"] < meta["val_raw"]["chars"]  # "CHAPTER I" + "THE TALE" became "## The Tale"
    tok = data.tk.load_tokenizer(v2_data / "tokenizer")
    head = tok.decode(np.asarray(data.open_tokens(v2_data / "train.bin"))[:40], skip_special_tokens=True)
    assert head.startswith("## The Tale\n")


def _v2_settings(prep: Path, out: Path, **changes) -> train_v2.V2Settings:
    base = train_v2.V2Settings(
        data_dir=str(prep),
        out_dir=str(out),
        preset="tiny",
        seq_len=32,
        decay_seq_len=64,
        batch_size=8,
        lr=3e-3,
        warmup_steps=2,
        max_steps=12,
        decay_frac=0.25,
        eval_every=1000,
        eval_windows=4,
        log_every=3,
        device="cpu",
    )
    return replace(base, **changes)


def test_run_v2_decays_at_the_longer_length_with_the_mix_and_exports(v2_data, tmp_path):
    tok = data.tk.load_tokenizer(v2_data / "tokenizer")
    mix = tmp_path / "mix.bin"
    data.write_tokens(mix, data.encode_documents(tok, ["Topic: The Fox\n\n1. The Fox\n2. The Crow"] * 30))
    s = _v2_settings(v2_data, tmp_path / "run", mix=str(mix), mix_frac=0.5)
    summary = train_v2.run_v2(s, progress=False)
    assert summary["decayed"] and summary["schedule"] == {"decay_start": 9, "decay_steps": 3}
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train_lines = [x for x in lines if "train_loss" in x]
    assert [x["seq_len"] for x in train_lines] == [32, 32, 32, 64]
    assert train_lines[-1]["mix"] and train_lines[-1]["tokens"] == 12 * 8 * 32
    assert (tmp_path / "run" / "final" / "config.json").exists()


def test_decay_rows_come_from_the_mix(v2_data, tmp_path):
    tok = data.tk.load_tokenizer(v2_data / "tokenizer")
    mix = tmp_path / "mix.bin"
    data.write_tokens(mix, data.encode_documents(tok, ["Topic: The Fox\n\n1. The Fox\n2. The Crow"] * 30))
    s = _v2_settings(v2_data, tmp_path / "run", mix=str(mix), mix_frac=1.0)
    run = train_v2.setup(s)
    run.sched = train_v2.Schedule(0, 10)
    train_v2.load_mix(run, s)
    x, _ = train_v2.make_batch(run, s)
    assert x.shape == (4, 64) and (x[:, 0] == tok.bos_token_id).all()


def _first_span(row: torch.Tensor) -> int:
    """The length k of the span a copy drill starts with (row[:k] == row[k:2k])."""
    return next(k for k in range(8, 65) if torch.equal(row[:k], row[k : 2 * k]))


def test_copy_rows_repeat_each_random_span_of_token_ids():
    vocab = np.arange(1000, 3000)
    x, y = data.copy_rows(vocab, np.random.default_rng(0), 6, 200)
    assert x.shape == y.shape == (6, 200) and torch.equal(x[:, 1:], y[:, :-1])
    assert ((x >= 1000) & (x < 3000)).all()
    for row in x:
        k = _first_span(row)
        second = row[2 * k :]
        j = next((j for j in range(8, 65) if torch.equal(second[:j], second[j : 2 * j])), None)
        assert j is not None or len(second) < 2 * 64  # the next span repeats too, unless the row ends first
    assert not torch.equal(x[0], x[1])


def test_copy_frac_puts_copy_drills_in_every_phase(v2_data, tmp_path):
    s = _v2_settings(v2_data, tmp_path / "run", copy_frac=1.0)
    run = train_v2.setup(s)
    x, _ = train_v2.make_batch(run, s)  # stable phase, no mix
    assert x.shape[1] == 32 and all(_first_span(row) for row in x)
    assert x.min() > max(run.tok.all_special_ids)  # a drill never holds <s>, </s> or padding
    plain = train_v2.make_batch(run, replace(s, copy_frac=0.0))[0]
    assert not any(torch.equal(row[:8], row[8:16]) for row in plain)


def test_copy_drill_loss_is_logged_apart(v2_data, tmp_path):
    train_v2.run_v2(_v2_settings(v2_data, tmp_path / "run", copy_frac=0.5, log_every=4), progress=False)
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    copy = [x["copy_loss"] for x in lines if "train_loss" in x]
    # a fresh tiny model cannot copy yet: the drills cost about ln(vocab), more than the text rows
    vocab = len(data.tk.load_tokenizer(v2_data / "tokenizer"))
    assert len(copy) == 3 and all(c > 0.8 * math.log(vocab) for c in copy)


def test_light_checkpoint_resumes_weights_momentum_and_schedule(v2_data, tmp_path):
    s = _v2_settings(v2_data, tmp_path / "run", max_steps=0, decay_frac=0.0, bf16_weights=True)
    Path(s.out_dir).mkdir()
    run = train_v2.setup(s)
    for _ in range(3):
        train_v2.train_step(run, s, 0)
    run.sched = train_v2.Schedule(3, 5)
    train_v2.save_checkpoint(Path(s.out_dir) / "ckpt.pt", run, s)
    blob = torch.load(Path(s.out_dir) / "ckpt.pt", weights_only=False)
    assert set(blob) >= {"weights", "momentum", "step", "schedule"} and "optimizer" not in blob
    assert all(v.dtype == torch.bfloat16 for v in blob["weights"].values())
    resumed = train_v2.setup(s)
    assert (resumed.step, resumed.tokens, resumed.sched) == (3, 3 * 8 * 32, run.sched)
    for name, p in resumed.model.named_parameters():
        assert torch.allclose(p, dict(run.model.named_parameters())[name], rtol=1e-2, atol=1e-3)
    muon = resumed.opts[0]
    assert len(muon.state) == len(blob["momentum"]) > 0
    assert math.isfinite(train_v2.train_step(resumed, s, resumed.step))


def test_init_from_a_model_folder_sets_rope_theta(v2_data, tmp_path):
    from nlg_assistant.training.train import export_model

    s = _v2_settings(v2_data, tmp_path / "a", max_steps=0)
    run = train_v2.setup(s)
    export_model(run.model, run.tok, tmp_path / "m")
    warm = train_v2.setup(
        replace(s, out_dir=str(tmp_path / "b"), init_from=str(tmp_path / "m"), rope_theta=1e5)
    )
    assert warm.model.config.rope_parameters["rope_theta"] == 1e5
    assert warm.model.config.max_position_embeddings >= 2 * s.decay_seq_len
    a, b = run.model.state_dict(), warm.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_per_position_buckets_and_rope_change():
    model = _tiny_model().eval()
    tokens = np.random.default_rng(0).integers(0, 64, 4000).astype(np.uint16)
    nll = positions.token_nll(model, tokens, 96, 4)
    assert nll.shape == (4, 96)
    res = positions.by_position(nll, ((0, 32), (32, 96), (96, 200)))
    assert list(res) == ["0-31", "32-95"] and all(math.isfinite(v) for v in res.values())
    before = positions.token_nll(model, tokens, 96, 4)
    positions.with_rope_theta(model, 1e6)
    after = positions.token_nll(model, tokens, 96, 4)
    assert torch.allclose(before[:, 0], after[:, 0]) and not torch.allclose(before, after)


def test_time_mode_fixes_the_decay_from_the_measured_step_rate(v2_data, tmp_path):
    s = _v2_settings(v2_data, tmp_path / "run", max_steps=0, decay_frac=0.0, max_minutes=10, decay_minutes=2)
    run = train_v2.setup(s)
    run.step = 500
    train_v2.maybe_start_decay(run, s, elapsed=7 * 60, steps_per_s=1.0)
    assert run.sched.decay_start is None  # 8 minutes of stable training first
    train_v2.maybe_start_decay(run, s, elapsed=8 * 60, steps_per_s=1.0)
    assert run.sched == train_v2.Schedule(500, 108)  # 90% of 2 minutes at 1 step/s
    train_v2.maybe_start_decay(run, s, elapsed=9 * 60, steps_per_s=5.0)
    assert run.sched == train_v2.Schedule(500, 108)  # fixed once, kept across resumes
    assert not train_v2.should_stop(run, s, elapsed=10.5 * 60)  # a little grace to finish the decay
    assert train_v2.should_stop(run, s, elapsed=11 * 60)
    run.step = 608
    assert train_v2.should_stop(run, s, elapsed=0)


def test_export_checkpoint_writes_the_checkpoint_weights(v2_data, tmp_path):
    from transformers import AutoModelForCausalLM

    s = _v2_settings(v2_data, tmp_path / "run", max_steps=3, decay_frac=0.0)
    train_v2.run_v2(s, progress=False)
    folder = train_v2.export_checkpoint(tmp_path / "run", tmp_path / "exported")
    exported = AutoModelForCausalLM.from_pretrained(folder).state_dict()
    saved = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=False)["weights"]
    assert all(torch.equal(exported[k], saved[k]) for k in saved)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train_v2.export_checkpoint(tmp_path / "nothing", tmp_path / "x")


def test_card_v2_prints_the_measured_numbers_of_both_models(v2_data, tmp_path):
    """Train a tiny v2 run, ship it, `eval` it next to another model, then write the card from those files."""
    from nlg_assistant.training import card, cli
    from nlg_assistant.training.card_v2 import write_card_v2
    from nlg_assistant.training.evaluate import compare_models

    s = _v2_settings(v2_data, tmp_path / "run", max_steps=6, decay_frac=0.5)
    train_v2.run_v2(s, progress=False)
    shipped = card.ship(tmp_path / "run" / "final", tmp_path / "shipped")
    other = train_v2.export_checkpoint(tmp_path / "run", tmp_path / "other")
    eval_json = tmp_path / "eval.json"
    flags = ["--data-dir", str(v2_data), "--seq-len", "32", "--trigram", "--max-windows", "4"]
    args = cli.build_parser().parse_args(["eval", str(shipped), str(other), *flags, "--json", str(eval_json)])
    results = compare_models(args, None, Path("."))
    mix = tmp_path / "mix.json"
    mix.write_text(json.dumps({"examples": {"outline": 3, "formal": 2}, "tokens": 123}))
    speed = tmp_path / "speed.json"
    measured = {"tokens_per_s": 99.0, "threads": 1, "new_tokens": 8, "runs": [99.0]}
    speed.write_text(json.dumps(measured | {"ratio_to_target": 3.3, "target": 30.0}))
    spec = {
        "run": str(tmp_path / "run"),
        "eval": str(eval_json),
        "v2_key": str(shipped),
        "v1_key": str(other),
        "mix": str(mix),
        "data_dir": str(v2_data),
        "speed": str(speed),
    }
    readme = write_card_v2(shipped, spec).read_text()
    assert "Warm start from v1's weights" in readme and "6 steps" in readme
    readme = write_card_v2(
        shipped, spec | {"earlier_runs": [spec["run"]], "hardware": "a toaster"}
    ).read_text()
    tokens = json.loads((tmp_path / "run" / "summary.json").read_text())["tokens_seen_this_run"]
    assert "the end of 1 earlier run(s)" in readme and "Hardware: a toaster" in readme
    assert f"in all v2 trained on {2 * tokens / 1e6:.1f} M tokens after v1" in readme
    v2, v1 = results[str(shipped)], results[str(other)]
    assert f"| held-out perplexity | **{v2['ppl']:.2f}** | {v1['ppl']:.2f} |" in readme
    assert f"{v2['trigram_ppl']:.2f}" in readme and "outline 3, formal 2" in readme
    assert "6 steps" in readme and (shipped / "loss_curve.png").exists()
    numbers = json.loads((shipped / "card_numbers.json").read_text())
    assert numbers["v2"]["ppl"] == v2["ppl"] and len(numbers["samples"]) == len(card.PROMPTS)
    # a later house model: named, with the previous one as a column, after a run stopped before its decay
    stopped = tmp_path / "stopped"
    shutil.copytree(tmp_path / "run", stopped)
    (stopped / "summary.json").unlink()
    later = spec | {"name": "v2.1", "previous_key": str(other), "previous_name": "v2"}
    readme = write_card_v2(shipped, later | {"earlier_runs": [spec["run"], str(stopped)]}).read_text()
    assert "# storyteller v2.1:" in readme and "| figure | v2.1 | v2 | v1 |" in readme
    assert f"| held-out perplexity | **{v2['ppl']:.2f}** | {v1['ppl']:.2f} | {v1['ppl']:.2f} |" in readme
    assert "stopped before a decay" in readme and "the end of 2 earlier run(s)" in readme
