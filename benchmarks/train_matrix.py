"""Multi-task vs task-specific retrievers on a KILT folder (query-side mode), one table.

Trains (or reuses) the multi-task model of ``--config`` and one model per task (same config,
``tasks=<task>``), retrieves each task's dev file with its model over the shared base index,
and prints dev R-precision per task for BM25, the base model, every trained model and the
BM25 + multi-task hybrid, with training wall times and examples/s. Writes ``--out/matrix.json``.

    python benchmarks/train_matrix.py --config configs/multitask-kiltmini.toml \\
        --index runs/kiltmini/index-base --bm25 runs/kiltmini/index-bm25 --out runs/kiltmini/matrix
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from uniret.config import build_config, load_mapping, parse_overrides
from uniret.evaluation.evaluate import EvalConfig, evaluate_file
from uniret.io import read_json, write_json
from uniret.retrieval.loader import load_retriever
from uniret.retrieval.predict import predict_file
from uniret.tasks.kilt import find_task_files
from uniret.training.config import TrainConfig
from uniret.training.trainer import train


def trained(config_file: str, out: Path, overrides: dict[str, str]) -> dict:
    """Train unless ``out`` holds a finished run; return its log."""
    if not (out / "train_log.json").is_file():
        config = build_config(TrainConfig, load_mapping(config_file), overrides, config_file)
        started = time.perf_counter()
        train(config, out, resume=True)
        print(f"  trained {out.name} in {time.perf_counter() - started:.0f}s")
    return read_json(out / "train_log.json")


def rprec(index: list[str], model: str | None, task_file: Path, out: Path) -> tuple[float, float]:
    pred = out / task_file.name
    if not pred.is_file():
        predict_file(load_retriever(index, model=model), task_file, pred, 100)
    report = evaluate_file(task_file, pred, EvalConfig())
    return report.metrics["Rprec"], report.metrics["recall@5"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default="configs/multitask-kiltmini.toml")
    parser.add_argument("--index", default="runs/kiltmini/index-base")
    parser.add_argument("--bm25", default="runs/kiltmini/index-bm25")
    parser.add_argument("--data", default="../shared/data/kiltmini")
    parser.add_argument("--out", default="runs/kiltmini/matrix")
    parser.add_argument("--set", action="append", default=[], help="override a training key")
    args = parser.parse_args()
    out = Path(args.out)
    base = {"data_dir": args.data, "index": args.index, **parse_overrides(args.set)}
    dev = find_task_files(args.data, "dev")
    logs = {"multi-task": trained(args.config, out / "multitask", base)}
    for tf in dev:
        logs[tf.task] = trained(args.config, out / f"single-{tf.task}", {**base, "tasks": tf.task})
    rows: dict[str, dict[str, tuple[float, float]]] = {}
    for tf in dev:
        rows[tf.task] = {
            "BM25": rprec([args.bm25], None, tf.path, out / "pred" / "bm25"),
            "base": rprec([args.index], None, tf.path, out / "pred" / "base"),
            "task-specific": rprec(
                [args.index],
                str(out / f"single-{tf.task}"),
                tf.path,
                out / "pred" / f"single-{tf.task}",
            ),
            "multi-task": rprec(
                [args.index], str(out / "multitask"), tf.path, out / "pred" / "multitask"
            ),
            "BM25 + multi-task": rprec(
                [args.bm25, args.index], str(out / "multitask"), tf.path, out / "pred" / "hybrid"
            ),
        }
    systems = list(next(iter(rows.values())))
    for metric, pos in (("R-precision", 0), ("recall@5", 1)):
        print(f"\ndev {metric} (%)\n")
        print("| task | " + " | ".join(systems) + " |")
        print("|---|" + "---:|" * len(systems))
        for task, cells in rows.items():
            print(f"| {task} | " + " | ".join(f"{100 * cells[s][pos]:.1f}" for s in systems) + " |")
        macro = [sum(rows[t][s][pos] for t in rows) / len(rows) for s in systems]
        print("| **macro** | " + " | ".join(f"**{100 * m:.1f}**" for m in macro) + " |")
    print("\ntraining runs: wall time, examples/s")
    for name, log in logs.items():
        print(
            f"  {name:12s} {log['seconds']:7.0f}s  {log['examples_per_s']:6.1f} ex/s  "
            f"{log['steps']} steps"
        )
    write_json(
        out / "matrix.json",
        {
            "rows": rows,
            "logs": {
                k: {x: v[x] for x in ("seconds", "examples_per_s", "steps")}
                for k, v in logs.items()
            },
        },
    )
    print(json.dumps({"written": str(out / "matrix.json")}))


if __name__ == "__main__":
    main()
