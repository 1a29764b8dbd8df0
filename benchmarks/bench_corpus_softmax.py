"""Query-side training at corpus sizes the exact corpus softmax cannot hold.

The exact loss (``query_side_loss = "corpus"``) scores every passage vector each step and keeps
the whole corpus matrix in memory (22M x 384 fp32 = 34 GB for KILT). The approximate one
(``"approx"``) scores each query's nearest passages, found in a compressed IVF-PQ index, plus
uniform samples for the tail, and reads those rows from memory-mapped vectors.

The corpus is the real base-model embeddings of kiltmini (``uniret encode``) and, above their
size, synthetic vectors drawn around real ones (see bench_index_scale.py). Queries are real
kiltmini train queries with their real positives, encoded by the real base model.

Printed per loss: step time and the memory of a fresh process running it (peak resident; at the
end, anonymous and file-backed; the exact loss on the base model's own query tower, 1 warm-up
step then ``--steps``); and the
approximation's fidelity at the base model: relative error of the loss and cosine of the
gradient with respect to the query vectors, against the exact loss, on ``--fidelity-batches``
batches.

    python benchmarks/bench_corpus_softmax.py --embeddings runs/quickstart/shared/emb-base \\
        --examples runs/quickstart/cells/multi-task/model/train-examples.jsonl --size 2000000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import torch
from bench_index_scale import corpus

from uniret.defaults import DEFAULT_MODEL
from uniret.index.encode import load_embeddings
from uniret.index.faiss_index import IndexConfig, IndexType, build_faiss
from uniret.models.biencoder import BiEncoder, BiEncoderConfig, QueryMode
from uniret.training.data import TrainExample, load_examples
from uniret.training.loss import ApproxCorpusSoftmaxLoss, CorpusSoftmaxLoss

SCALE = 20.0


def batches(examples: list[TrainExample], size: int, count: int) -> list[list[TrainExample]]:
    """``count`` single-task batches of ``size`` (tasks in turn), fixed by seed 0."""
    rng = np.random.default_rng(0)
    by_task: dict[str, list[TrainExample]] = {}
    for e in examples:
        by_task.setdefault(e.task, []).append(e)
    tasks = sorted(by_task)
    out = []
    for i in range(count):
        pool = by_task[tasks[i % len(tasks)]]
        out.append([pool[j] for j in rng.choice(len(pool), size=size, replace=False)])
    return out


def make_loss(kind: str, folder: Path, args: argparse.Namespace) -> torch.nn.Module:
    vectors = np.load(folder / "corpus.npy", mmap_mode="r")
    if kind == "exact":
        return CorpusSoftmaxLoss(torch.from_numpy(np.ascontiguousarray(vectors)), SCALE)
    index = faiss.read_index(str(folder / "ivfpq.faiss"))
    faiss.extract_index_ivf(index).nprobe = args.nprobe
    return ApproxCorpusSoftmaxLoss(
        lambda q, k: index.search(q, k)[1],
        lambda ids: np.asarray(vectors[np.sort(ids)][np.argsort(np.argsort(ids))]),
        len(vectors),
        args.candidates,
        args.samples,
        SCALE,
        seed=0,
    )


def run_steps(kind: str, folder: str, args: argparse.Namespace, queue: Any) -> None:
    """In a fresh process: train the query tower ``args.steps`` steps with one loss."""
    torch.manual_seed(0)
    model = BiEncoder.from_pretrained(
        args.model, BiEncoderConfig(mode=QueryMode.SEPARATE), pooling="mean", normalize=True
    )
    model.passage_encoder.requires_grad_(False)
    encoder = model.query_encoder()
    optim = torch.optim.AdamW(encoder.parameters(), lr=2e-5)
    loss_fn = make_loss(kind, Path(folder), args)
    todo = batches(load_examples(args.examples), args.batch_size, args.steps + 1)
    times = []
    for step, batch in enumerate(todo):
        start = time.perf_counter()
        tokens = encoder.tokenize([e.query for e in batch], 64)
        loss = loss_fn(encoder(**tokens), batch, 0, step)
        loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)
        if step:
            times.append(time.perf_counter() - start)
    queue.put({"step_s": round(float(np.median(times)), 3), **memory_mib()})


def memory_mib() -> dict[str, int]:
    """This process's own peak resident memory, and at the end its anonymous memory and the
    file-backed pages it maps (the memory-mapped vectors: page cache, reclaimable). Not
    ``getrusage``: its ``ru_maxrss`` survives ``exec``, so a spawned child would report the
    parent's peak when that is higher."""
    status = Path("/proc/self/status")
    if not status.is_file():
        return {"peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
    kib = {k: int(fields[k].split()[0]) for k in ("VmHWM", "RssAnon", "RssFile")}
    return {
        "peak_rss_mib": round(kib["VmHWM"] / 1024),
        "anon_at_end_mib": round(kib["RssAnon"] / 1024),
        "file_backed_at_end_mib": round(kib["RssFile"] / 1024),
    }


def fidelity(folder: Path, args: argparse.Namespace, vectors: np.ndarray) -> dict[str, float]:
    """Loss error and gradient cosine of the approximation vs the exact loss, base model."""
    model = BiEncoder.from_pretrained(args.model, pooling="mean", normalize=True)
    exact = CorpusSoftmaxLoss(torch.from_numpy(vectors), SCALE)
    approx = make_loss("approx", folder, args)
    errors, cosines = [], []
    todo = batches(load_examples(args.examples), args.batch_size, args.fidelity_batches)
    for step, batch in enumerate(todo):
        q = torch.from_numpy(model.embed_queries([e.query for e in batch]))
        grads = []
        values = []
        for loss_fn in (exact, approx):
            leaf = q.clone().requires_grad_()
            value = loss_fn(leaf, batch, 0, step)
            value.backward()
            values.append(value.item())
            grads.append(leaf.grad.flatten())
        errors.append(abs(values[1] - values[0]) / values[0])
        cosines.append(torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0).item())
    return {
        "loss_rel_error_mean": round(float(np.mean(errors)), 4),
        "grad_cosine_mean": round(float(np.mean(cosines)), 4),
        "grad_cosine_min": round(float(np.min(cosines)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--embeddings", required=True, help="base-model embeddings of kiltmini")
    parser.add_argument("--examples", required=True, help="train-examples.jsonl of a run")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--size", type=int, default=2_000_000)
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--candidates", type=int, default=256)
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--nprobe", type=int, default=32)
    parser.add_argument("--nlist", type=int, default=1024, help="IVF lists of the index")
    parser.add_argument("--fidelity-batches", type=int, default=20)
    parser.add_argument("--work", default=None, help="scratch folder (default: a temp folder)")
    args = parser.parse_args()
    if args.work:
        Path(args.work).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.work) as scratch:
        folder = Path(scratch)
        real = load_embeddings(args.embeddings).vectors
        start = time.perf_counter()
        vectors = corpus(real, args.size, args.noise)
        np.save(folder / "corpus.npy", vectors)
        index = build_faiss(
            vectors, IndexConfig(type=IndexType.IVFPQ, nlist=args.nlist, nprobe=args.nprobe)
        )
        faiss.write_index(index, str(folder / "ivfpq.faiss"))
        report: dict[str, Any] = {
            "size": args.size,
            "corpus_matrix_mib": round(vectors.nbytes / 2**20),
            "ivfpq_index_mib": round((folder / "ivfpq.faiss").stat().st_size / 2**20),
            "prepare_s": round(time.perf_counter() - start, 1),
            "candidates": args.candidates,
            "samples": args.samples,
            "nlist": args.nlist,
            "nprobe": args.nprobe,
            "threads": torch.get_num_threads(),
        }
        report["fidelity"] = fidelity(folder, args, vectors)
        del vectors, index
        context = mp.get_context("spawn")
        for kind in ("exact", "approx"):
            queue = context.Queue()
            child = context.Process(target=run_steps, args=(kind, scratch, args, queue))
            child.start()
            report[kind] = queue.get()
            child.join()
        report["approx_speedup"] = round(report["exact"]["step_s"] / report["approx"]["step_s"], 2)
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
