"""Tests for nlg_assistant.training: tokeniser, data, training loop, resume, distillation, shipped model."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from nlg_assistant.training import corpus, data, evaluate, ngram, train

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "assets" / "models" / "storyteller"
CORPUS_DIR = REPO.parent / "shared" / "corpus"

TALES = [
    "Once upon a time a little fox lived in the green wood.\nHe had a red tail and bright eyes.",
    'The princess walked to the old castle.\n"Who is there?" she asked, and opened the door.',
    "Every morning the baker made bread and sweet buns.\nThe children ran to his shop before school.",
    "A clever crow found a jug of water.\nShe dropped stones into it until she could drink.",
    "The wind blew over the hills, and the rain came down.\nThe sheep huddled under the big oak tree.",
    "Long ago there lived a king who had three sons.\nThe youngest was kind to every animal he met.",
]


def _write_corpus(folder: Path) -> tuple[Path, Path]:
    """Two tiny corpus files in the shared format plus a manifest marking one book as too recent."""
    rows = ["output_file\tgutenberg_id\tauthor_death_year"]
    paths = []
    for f in range(2):
        name = f"gutenberg_children_0{f + 1}.txt"
        docs = [("\n".join([TALES[(f * 3 + d + k) % len(TALES)] for k in range(40)])) for d in range(3)]
        (folder / name).write_text("".join(d + "\n<|endoftext|>\n" for d in docs), encoding="utf-8")
        rows += [f"{name}\t{f * 3 + d}\t{1965 if (f, d) == (1, 2) else 1900}" for d in range(3)]
        paths.append(folder / name)
    manifest = folder / "manifest.tsv"
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return paths[0], paths[1], manifest


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A prepared data folder (tokenizer + uint16 token files) from the tiny corpus."""
    root = tmp_path_factory.mktemp("corpus")
    f1, f2, manifest = _write_corpus(root)
    torch.set_num_threads(1)  # tiny tensors: extra threads only add sync cost on a busy machine
    data.prepare(
        [f1, f2], manifest, root / "prep", vocab_size=320, val_fraction=0.2, sample_chars=100_000, seed=0
    )
    return root / "prep"


def _settings(prepared: Path, out: Path, **changes) -> train.TrainSettings:
    base = train.TrainSettings(
        data_dir=str(prepared),
        out_dir=str(out),
        preset="tiny",
        seq_len=32,
        batch_size=8,
        lr=3e-3,
        warmup_steps=2,
        max_steps=25,
        eval_every=1000,
        ckpt_every=1000,
        log_every=1000,
        eval_windows=8,
    )
    return replace(base, **changes)


def test_split_filters_late_authors_and_holds_out_whole_books(prepared):
    meta = json.loads((prepared / "meta.json").read_text())
    assert meta["n_docs"] == 5  # one of six books dropped by author_death_year >= 1955
    assert "gutenberg_children_02.txt#2" not in meta["train"]["docs"] + meta["val"]["docs"]
    assert len(meta["val"]["docs"]) == 1 and not set(meta["val"]["docs"]) & set(meta["train"]["docs"])


def test_tokenizer_round_trip_and_special_tokens(prepared):
    tok = evaluate.tk.load_tokenizer(prepared / "tokenizer")
    assert (tok.bos_token, tok.eos_token, tok.unk_token, tok.pad_token) == ("<s>", "</s>", "<unk>", "<pad>")
    text = 'The fox said, "Hello!"\nThen he ran home.\n\nÉtoile 42 -- done.'
    ids = tok(text)["input_ids"]
    assert ids[0] == tok.bos_token_id
    assert tok.decode(ids, skip_special_tokens=True) == text
    assert tok.unk_token_id not in ids  # byte fallback covers unseen characters


def test_token_file_has_eos_between_documents(prepared):
    tok = evaluate.tk.load_tokenizer(prepared / "tokenizer")
    tokens = np.asarray(data.open_tokens(prepared / "train.bin"))
    assert tokens.dtype == np.uint16 and tokens[0] == tok.bos_token_id and tokens[-1] == tok.eos_token_id
    eos_at = np.flatnonzero(tokens == tok.eos_token_id)
    assert len(eos_at) == 4  # four training books
    assert all(tokens[i + 1] == tok.bos_token_id for i in eos_at[:-1])


def test_a_few_steps_lower_the_loss(prepared, tmp_path):
    s = _settings(prepared, tmp_path / "run")
    run = train.setup(s, resume=False)
    before = train.evaluate(run.model, run.train_tokens, 32, 8, run.device)
    for _ in range(25):
        train.train_step(run, s)
    after = train.evaluate(run.model, run.train_tokens, 32, 8, run.device)
    assert after < before - 0.5


def test_checkpoint_resume_gives_the_same_next_loss(prepared, tmp_path):
    s = _settings(prepared, tmp_path / "run")
    Path(s.out_dir).mkdir()
    run = train.setup(s, resume=False)
    for _ in range(5):
        train.train_step(run, s)
    train.save_checkpoint(Path(s.out_dir) / "ckpt.pt", run.model, run.opt, run.sched, run.step, 1.0, s)
    expected = [train.train_step(run, s) for _ in range(2)]
    resumed = train.setup(s)
    assert resumed.step == 5
    assert [train.train_step(resumed, s) for _ in range(2)] == expected


