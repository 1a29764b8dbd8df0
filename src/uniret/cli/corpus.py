"""``uniret corpus build``: a KILT knowledge source -> a passage store."""

from __future__ import annotations

import argparse

from tqdm import tqdm

from uniret.cli.args import add_overwrite, int_at_least, make


def add_parsers(sub: argparse._SubParsersAction) -> None:
    corpus = sub.add_parser("corpus", help="knowledge source -> passages").add_subparsers(
        dest="corpus_command", required=True, metavar="SUBCOMMAND"
    )
    p = corpus.add_parser(
        "build",
        help="chunk a KILT knowledge source into ~100-word passages",
        description="Stream a KILT knowledge-source jsonl (one page per line; .jsonl.gz too) and "
        "write a memory-mapped passage store (Arrow) with a page->passage map. Page ids must be "
        "unique and non-blank.",
    )
    p.add_argument("--knowledge", required=True, help="KILT knowledge-source jsonl")
    p.add_argument("--out", required=True, help="output passage-store folder (new or empty)")
    p.add_argument(
        "--words", type=int_at_least(1), default=100, help="words per passage (default 100)"
    )
    p.add_argument(
        "--min-words",
        type=int_at_least(0),
        default=0,
        help="merge a trailing chunk shorter than this into the previous one (default 0: keep)",
    )
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip and count malformed lines instead of failing",
    )
    add_overwrite(p, "passage store")
    p.set_defaults(func=cmd_corpus_build)


def cmd_corpus_build(args: argparse.Namespace) -> int:
    from uniret.corpus.chunking import ChunkConfig
    from uniret.corpus.store import build_passage_store

    config = make(ChunkConfig, words=args.words, min_words=args.min_words)
    with tqdm(unit=" pages", desc="chunking", disable=args.quiet) as bar:
        meta = build_passage_store(
            args.knowledge,
            args.out,
            config,
            skip_invalid=args.skip_invalid,
            overwrite=args.overwrite,
            on_page=lambda n: bar.update(n - bar.n),
        )
    print(
        f"{meta['passages']:,} passages from {meta['pages']:,} pages in {meta['seconds']:.1f}s "
        f"-> {args.out} (corpus {meta['corpus_hash']}, {meta['skipped_lines']} lines skipped)"
    )
    return 0
