"""Markdown tables of evaluation results, and the one macro average every table uses."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uniret.evaluation.evaluate import TaskReport

MACRO = "macro"


def macro_mean(values: Iterable[float]) -> float | None:
    """macro = (1/T) * sum_t m_t: the unweighted mean over tasks (None for no task)."""
    items = list(values)
    return sum(items) / len(items) if items else None


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table: the first column left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def pct(value: float | None) -> str:
    """A fraction as a percentage with one decimal; ``–`` when missing."""
    return "–" if value is None else f"{100 * value:.1f}"


def row_name(report: TaskReport, reports: Sequence[TaskReport]) -> str:
    """``task``, or ``task (split)`` when the reports span several splits."""
    several = len({r.split for r in reports}) > 1
    return f"{report.name} ({report.split})" if several else report.name


def format_table(
    reports: Sequence[TaskReport],
    columns: Sequence[str] = ("Rprec", "recall@5", "success_rate@5", "answer_in_context@5"),
) -> str:
    """One row per task file plus a macro row per split (metrics in percent)."""
    rows = [
        [row_name(r, reports), str(r.queries), *(pct(r.metrics.get(c)) for c in columns)]
        for r in reports
    ]
    splits = sorted({r.split for r in reports})
    for split in splits:
        group = [r for r in reports if r.split == split]
        if len(group) < 2:
            continue
        label = f"**{MACRO}**" if len(splits) == 1 else f"**{MACRO} ({split})**"
        means = [macro_mean(r.metrics[c] for r in group if c in r.metrics) for c in columns]
        rows.append([label, str(sum(r.queries for r in group)), *(f"**{pct(m)}**" for m in means)])
    return markdown_table(["task", "queries", *columns], rows)


def comparison_table(systems: dict[str, Sequence[TaskReport]], metric: str = "Rprec") -> str:
    """One row per task, one column per system, plus the macro average (percent)."""
    names = list(systems)
    first = next(iter(systems.values()))
    rows = [
        [row_name(r, first), *(pct(systems[n][i].metrics[metric]) for n in names)]
        for i, r in enumerate(first)
    ]
    macros = [macro_mean(r.metrics[metric] for r in systems[n]) for n in names]
    rows.append([f"**{MACRO}**", *(f"**{pct(m)}**" for m in macros)])
    return markdown_table(["task", *names], rows)