def test_run_training_writes_a_loadable_folder(prepared, tmp_path):
    from transformers import AutoModelForCausalLM

    summary = train.run_training(_settings(prepared, tmp_path / "run", max_steps=3), progress=False)
    assert summary["step"] == 3 and math.isfinite(summary["val_ppl"])
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "final")
    assert model.config.vocab_size == 320


def test_distillation_loss_zero_for_identical_models(prepared):
    s = _settings(prepared, "unused")
    run = train.setup(s, resume=False)
    x, y = data.get_batch(run.train_tokens, np.array([0, 7]), 32)
    logits = run.model(input_ids=x).logits
    assert train.distillation_loss(logits, logits.detach().clone(), y, 0.0, 2.0).item() == pytest.approx(
        0, abs=1e-5
    )
    other = train.distillation_loss(logits, torch.zeros_like(logits), y, 0.0, 2.0).item()
    assert other > 0.01
    assert train.distillation_loss(logits, None, y, 1.0, 2.0).item() == pytest.approx(
        train.lm_loss(logits, y).item()
    )


def test_kneser_ney_trigram_is_normalised():
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 50, size=5000)
    kn = ngram.KneserNeyTrigram.fit(tokens, 60)
    c = np.arange(60)
    for a, b in [(tokens[0], tokens[1]), (59, 58), (3, 59)]:
        p = kn.prob(np.full(60, a), np.full(60, b), c)
        assert p.min() > 0 and p.sum() == pytest.approx(1.0)
    assert kn.mean_nll(tokens, np.arange(2, 5000)) < math.log(60)


@pytest.mark.skipif(not (SHIPPED / "config.json").exists(), reason="no shipped model folder")
def test_shipped_model_loads_and_generates():
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    tok = AutoTokenizer.from_pretrained(SHIPPED)
    model = AutoModelForCausalLM.from_pretrained(SHIPPED)
    gen = GenerationConfig.from_pretrained(SHIPPED)
    assert gen.do_sample and 0.5 <= gen.temperature <= 1.0 and gen.repetition_penalty > 1.0
    ids = tok("Once upon a time", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=12, min_new_tokens=12, pad_token_id=tok.pad_token_id)
    assert out.shape[1] == ids["input_ids"].shape[1] + 12
    assert sum(f.stat().st_size for f in SHIPPED.rglob("*") if f.is_file()) <= 50 * 2**20
    # the app fills the declared window; this model writes poorly past twice its trained length
    trained = json.loads((SHIPPED / "eval_slice.json").read_text())["seq_len"]
    assert model.config.max_position_embeddings <= 2 * trained


@pytest.mark.skipif(not (SHIPPED / "eval_slice.json").exists(), reason="no shipped model folder")
def test_eval_reproduces_the_cards_slice_perplexity():
    expected = json.loads((SHIPPED / "eval_slice.json").read_text())
    files = sorted(CORPUS_DIR.glob(corpus.DEFAULT_GLOB))
    if not files:
        pytest.skip("corpus in ../shared is absent")
    torch.set_num_threads(1)
    model, tok = evaluate.load_model(SHIPPED)
    manifest = CORPUS_DIR / corpus.MANIFEST_NAME
    _, val = evaluate.val_documents(
        files,
        manifest,
        expected["val_fraction"],
        expected["seed"],
        expected["max_docs"],
        expected["max_chars"],
    )
    res = evaluate.perplexity(
        model, data.encode_documents(tok, val), expected["seq_len"], expected["max_windows"]
    )
    assert res["tokens"] == expected["tokens"]
    assert res["ppl"] == pytest.approx(expected["ppl"], rel=0.01)


@pytest.mark.skipif(not (SHIPPED / "config.json").exists(), reason="no shipped model folder")
def test_eval_reproduces_the_committed_slices_perplexity():
    """Runs without the corpus: the card's held-out books, cut to 3000 characters each, in tests/data."""
    expected = json.loads((REPO / "tests" / "data" / "storyteller_eval_slice.json").read_text())
    torch.set_num_threads(1)
    model, tok = evaluate.load_model(SHIPPED)
    texts = [document["text"] for document in expected["documents"]]
    res = evaluate.perplexity(model, data.encode_documents(tok, texts), expected["seq_len"])
    assert (res["tokens"], res["windows"]) == (expected["tokens"], expected["windows"])
    assert res["ppl"] == pytest.approx(expected["ppl"], rel=1e-3)
    files = sorted(CORPUS_DIR.glob(corpus.DEFAULT_GLOB))
    if files:  # the slice really is the start of the card's held-out books
        card = json.loads((SHIPPED / "eval_slice.json").read_text())
        _, val = evaluate.val_documents(
            files, CORPUS_DIR / corpus.MANIFEST_NAME, card["val_fraction"], card["seed"], card["max_docs"]
        )
        assert texts == [text[: expected["chars_per_document"]] for text in val]


def test_gpu_preset_fits_the_shipping_budget():
    """The preset `gpu_train.sh` trains must still ship: at most 50 MB in bf16."""
    from transformers import AutoTokenizer

    from nlg_assistant.training import modeling

    tok = AutoTokenizer.from_pretrained(SHIPPED)  # the same 8k vocabulary the GPU run uses
    config = modeling.llama_config(modeling.PRESETS["gpu"], tok)
    params = sum(p.numel() for p in modeling.build_model(config, 0).parameters())
    assert params * 2 <= 50 * 2**20
