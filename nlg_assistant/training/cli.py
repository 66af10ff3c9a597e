"""Command line: ``python -m nlg_assistant.training {prepare,pretrain,distil,eval,card} ...``."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _files(values: list[str] | None) -> list[Path]:
    """Explicit corpus files, or the default Gutenberg children's files next to the repo."""
    from nlg_assistant.training import corpus

    return [Path(v) for v in values] if values else corpus.default_files(REPO_ROOT)


def _add_prepare(sub) -> None:
    p = sub.add_parser("prepare", help="filter/split the corpus, train the tokeniser, tokenise to uint16")
    p.add_argument(
        "--data", nargs="*", help="corpus .txt files (default ../shared/corpus/gutenberg_children_*)"
    )
    p.add_argument("--manifest", default=None, help="TSV with author_death_year (default: next to the data)")
    p.add_argument("--out", default="data/gc8k")
    p.add_argument("--vocab-size", type=int, default=8192)
    p.add_argument("--val-fraction", type=float, default=0.05)
    p.add_argument("--sample-chars", type=int, default=10_000_000, help="tokeniser training sample size")
    p.add_argument("--min-death-year", type=int, default=1955, help="drop books whose author died >= this")
    p.add_argument("--seed", type=int, default=0)


def _add_train_flags(p, settings_class=None, data_dir: str = "data/gc8k") -> None:
    from nlg_assistant.training.train import TrainSettings

    for f in fields(settings_class or TrainSettings):
        if f.name in ("data_dir", "out_dir"):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            p.add_argument(flag, type=type(f.default), default=f.default)
    p.add_argument("--data-dir", default=data_dir)
    p.add_argument("--out", required=True, help="run folder (checkpoint, metrics, final model)")


def _add_split_flags(p) -> None:
    """Corpus files and the book split of `prepare` (same seed: the held-out books stay held out)."""
    p.add_argument(
        "--data", nargs="*", help="corpus .txt files (default ../shared/corpus/gutenberg_children_*)"
    )
    p.add_argument("--manifest", default=None)
    p.add_argument("--tokenizer", default=str(REPO_ROOT / "assets" / "models" / "storyteller"))
    p.add_argument("--val-fraction", type=float, default=0.05)
    p.add_argument("--min-death-year", type=int, default=1955)
    p.add_argument("--seed", type=int, default=0)


