"""Plots of an experiment's results.json: few-shot learning curves and the macro bar chart
(matplotlib, file-only Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from uniret.experiments.report import (
    Results,
    all_tasks,
    fewshot_runs,
    macro,
    main_systems,
    mean_std,
)


def _pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt


def plot_fewshot(results: Results, out_dir: Path) -> list[Path]:
    """One learning curve per task: R-prec vs k per starting point (mean ± std over seeds),
    BM25 as a horizontal line."""
    plt = _pyplot()
    bm25_name = results.get("report", {}).get("fewshot", {}).get("bm25", "BM25")
    bm25 = main_systems(results).get(bm25_name, {})
    paths = []
    for task, runs in sorted(fewshot_runs(results).items()):
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        for start, by_k in runs.items():
            ks = sorted(by_k)
            stats = [mean_std(by_k[k]) for k in ks]
            ax.errorbar(
                ks,
                [100 * m for m, _ in stats],
                yerr=[100 * s for _, s in stats],
                marker="o",
                capsize=3,
                label=f"from {start}",
            )
        if task in bm25:
            ax.axhline(100 * bm25[task]["metrics"]["Rprec"], color="grey", ls="--", label="BM25")
        ax.set_xscale("symlog", linthresh=16)
        ax.set_xticks([0, 16, 64, 256])
        ax.set_xticklabels(["0", "16", "64", "256"])
        ax.set_xlabel("training examples of the task (k)")
        ax.set_ylabel(f"{results['split']} R-precision (%)")
        ax.set_title(f"{task}: low-data learning curve")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = out_dir / f"fewshot-{task}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_main(results: Results, out_dir: Path) -> Path | None:
    """Macro-average R-precision of every main-study system that covers all tasks."""
    plt = _pyplot()
    tasks = all_tasks(results)
    macros = {name: macro(s, tasks, "Rprec") for name, s in main_systems(results).items()}
    bars = [(name, m) for name, m in macros.items() if m is not None]
    if not bars:
        return None
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(bars) + 1.2))
    names = [b[0] for b in bars][::-1]
    values = [100 * b[1] for b in bars][::-1]  # type: ignore[operator]
    ax.barh(names, values, color="#4C72B0")
    for y, v in enumerate(values):
        ax.text(v + 0.3, y, f"{v:.1f}", va="center", fontsize=8)
    ax.set_xlim(0, max(values) + 8)  # bars start at 0: lengths compare honestly
    ax.set_xlabel(f"macro-average {results['split']} R-precision (%)")
    ax.set_title(f"{results['experiment']} {results['split']}: retrieval systems")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    path = out_dir / "main.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
