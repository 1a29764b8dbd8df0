"""HTTP search service under load, on loopback: q/s and latency by concurrency, micro-batching
against one forward per request, and resident memory over a soak.

Starts ``uniret serve`` as a subprocess per configuration (BM25, dense, BM25+dense hybrid) on a
free loopback port, then runs 1, 8, 32 and 128 concurrent clients, each sending a fixed number of
``GET /v1/search`` requests (kiltmini dev queries with their task). Each phase is bounded in time
and count; every server is stopped with SIGTERM. Prints one table row per phase.

    python benchmarks/bench_serve.py --bm25 runs/kiltmini/index-bm25 \\
        --dense runs/kiltmini/index-base --soak-seconds 600
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from uniret.defaults import DEFAULT_DATA
from uniret.tasks.kilt import find_task_files, read_examples


def dev_queries(data: str) -> list[tuple[str, str]]:
    """(input, task) of every dev example, interleaved across tasks."""
    per_task = [
        [(e.input, tf.task) for e in read_examples(tf.path)] for tf in find_task_files(data, "dev")
    ]
    mixed = itertools.chain.from_iterable(itertools.zip_longest(*per_task))
    return [q for q in mixed if q is not None]


class Server:
    """``uniret serve`` in a subprocess on a free loopback port."""

    def __init__(self, indexes: list[str], extra: list[str]) -> None:
        command = [sys.executable, "-m", "uniret.cli", "-q", "serve", "--port", "0"]
        for index in indexes:
            command += ["--index", index]
        self.proc = subprocess.Popen([*command, *extra], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if "http://" not in line:
            self.proc.kill()
            raise SystemExit(f"the server did not start: {line!r}")
        self.url = line.split(" on ", 1)[1].split("/ ", 1)[0]

    def rss_mib(self) -> float:
        """Resident set size of the server process."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


async def load(
    url: str,
    queries: list[tuple[str, str]],
    clients: int,
    requests: int,
    k: int,
    deadline_s: float,
) -> dict[str, Any]:
    """``clients`` concurrent clients, ``requests`` each (or until ``deadline_s``)."""
    latencies: list[float] = []
    errors = 0
    kinds: Counter[str] = Counter()  # HTTP status or exception class of each error
    stop_at = time.perf_counter() + deadline_s
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as http:

        async def client(c: int) -> None:
            nonlocal errors
            for r in range(requests):
                if time.perf_counter() > stop_at:
                    return
                text, task = queries[(c * requests + r) % len(queries)]
                started = time.perf_counter()
                try:
                    params = {"q": text, "k": k, "task": task}
                    response = await http.get("/v1/search", params=params)
                    ok = response.status_code == 200
                    kind = f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    ok, kind = False, type(exc).__name__
                latencies.append(time.perf_counter() - started)
                errors += not ok
                if not ok:
                    kinds[kind] += 1

        started = time.perf_counter()
        await asyncio.gather(*(client(c) for c in range(clients)))
        wall = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {
        "requests": len(latencies),
        "qps": len(latencies) / wall,
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
        "p99": float(np.percentile(ms, 99)),
        "errors": errors,
        "error_kinds": dict(kinds),
    }


def row(system: str, batching: str, clients: int, m: dict[str, Any]) -> str:
    return (
        f"| {system} | {batching} | {clients} | {m['requests']:.0f} | {m['qps']:,.1f} | "
        f"{m['p50']:.1f} | {m['p95']:.1f} | {m['p99']:.1f} | {m['errors']:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bm25", required=True, help="BM25 index folder")
    parser.add_argument("--dense", required=True, help="dense index folder")
    parser.add_argument("--data", default=DEFAULT_DATA, help="benchmark folder (dev queries)")
    parser.add_argument("--clients", default="1,8,32,128")
    parser.add_argument("--requests", type=int, default=8, help="requests per client")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--phase-seconds", type=float, default=120, help="time cap per phase")
    parser.add_argument("--compare-clients", type=int, default=32)
    parser.add_argument("--soak-seconds", type=float, default=0, help="0 skips the soak")
    parser.add_argument("--soak-clients", type=int, default=4)
    parser.add_argument(
        "--serve-args", default="", help="extra `uniret serve` flags, e.g. '--backend torch'"
    )
    args = parser.parse_args()
    queries = dev_queries(args.data)
    clients = [int(c) for c in args.clients.split(",")]
    extra = args.serve_args.split()
    print(
        f"{len(queries)} dev queries, k={args.k}, {args.requests} requests per client, "
        f"{os.cpu_count()} CPUs, loopback"
    )
    print("| system | batching | clients | requests | q/s | p50 ms | p95 ms | p99 ms | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    systems = {
        "bm25": [args.bm25],
        "dense": [args.dense],
        "bm25+dense": [args.bm25, args.dense],
    }
    for system, indexes in systems.items():
        runs = [("on", [])]
        if system != "bm25":  # micro-batching against one forward per request, same run
            runs.append(("off (--max-batch 1)", ["--max-batch", "1"]))
        for batching, flags in runs:
            server = Server(indexes, extra + flags)
            try:
                asyncio.run(load(server.url, queries, 4, 4, args.k, 60))  # warm-up
                levels = clients if batching == "on" else [args.compare_clients]
                for n in levels:
                    m = asyncio.run(
                        load(server.url, queries, n, args.requests, args.k, args.phase_seconds)
                    )
                    print(row(system, batching, n, m), flush=True)
                    if m["errors"]:
                        print(f"errors at {n} clients: {m['error_kinds']}", file=sys.stderr)
            finally:
                code = server.stop()
                if code != 0:
                    print(f"{system}: server exited with {code}", file=sys.stderr)
    if args.soak_seconds > 0:
        server = Server([args.bm25, args.dense], extra)
        try:
            asyncio.run(load(server.url, queries, 4, 8, args.k, 60))
            start_rss = server.rss_mib()
            samples = [start_rss]
            total = {"requests": 0.0, "errors": 0.0}
            ends = time.perf_counter() + args.soak_seconds
            while (left := ends - time.perf_counter()) > 0:
                m = asyncio.run(
                    load(server.url, queries, args.soak_clients, 10**9, args.k, min(30.0, left))
                )
                total["requests"] += m["requests"]
                total["errors"] += m["errors"]
                samples.append(server.rss_mib())
            print(
                f"soak bm25+dense, {args.soak_clients} clients, {args.soak_seconds:.0f} s: "
                f"{total['requests']:.0f} requests, {total['errors']:.0f} errors; RSS start "
                f"{start_rss:.0f} MiB, end {samples[-1]:.0f} MiB, max {max(samples):.0f} MiB "
                f"(samples: {', '.join(f'{s:.0f}' for s in samples)})"
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
