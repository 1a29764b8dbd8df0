"""Chunking throughput and peak memory on generated knowledge sources of growing size, and
random access into the passage store it writes.

Generates KILT-format knowledge files (random words, 1-6 paragraphs per page) and runs
``uniret corpus build`` on each in a fresh child process, reporting pages/s and the child's
peak RSS. Bounded memory means the peak stays flat as the file grows. A second child opens the
store (memory-mapped) and times ``get_many`` of random passage ids: single ids and batches of
100 (the size of one query's top-100), reporting median and 99th-percentile latency and RSS.

    python benchmarks/bench_chunking.py --pages 100000 500000
    python benchmarks/bench_chunking.py --pages 5900000     # KILT's 5.9M pages, ~17M passages
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = [f"w{i}" for i in range(5000)] + ["the", "of", "and", "in", "river", "city", "born"]


def generate(path: Path, pages: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as out:
        for i in range(pages):
            title = f"Page {i}"
            paragraphs = [
                " ".join(rng.choices(WORDS, k=rng.randint(20, 120)))
                for _ in range(rng.randint(1, 6))
            ]
            out.write(
                json.dumps(
                    {
                        "_id": str(i),
                        "wikipedia_id": str(i),
                        "wikipedia_title": title,
                        "text": [title, *paragraphs],
                    }
                )
                + "\n"
            )


ACCESS = """
import resource, time
import numpy as np
from uniret.corpus.store import PassageStore
t = time.perf_counter(); store = PassageStore({store!r}); opened = time.perf_counter() - t
rng = np.random.default_rng(0)
def timed(size, calls):
    out = []
    for _ in range(calls):
        ids = rng.integers(len(store), size=size).tolist()
        t = time.perf_counter(); store.get_many(ids); out.append(time.perf_counter() - t)
    return np.percentile(out, 50) * 1e3, np.percentile(out, 99) * 1e3
one, hundred = timed(1, 2000), timed(100, 300)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"open {{opened:.2f}}s; 1 id p50 {{one[0]:.3f}} ms p99 {{one[1]:.3f}} ms; "
      f"100 ids p50 {{hundred[0]:.2f}} ms p99 {{hundred[1]:.2f}} ms; peak RSS {{rss:,.0f}} MiB")
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, nargs="+", default=[100_000, 500_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="uniret-chunk-") as tmp:
        for pages in args.pages:
            src = Path(tmp) / f"k{pages}.jsonl"
            generate(src, pages)
            out = Path(tmp) / f"p{pages}"
            code = (
                "import resource, time;"
                "from uniret.corpus.store import build_passage_store;"
                f"t=time.perf_counter(); m=build_passage_store({str(src)!r}, {str(out)!r});"
                "print(m['passages'], time.perf_counter()-t,"
                " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
            )
            started = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            )
            passages, seconds, rss_kib = result.stdout.split()
            size_mb = src.stat().st_size / 2**20
            print(
                f"{pages:>9,} pages ({size_mb:,.0f} MiB, {int(passages):,} passages): "
                f"{float(seconds):.1f}s, {pages / float(seconds):,.0f} pages/s, "
                f"peak RSS {int(rss_kib) / 1024:,.0f} MiB "
                f"(child wall {time.perf_counter() - started:.1f}s)",
                flush=True,
            )
            src.unlink()  # the store is what the access test reads
            result = subprocess.run(
                [sys.executable, "-c", ACCESS.format(store=str(out))],
                capture_output=True,
                text=True,
                check=True,
            )
            print(f"{'':>9}  random access: {result.stdout.strip()}", flush=True)


if __name__ == "__main__":
    main()
