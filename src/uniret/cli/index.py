"""``uniret index bm25``, ``uniret encode`` and ``uniret index dense``: the search indexes."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from tqdm import tqdm

from uniret.cli.args import (
    add_backend,
    add_overwrite,
    backend_config,
    device,
    float_in,
    int_at_least,
    make,
)
from uniret.defaults import DEFAULT_MODEL
from uniret.errors import UniretError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    index = sub.add_parser("index", help="build a search index").add_subparsers(
        dest="index_command", required=True, metavar="KIND"
    )
    p = index.add_parser(
        "bm25",
        help="BM25 index of a passage store (bm25s)",
        description="Tokenise every passage (title prepended; lower-case, stopwords, "
        "Snowball stemming) and save a bm25s index that reloads without re-tokenising.",
    )
    p.add_argument("--passages", required=True, help="passage-store folder (from `corpus build`)")
    p.add_argument("--out", required=True, help="output index folder (new or empty)")
    p.add_argument(
        "--k1", type=float_in(0.0), default=0.9, help="term-frequency saturation (default 0.9)"
    )
    p.add_argument(
        "--b", type=float_in(0.0, 1.0), default=0.4, help="length normalisation (default 0.4)"
    )
    p.add_argument(
        "--stemmer", default="english", help="Snowball language, '' for none (default english)"
    )
    p.add_argument("--stopwords", default="en", help="stopword list, '' for none (default en)")
    add_overwrite(p, "BM25 index")
    p.set_defaults(func=cmd_index_bm25)

    p = index.add_parser(
        "dense",
        help="FAISS index of encoded passages",
        description="Merge the embedding shards of one `uniret encode` run and build a FAISS "
        "inner-product index (flat = exact; fp16, sq8 = exact over compressed vectors; hnsw; "
        "ivfpq, optionally OPQ-rotated and refined with stored vectors; auto = flat up to "
        "200k vectors, else ivfpq over sqrt(N) lists, nprobe 128, refined with fp16: overlap@100 "
        "with flat 0.95 at 7.9x its speed on 1M vectors), saved with the passage ids and a "
        "meta.json naming the model. Shards of different models or corpora, and vectors "
        "holding NaN, are refused.",
    )
    p.add_argument("--embeddings", required=True, help="folder written by `uniret encode`")
    p.add_argument("--out", required=True, help="output index folder (new or empty)")
    p.add_argument(
        "--type",
        default="flat",
        choices=["flat", "fp16", "sq8", "hnsw", "ivfpq", "auto"],
        help="(default flat)",
    )
    p.add_argument("--passages", help="passage store, if it moved since encoding")
    positive = int_at_least(1)
    p.add_argument("--hnsw-m", type=positive, default=32, help="HNSW links per node (default 32)")
    p.add_argument("--ef-search", type=positive, default=256, help="HNSW search beam (default 256)")
    p.add_argument(
        "--nlist", type=int_at_least(0), default=0, help="IVF lists (default 0: ~4*sqrt(N))"
    )
    p.add_argument("--pq-m", type=positive, default=48, help="PQ sub-quantisers (default 48)")
    p.add_argument("--nprobe", type=positive, default=32, help="IVF lists probed (default 32)")
    p.add_argument("--opq", action="store_true", help="IVF-PQ: rotate vectors with OPQ first")
    p.add_argument(
        "--refine",
        default="",
        choices=["", "fp16", "fp32"],
        help="IVF-PQ: also store the vectors and re-score candidates with them (default none; "
        "auto uses fp16)",
    )
    p.add_argument(
        "--k-factor", type=positive, default=4, help="refined candidates per result (default 4)"
    )
    add_overwrite(p, "dense index")
    p.set_defaults(func=cmd_index_dense)

    p = index.add_parser(
        "map",
        help="the index of a model with a passage adapter (nothing re-encoded)",
        description="A query-side model trained with `passage_adapter` maps the frozen passage "
        "vectors it trained over; this writes the index it searches: the vectors of --index "
        "mapped by the adapter of --model, with --index's FAISS settings (an index of "
        "compressed codes keeps the exact mapped vectors in OUT/embeddings).",
    )
    p.add_argument("--index", required=True, help="the dense index the model was trained over")
    p.add_argument("--model", required=True, help="the trained model (with a passage adapter)")
    p.add_argument("--out", required=True, help="output index folder (new or empty)")
    add_overwrite(p, "dense index")
    p.set_defaults(func=cmd_index_map)

    p = sub.add_parser(
        "encode",
        help="encode passages with a model -> .npy shards",
        description="Encode a passage store with the passage side of a model (any HF name or "
        "path, or a saved uniret model). Batches are sorted by length; the run is resumable at "
        "batch granularity; --shard/--num-shards (or torchrun's RANK/WORLD_SIZE) split it. "
        "--out must be new, empty or an embeddings folder of the same run.",
    )
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"HF model name or path, or a uniret model folder (default {DEFAULT_MODEL})",
    )
    p.add_argument("--passages", required=True, help="passage-store folder")
    p.add_argument("--out", required=True, help="output embeddings folder")
    p.add_argument(
        "--shard", type=int_at_least(0), help="this shard's number (default: torchrun RANK or 0)"
    )
    p.add_argument(
        "--num-shards", type=positive, help="number of shards (default: WORLD_SIZE or 1)"
    )
    p.add_argument(
        "--batch-size", type=positive, default=64, help="passages per batch (default 64)"
    )
    p.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "float16"],
        help="stored vector type (default float32)",
    )
    p.add_argument("--max-length", type=positive, default=128, help="passage tokens (default 128)")
    p.add_argument(
        "--query-max-length", type=positive, default=64, help="query tokens (default 64)"
    )
    p.add_argument(
        "--passage-template",
        default="",
        help="how title and text are joined; {sep} is the tokenizer's separator (default: "
        "'{title}. {text}' for sentence-transformers models, else '{title} {sep} {text}')",
    )
    p.add_argument(
        "--pooling",
        choices=["cls", "mean"],
        help="(default: the model's sentence-transformers setting, else cls)",
    )
    p.add_argument(
        "--normalize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="L2-normalise vectors (default: the model's setting)",
    )
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    add_backend(p, "passages")
    p.set_defaults(func=cmd_encode)


def cmd_index_bm25(args: argparse.Namespace) -> int:
    from uniret.corpus.store import PassageStore
    from uniret.index.bm25 import BM25Config, build_bm25_index
    from uniret.outputs import Artifact, check_output

    check_output(args.out, Artifact.BM25_INDEX, overwrite=args.overwrite)
    store = PassageStore(args.passages)
    config = make(BM25Config, k1=args.k1, b=args.b, stemmer=args.stemmer, stopwords=args.stopwords)
    started = time.perf_counter()
    with tqdm(total=len(store), unit=" passages", desc="tokenising", disable=args.quiet) as bar:
        build_bm25_index(store, args.out, config, overwrite=args.overwrite, progress=bar.update)
    seconds = time.perf_counter() - started
    print(f"BM25 index of {len(store):,} passages in {seconds:.1f}s -> {args.out}")
    return 0


def _shard(args: argparse.Namespace) -> tuple[int, int]:
    """This process's shard and the shard count: the flags, else torchrun's RANK/WORLD_SIZE."""
    shard, num_shards = args.shard, args.num_shards
    if shard is None:
        shard = int(os.environ.get("RANK", 0))
        num_shards = num_shards or int(os.environ.get("WORLD_SIZE", 1))
    num_shards = num_shards or 1
    if shard >= num_shards:
        raise UniretError(f"argument --shard: must be < --num-shards ({num_shards}), got {shard}")
    return shard, num_shards


def cmd_encode(args: argparse.Namespace) -> int:
    from uniret.corpus.store import PassageStore
    from uniret.index.encode import (
        EncodeConfig,
        calibration_texts,
        encode_shard,
        shard_batches,
        shard_name,
    )
    from uniret.models.biencoder import BIENCODER_FILE, BiEncoder, BiEncoderConfig
    from uniret.outputs import Artifact, check_output

    shard, num_shards = _shard(args)
    check_output(args.out, Artifact.EMBEDDINGS, reuse=True)
    store = PassageStore(args.passages)
    enc = make(EncodeConfig, batch_size=args.batch_size, dtype=args.dtype)
    run = device(args.device)
    config = BiEncoderConfig(
        passage_max_length=args.max_length,
        passage_template=args.passage_template,
        query_max_length=args.query_max_length,
    )
    backend = backend_config(args)
    saved = (Path(args.model) / BIENCODER_FILE).is_file()
    model = BiEncoder.from_pretrained(
        args.model, None if saved else config, pooling=args.pooling, normalize=args.normalize
    ).to(run)
    model.use_backend(backend, lambda n: calibration_texts(store, model, n))
    first, last = shard_batches(len(store), enc.batch_size, shard, num_shards)
    total = min(last * enc.batch_size, len(store)) - first * enc.batch_size
    started = time.perf_counter()
    with tqdm(
        total=total,
        unit=" passages",
        desc=f"encode {shard_name(shard, num_shards)}",
        disable=args.quiet,
        smoothing=0.05,
    ) as bar:
        path = encode_shard(
            model,
            args.model,
            store,
            args.out,
            shard=shard,
            num_shards=num_shards,
            config=enc,
            progress=bar.update,
        )
    seconds = time.perf_counter() - started
    on = f"{run}, {backend.label}"
    print(f"shard {shard} of {num_shards}: {total:,} passages in {seconds:.1f}s ({on}) -> {path}")
    return 0


def cmd_index_dense(args: argparse.Namespace) -> int:
    from uniret.index.dense import build_dense_index
    from uniret.index.faiss_index import IndexConfig, IndexType
    from uniret.outputs import Artifact, check_output

    check_output(args.out, Artifact.DENSE_INDEX, overwrite=args.overwrite)
    config = make(
        IndexConfig,
        type=IndexType(args.type),
        hnsw_m=args.hnsw_m,
        ef_search=args.ef_search,
        nlist=args.nlist,
        pq_m=args.pq_m,
        nprobe=args.nprobe,
        opq=args.opq,
        refine=args.refine,
        k_factor=args.k_factor,
    )
    started = time.perf_counter()
    build_dense_index(
        args.embeddings, args.out, config, passages=args.passages, overwrite=args.overwrite
    )
    print(f"{args.type} index in {time.perf_counter() - started:.1f}s -> {args.out}")
    return 0


def cmd_index_map(args: argparse.Namespace) -> int:
    from uniret.index.dense import map_dense_index

    started = time.perf_counter()
    map_dense_index(args.index, args.model, args.out, overwrite=args.overwrite)
    print(f"mapped index in {time.perf_counter() - started:.1f}s -> {args.out}")
    return 0
