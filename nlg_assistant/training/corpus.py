"""Read the plain-text corpus: documents, licence filter by author death year, document-level split."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

DOC_END = "<|endoftext|>\n"
DEFAULT_GLOB = "gutenberg_children_*.txt"
MANIFEST_NAME = "gutenberg_children_manifest.tsv"


@dataclass(frozen=True)
class Document:
    """One book: where it came from and its text (paragraphs separated by single newlines)."""

    source: str  # file name
    index: int  # position inside that file
    text: str


def read_documents(path: Path) -> list[Document]:
    """Split one corpus file at its `<|endoftext|>` lines; drop the empty tail."""
    raw = Path(path).read_text(encoding="utf-8")
    parts = raw.split(DOC_END)
    docs = [p.rstrip("\n") for p in parts]
    return [Document(Path(path).name, i, d) for i, d in enumerate(docs) if d.strip()]


def excluded_positions(manifest: Path, min_death_year: int) -> set[tuple[str, int]]:
    """(file, index-in-file) of books whose author died in or after `min_death_year`."""
    excluded: set[tuple[str, int]] = set()
    counters: dict[str, int] = {}
    with open(manifest, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            name = row["output_file"]
            idx = counters.get(name, 0)
            counters[name] = idx + 1
            year = (row.get("author_death_year") or "").strip()
            if year.isdigit() and int(year) >= min_death_year:
                excluded.add((name, idx))
    return excluded


def load_corpus(files: list[Path], manifest: Path | None, min_death_year: int = 1955) -> list[Document]:
    """All documents of `files`, minus those the manifest marks as too recent (if a manifest is given)."""
    docs = [d for f in sorted(files) for d in read_documents(f)]
    if manifest is not None and Path(manifest).exists():
        drop = excluded_positions(manifest, min_death_year)
        docs = [d for d in docs if (d.source, d.index) not in drop]
    return docs


def split_documents(docs: list[Document], val_fraction: float, seed: int) -> tuple[list, list]:
    """Hold out whole documents (never split a book) for validation; deterministic given `seed`."""
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(docs) * val_fraction)) if len(docs) > 1 else 0
    val_ids = set(order[:n_val])
    train = [d for i, d in enumerate(docs) if i not in val_ids]
    val = [d for i, d in enumerate(docs) if i in val_ids]
    return train, val


def default_files(repo_root: Path) -> list[Path]:
    """The default corpus files: ../shared/corpus/gutenberg_children_*.txt relative to the repo root."""
    return sorted((repo_root.parent / "shared" / "corpus").glob(DEFAULT_GLOB))


def titles(manifest: Path | None) -> dict[tuple[str, int], str]:
    """(file, index-in-file) -> book title from the manifest ({} without one)."""
    out: dict[tuple[str, int], str] = {}
    if manifest is None or not Path(manifest).exists():
        return out
    counters: dict[str, int] = {}
    with open(manifest, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            name = row["output_file"]
            idx = counters.get(name, 0)
            counters[name] = idx + 1
            out[(name, idx)] = (row.get("title") or "").strip()
    return out
