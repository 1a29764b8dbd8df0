"""The flags that choose a retriever (a bundle file, or indexes, a query model and fusion),
shared by every command that searches (``retrieve``, ``serve``, ``train``'s mining)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from uniret.cli.args import add_backend, backend_config, csv_floats, float_in
from uniret.errors import InputError, UniretError

if TYPE_CHECKING:
    from uniret.retrieval.base import Retriever
    from uniret.retrieval.bundle import RetrieverBundle


def add_retriever_selection(
    p: argparse.ArgumentParser, *, fusion: bool = True, auto_backend: bool = False
) -> None:
    """The flags that choose a retriever: a bundle file, or indexes, a query model, fusion
    (``auto_backend``: the encoder backend defaults to the fastest installed)."""
    p.add_argument(
        "--retriever",
        metavar="FILE",
        help="a retriever bundle (e.g. WORK/retrievers/bm25+base.json written by quickstart or "
        "an experiment): indexes, query model and fusion in one file",
    )
    p.add_argument(
        "--index",
        action="append",
        help="index folder (BM25 or dense); give it twice for hybrid retrieval",
    )
    p.add_argument("--model", help="query encoder for a dense index (default: the one in its meta)")
    p.add_argument("--passages", help="passage store, if it moved since the index was built")
    p.add_argument("--device", help="device for query encoding (default: cuda if available)")
    add_backend(p, "queries", auto=auto_backend)
    if not fusion:
        return
    p.add_argument(
        "--fusion",
        default="weighted",
        choices=["weighted", "rrf"],
        help="hybrid fusion: weighted sum of per-query min-max normalised scores (default) or "
        "reciprocal rank fusion",
    )
    p.add_argument("--rrf-c", type=float_in(0.0), default=60.0, help="RRF constant (default 60)")
    p.add_argument(
        "--weights",
        type=csv_floats,
        default=(),
        help="one fusion weight per --index, comma-separated (default: all 1)",
    )


def selected_bundle(args: argparse.Namespace) -> RetrieverBundle:
    """The retriever the flags of :func:`add_retriever_selection` describe, as a bundle."""
    from uniret.retrieval.bundle import RetrieverBundle
    from uniret.retrieval.hybrid import Fusion, FusionConfig

    if args.retriever:
        if args.index or args.model:
            raise UniretError("argument --retriever: give either a bundle or --index/--model")
        if not Path(args.retriever).is_file():
            raise InputError(args.retriever, None, None, "no such retriever bundle file")
        return RetrieverBundle.load(args.retriever)
    if not args.index:
        raise UniretError("give --index (once, or twice for a hybrid) or --retriever FILE")
    weights = getattr(args, "weights", ())
    if weights and len(weights) != len(args.index):
        raise UniretError(
            f"argument --weights: {len(weights)} weights for {len(args.index)} --index; "
            "give one per index"
        )
    fusion = FusionConfig(
        method=Fusion(getattr(args, "fusion", FusionConfig.method)),
        rrf_c=getattr(args, "rrf_c", FusionConfig.rrf_c),
        weights=weights,
    )
    return RetrieverBundle(
        name="+".join(Path(i).name for i in args.index),
        indexes=tuple(args.index),
        model=args.model,
        passages=args.passages,
        fusion=fusion,
    )


def open_selected_retriever(args: argparse.Namespace) -> tuple[RetrieverBundle, Retriever]:
    """The retriever the flags describe, opened (with its bundle, for the record)."""
    from uniret.retrieval.loader import open_bundle

    bundle = selected_bundle(args)
    return bundle, open_bundle(bundle, device=args.device, backend=backend_config(args))