def _add_v2(sub) -> None:
    from nlg_assistant.training.train_v2 import V2Settings

    p = sub.add_parser("prepare-v2", help="clean the corpus and tokenise it with an existing tokenizer")
    _add_split_flags(p)
    p.add_argument("--out", default="data/v2")
    mix = sub.add_parser("mix", help="build the fine-tuning mix (task examples) from the training books")
    _add_split_flags(mix)
    mix.add_argument("--out", default="data/v2/mix.bin", help="token file (+ .json counts, .sample.txt)")
    mix.add_argument("--limit", type=int, default=300, help="prompt token budget of the section examples")
    mix.add_argument(
        "--extra-data", nargs="*", help="books in no split (e.g. the ELTeC novels): outlines, formal rewrites"
    )
    mix.add_argument("--extra-manifest", default=None, help="titles of the --extra-data books (TSV)")
    mix.add_argument(
        "--quota", nargs="*", default=[], metavar="KIND=N", help="examples per training book (e.g. formal=60)"
    )
    mix.add_argument("--extra-quota", nargs="*", default=[], metavar="KIND=N", help="per extra book")
    train = sub.add_parser("train-v2", help="Muon + WSD training, resumable, decay at seq 512 with the mix")
    _add_train_flags(train, V2Settings, "data/v2")
    export = sub.add_parser("export-v2", help="a train-v2 run's latest checkpoint as a model folder")
    export.add_argument("run", help="the train-v2 --out folder")
    export.add_argument("--out", required=True, help="model folder to write")


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="validation perplexity and tokens/s of a model folder")
    p.add_argument("model", nargs="+", help="HF model folder(s): several are compared side by side")
    p.add_argument("--data", nargs="*", help="raw corpus files to split like `prepare` did")
    p.add_argument("--data-dir", default="data/gc8k", help="prepared folder (val.bin) used without --data")
    p.add_argument("--val-name", default="val.bin", help="token file in --data-dir (v2: val_raw.bin = v1's)")
    p.add_argument("--manifest", default=None)
    p.add_argument("--val-fraction", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--max-windows", type=int, default=0, help="0 = all validation windows")
    p.add_argument("--max-docs", type=int, default=0, help="only the first N validation documents")
    p.add_argument("--max-chars", type=int, default=0, help="cut each validation document to N chars")
    p.add_argument("--trigram", action="store_true", help="also score a Kneser-Ney trigram baseline")
    p.add_argument("--json", default="", help="write the numbers to this JSON file")
    p.add_argument("--positions", action="store_true", help="perplexity by position in 1024-token windows")
    p.add_argument("--position-windows", type=int, default=24)
    p.add_argument("--tasks", type=int, default=0, help="N tries per tab on held-out books (0 = none)")
    p.add_argument("--task-seed", type=int, default=0)
    p.add_argument(
        "--copying", type=int, default=0, help="copy check on N held-out paragraphs, each repeated (0 = none)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree for all sub-commands."""
    parser = argparse.ArgumentParser(prog="python -m nlg_assistant.training")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    sub = parser.add_subparsers(dest="cmd", required=True)
    _add_prepare(sub)
    _add_train_flags(sub.add_parser("pretrain", help="train a small Llama from scratch"))
    distil = sub.add_parser("distil", help="train a student with a teacher (use --alpha 1 for no teacher)")
    _add_train_flags(distil)
    _add_v2(sub)
    _add_eval(sub)
    card = sub.add_parser("card", help="write the model card and loss curve into a model folder")
    card.add_argument("folder")
    card.add_argument("--report", required=True, help="JSON with all measured numbers")
    card_v2 = sub.add_parser("card-v2", help="write a v2 model's card (v2 next to v1) into a model folder")
    card_v2.add_argument("folder")
    card_v2.add_argument(
        "--report", required=True, help="JSON naming the run, eval, mix, data and speed files"
    )
    return parser


def _settings(args, settings_class=None):
    from nlg_assistant.training.train import TrainSettings

    cls = settings_class or TrainSettings
    values = {f.name: getattr(args, f.name) for f in fields(cls) if f.name not in ("data_dir", "out_dir")}
    return cls(data_dir=args.data_dir, out_dir=args.out, **values)


def _manifest(args, files: list[Path]) -> Path | None:
    if args.manifest:
        return Path(args.manifest)
    guess = files[0].parent / "gutenberg_children_manifest.tsv" if files else None
    return guess if guess and guess.exists() else None


def _run_mix(args) -> None:
    """Build, tokenise and write the fine-tuning mix with its counts and a readable sample."""
    from nlg_assistant.training import finetune
    from nlg_assistant.training import tokenizer as tk

    files = _files(args.data)
    books = finetune.training_books(
        files, _manifest(args, files), args.val_fraction, args.seed, args.min_death_year
    )
    tok = tk.load_tokenizer(Path(args.tokenizer))

    def count(text: str) -> int:
        return len(tok(text, add_special_tokens=False)["input_ids"])

    extra_files = [Path(v) for v in args.extra_data or []]
    extra = finetune.extra_books(extra_files, Path(args.extra_manifest) if args.extra_manifest else None)
    quotas = finetune.quota_from(args.quota), finetune.quota_from(args.extra_quota, finetune.EXTRA_QUOTA)
    examples, kinds = finetune.build_mix(books, args.seed, count, args.limit, extra, quotas=quotas)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    info = {"books": len(books), "extra_books": len(extra), "examples": kinds}
    info["tokens"] = finetune.write_mix(tok, examples, out)
    out.with_suffix(".json").write_text(json.dumps(info, indent=1))
    sample = "\n\n=====\n\n".join(prompt + target for prompt, target in examples[:40])
    out.with_suffix(".sample.txt").write_text(sample, encoding="utf-8")
    print(json.dumps(info))


def _run_v2(args) -> None:
    """The v2 data preparation and training commands."""
    if args.cmd == "prepare-v2":
        from nlg_assistant.training import data

        files = _files(args.data)
        meta = data.prepare_v2(
            files,
            _manifest(args, files),
            Path(args.out),
            Path(args.tokenizer),
            args.val_fraction,
            args.seed,
            args.min_death_year,
        )
        print(json.dumps({k: meta[k]["tokens"] for k in ("train", "val", "val_raw")}))
    else:
        from nlg_assistant.training.train_v2 import V2Settings, run_v2

        print(json.dumps(run_v2(_settings(args, V2Settings))))


def main(argv: list[str] | None = None) -> int:
    """Parse flags, set CPU threads, dispatch."""
    import torch

    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.cmd == "prepare":
        from nlg_assistant.training import data

        files = _files(args.data)
        meta = data.prepare(
            files,
            _manifest(args, files),
            Path(args.out),
            args.vocab_size,
            args.val_fraction,
            args.sample_chars,
            args.seed,
            args.min_death_year,
        )
        print(json.dumps({k: meta[k]["tokens"] for k in ("train", "val")} | {"vocab": meta["vocab_size"]}))
    elif args.cmd in ("pretrain", "distil"):
        from nlg_assistant.training.train import run_training

        if args.cmd == "distil" and args.alpha < 1.0 and not args.teacher:
            raise SystemExit("distil with --alpha < 1 needs --teacher FOLDER")
        print(json.dumps(run_training(_settings(args))))
    elif args.cmd == "mix":
        _run_mix(args)
    elif args.cmd == "export-v2":
        from nlg_assistant.training.train_v2 import export_checkpoint

        print(export_checkpoint(Path(args.run), Path(args.out)))
    elif args.cmd in ("prepare-v2", "train-v2"):
        _run_v2(args)
    elif args.cmd == "eval":
        from nlg_assistant.training.evaluate import compare_models

        compare_models(args, _files(args.data) if args.data else None, REPO_ROOT)
    elif args.cmd == "card":
        from nlg_assistant.training.card import write_card

        write_card(Path(args.folder), json.loads(Path(args.report).read_text()))
    elif args.cmd == "card-v2":
        from nlg_assistant.training.card_v2 import write_card_v2

        write_card_v2(Path(args.folder), json.loads(Path(args.report).read_text()))
    return 0
