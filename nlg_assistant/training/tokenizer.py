"""Train a sentencepiece BPE tokeniser and save it as a transformers LlamaTokenizer folder.

Design: byte fallback (no <unk> in practice), identity normalisation and no whitespace squeezing, so
newlines survive a round trip. Training "sentences" are runs of a few paragraphs joined by "\n", so the
pieces match how whole documents are encoded later (by the same HF tokenizer the app uses).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

SPECIALS = {"unk": "<unk>", "bos": "<s>", "eos": "</s>", "pad": "<pad>"}


def sample_chunks(texts: list[str], max_chars: int, seed: int, paras_per_chunk: int = 4) -> list[str]:
    """A random sample (about `max_chars` characters) of short runs of consecutive paragraphs."""
    chunks = []
    for text in texts:
        paras = text.split("\n")
        chunks += ["\n".join(paras[i : i + paras_per_chunk]) for i in range(0, len(paras), paras_per_chunk)]
    random.Random(seed).shuffle(chunks)
    picked, total = [], 0
    for c in chunks:
        if total >= max_chars:
            break
        c = c[:8000]  # stay under sentencepiece's max_sentence_length
        picked.append(c)
        total += len(c)
    return picked


def train_sentencepiece(
    texts: list[str], out_dir: Path, vocab_size: int, sample_chars: int, seed: int
) -> Path:
    """Train `tokenizer.model` in `out_dir` from a sample of `texts`; returns its path."""
    import sentencepiece as spm

    out_dir.mkdir(parents=True, exist_ok=True)
    chunks: Iterator[str] = iter(sample_chunks(texts, sample_chars, seed))
    spm.SentencePieceTrainer.train(
        sentence_iterator=chunks,
        model_prefix=str(out_dir / "tokenizer"),
        model_type="bpe",
        vocab_size=vocab_size,
        character_coverage=0.9995,
        byte_fallback=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=True,
        split_digits=True,
        allow_whitespace_only_pieces=True,
        max_sentence_length=16384,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=3,
        unk_piece=SPECIALS["unk"],
        bos_piece=SPECIALS["bos"],
        eos_piece=SPECIALS["eos"],
        pad_piece=SPECIALS["pad"],
        num_threads=2,
        minloglevel=2,
    )
    (out_dir / "tokenizer.vocab").unlink(missing_ok=True)
    return out_dir / "tokenizer.model"


def build_hf_tokenizer(sp_model: Path, out_dir: Path):
    """Convert a sentencepiece BPE `tokenizer.model` into a LlamaTokenizer (fast) saved to `out_dir`.

    transformers 5 would convert `.model` files through protobuf; we avoid that dependency by reading
    pieces/scores with sentencepiece and rebuilding the merges in score order (= SP merge order).
    """
    import sentencepiece as spm
    from transformers import LlamaTokenizer
    from transformers.tokenization_utils_base import generate_merges

    sp = spm.SentencePieceProcessor(model_file=str(sp_model))
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    scores = {sp.id_to_piece(i): sp.get_score(i) for i in range(sp.get_piece_size())}
    merges = generate_merges(vocab, vocab_scores=scores, skip_tokens=set(SPECIALS.values()))
    tok = LlamaTokenizer(
        vocab=vocab,
        merges=merges,
        bos_token=SPECIALS["bos"],
        eos_token=SPECIALS["eos"],
        unk_token=SPECIALS["unk"],
        pad_token=SPECIALS["pad"],
        add_bos_token=True,
        add_eos_token=False,
        add_prefix_space=True,
    )
    tok.model_max_length = 1_000_000
    tok.save_pretrained(str(out_dir))
    return tok


def load_tokenizer(folder: Path):
    """The tokenizer exactly as the app will load it."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))
