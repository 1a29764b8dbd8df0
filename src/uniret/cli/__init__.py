"""The ``uniret`` command line: thin commands over the library; nothing imports this package.

One module per command group (``corpus``, ``index``, ``retrieve``, ``train``, ``evaluate``,
``data``, ``quickstart``, ``experiment``, ``serve``); each adds its parsers and holds its commands.
Every failure the user can cause ends in one line on stderr and exit status 2; ``-v`` shows
the traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from uniret import __version__
from uniret.cli import (
    corpus,
    data,
    evaluate,
    experiment,
    index,
    quickstart,
    retrieve,
    serve,
    train,
)
from uniret.cli.args import Parser, quiet_libraries
from uniret.errors import UniretError

logger = logging.getLogger("uniret")

COMMAND_GROUPS = (corpus, index, retrieve, serve, train, evaluate, data, quickstart, experiment)


def build_parser() -> argparse.ArgumentParser:
    """The ``uniret`` parser with every subcommand."""
    parser = Parser(
        prog="uniret",
        description="Universal dense retrieval for knowledge-intensive tasks (KILT in and out).",
    )
    parser.add_argument("--version", action="version", version=f"uniret {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging, tracebacks")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars, warnings only"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_parsers(sub)
    return parser


def _describe(exc: BaseException) -> str:
    """One line for an error: an OS error names its file, others keep their message."""
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit status (0 ok, 2 bad input, 1 unexpected, 130 ^C)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # bad arguments (2), --help and --version (0): a status, not an exit
        return exc.code if isinstance(exc.code, int) else 2
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.root.handlers:  # libraries that set their own level stay quiet
        handler.setLevel(level)
    if args.quiet:
        quiet_libraries()
    try:
        return int(args.func(args) or 0)
    except (UniretError, OSError) as exc:
        if args.verbose:
            raise
        print(f"error: {_describe(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.verbose:
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {_describe(exc)} "
            "(run with -v for the traceback)",
            file=sys.stderr,
        )
        return 1
