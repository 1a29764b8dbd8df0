"""Several ``uniret encode`` processes on one CPU, one thread each, against one process with
every core: do parallel processes (``quickstart --only`` on copies, or shards) add up?

A random sample of pages of the knowledge source becomes a passage store; the baseline is one
``uniret encode`` process with torch's and OpenVINO's default threads; then ``--processes``
processes, each with ``OMP_NUM_THREADS=1``, encode the same store at once into their own
folders. Each process's encoding time is the ``seconds`` its shard records (model loading and
start-up left out; they overlap, as the processes start together); the export and int8
calibration are cached by a first run outside the timing. Prints passages/s of the baseline,
of the processes together (the sum of their rates), and the ratio.

    python benchmarks/bench_encode_parallel.py --pages 600 --processes 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_encode import sample_pages

from uniret.corpus.store import PassageStore, build_passage_store
from uniret.defaults import DEFAULT_DATA


def encode(passages: Path, out: Path, backend: list[str], threads: int | None) -> subprocess.Popen:
    """Start ``uniret encode`` of ``passages`` into ``out``; ``threads`` sets OMP_NUM_THREADS."""
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    command = [sys.executable, "-m", "uniret.cli", "-q", "encode"]
    command += ["--passages", str(passages), "--out", str(out), *backend]
    return subprocess.Popen(command, env=env)


def rates(runs: dict[Path, subprocess.Popen], passages: int) -> list[float]:
    """Wait for every run (each must succeed); each one's passages/s from its shard record."""
    for process in runs.values():
        if process.wait() != 0:
            raise SystemExit(f"uniret encode failed with exit code {process.returncode}")
    seconds = [json.loads(next(out.glob("shard-*.json")).read_text())["seconds"] for out in runs]
    return [passages / s for s in seconds]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--knowledge", default=str(Path(DEFAULT_DATA) / "knowledge.jsonl.gz"))
    parser.add_argument("--pages", type=int, default=600)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--backend", default="openvino-int8", help="openvino-int8 (default), openvino or torch"
    )
    args = parser.parse_args()
    name, _, int8 = args.backend.partition("-")
    backend = ["--backend", name, *(["--int8"] if int8 else [])]
    with tempfile.TemporaryDirectory(prefix="uniret-encpar-") as tmp:
        root = Path(tmp)
        sample_pages(args.knowledge, args.pages, root / "k.jsonl")
        build_passage_store(root / "k.jsonl", root / "p")
        n = len(PassageStore(root / "p"))
        rates({root / "warm": encode(root / "p", root / "warm", backend, None)}, n)
        (one,) = rates({root / "alone": encode(root / "p", root / "alone", backend, None)}, n)
        outs = [root / f"e{i}" for i in range(args.processes)]
        each = rates({out: encode(root / "p", out, backend, 1) for out in outs}, n)
    many = sum(each)
    print(f"{n} passages from {args.pages} pages, {args.backend}, {os.cpu_count()} CPUs")
    print(f"one process, default threads: {one:7.1f} passages/s")
    print(
        f"{args.processes} processes, one thread each: {many:7.1f} passages/s together "
        f"({', '.join(f'{r:.1f}' for r in each)}; {many / one:.2f}x the one process)"
    )


if __name__ == "__main__":
    main()
