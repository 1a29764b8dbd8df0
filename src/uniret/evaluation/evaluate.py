"""Evaluate KILT prediction files against gold files: per-task metrics and macro averages."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uniret.errors import InputError
from uniret.evaluation import metrics as m
from uniret.evaluation.tables import macro_mean
from uniret.io import iter_jsonl
from uniret.tasks.kilt import TaskFile, example_to_record, find_task_files, parse_example
from uniret.types import Example

logger = logging.getLogger(__name__)

DEFAULT_KS = (1, 5, 10, 20, 100)
PAGE_KEYS = ("wikipedia_id",)
PASSAGE_KEYS = ("wikipedia_id", "start_paragraph_id", "end_paragraph_id")


@dataclass(frozen=True)
class EvalConfig:
    """What to compute: cut-offs ``ks``, the provenance keys that identify a retrieved unit,
    and whether gold ids missing from the predictions are an error or score 0."""

    ks: tuple[int, ...] = DEFAULT_KS
    rank_keys: tuple[str, ...] = PAGE_KEYS
    allow_missing: bool = False

    def __post_init__(self) -> None:
        if not self.ks or any(k < 1 for k in self.ks):
            raise ValueError(f"ks must be positive integers, got {self.ks}")
        if not self.rank_keys:
            raise ValueError("rank_keys must not be empty")


@dataclass
class TaskReport:
    """Metrics of one prediction file: means over queries, and per-query R-precision."""

    name: str
    split: str
    gold: str
    pred: str
    queries: int
    missing: int
    metrics: dict[str, float]
    per_query: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "split": self.split,
            "gold": self.gold,
            "pred": self.pred,
            "queries": self.queries,
            "missing_predictions": self.missing,
            "metrics": self.metrics,
            "per_query": self.per_query,
        }


def _ids(provenance: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[str]:
    """KILT ids of provenance entries that carry every rank key (others are ignored)."""
    return [
        "+".join(str(p[key]).strip() for key in keys)
        for p in provenance
        if isinstance(p, dict) and all(key in p for key in keys)
    ]


def _gold(path: Path) -> list[dict[str, Any]]:
    records = []
    seen: dict[str, int] = {}
    for line, record in iter_jsonl(path):
        example = parse_example(record, path, line)  # validates fields, names the bad one
        if example.id in seen:
            raise InputError(
                path, line, "id", f"duplicate id {example.id!r} (first on line {seen[example.id]})"
            )
        seen[example.id] = line
        records.append(record)
    return records


def _check_rank_keys(gold: list[dict[str, Any]], path: Path, keys: Sequence[str]) -> None:
    """Refuse rank keys that no gold provenance carries (everything would score 0)."""
    entries = [
        p
        for g in gold
        for o in g.get("output", [])
        if isinstance(o, dict)
        for p in o.get("provenance", []) or []
        if isinstance(p, dict)
    ]
    if entries and not any(all(k in p for k in keys) for p in entries):
        raise InputError(
            path,
            None,
            "--rank-keys",
            f"no gold provenance has all of {', '.join(keys)}; "
            f"its entries have keys like {', '.join(sorted(entries[0]))}",
        )


def read_predictions(path: str | Path) -> dict[str, tuple[int, list[dict[str, Any]]]]:
    """A KILT prediction file as ``id -> (line, provenance of the single output that has
    provenance)``; a malformed record raises InputError naming file, line and field."""
    found: dict[str, tuple[int, list[dict[str, Any]]]] = {}
    for line, record in iter_jsonl(path):
        if "id" not in record:
            raise InputError(path, line, "id", "missing")
        outputs = record.get("output")
        if not isinstance(outputs, list):
            raise InputError(path, line, "output", "missing or not a list")
        with_prov = [o for o in outputs if isinstance(o, dict) and "provenance" in o]
        if len(with_prov) != 1:
            raise InputError(
                path,
                line,
                "output",
                f"expected exactly one output with provenance, got {len(with_prov)}",
            )
        provenance = with_prov[0]["provenance"]
        if not isinstance(provenance, list):
            raise InputError(path, line, "output[0].provenance", "expected a list")
        key = str(record["id"]).strip()
        if key in found:
            raise InputError(
                path, line, "id", f"duplicate id {key!r} (first on line {found[key][0]})"
            )
        found[key] = (line, provenance)
    return found


def metric_names(ks: Sequence[int]) -> list[str]:
    """Metric keys in report order."""
    names = ["Rprec"]
    for prefix in ("precision", "recall", "success_rate", "answer_in_context"):
        names += [f"{prefix}@{k}" for k in ks]
    return [*names, "entity_in_input"]


def example_metrics(
    gold: dict[str, Any], provenance: Sequence[dict[str, Any]], config: EvalConfig
) -> dict[str, float]:
    """Every metric for one gold record and its predicted provenance."""
    outputs = [o for o in gold.get("output", []) if isinstance(o, dict)]
    gold_sets = [
        _ids(o.get("provenance", []), config.rank_keys) for o in outputs if "provenance" in o
    ]
    guess = m.dedupe(_ids(provenance, config.rank_keys))
    answers = [o["answer"] for o in outputs if isinstance(o.get("answer"), str)]
    titles = [
        p.get("title") or ""
        for o in outputs
        for p in o.get("provenance", [])
        if isinstance(p, dict)
    ]
    texts = [p.get("text") or "" for p in provenance if isinstance(p, dict)][: max(config.ks)]
    first_answer = m.first_answer_rank(texts, answers)
    rank, num_sets = m.rank_list(guess, gold_sets)
    out = {"Rprec": m.r_precision(guess, [m.dedupe(s) for s in gold_sets])}
    for k in config.ks:
        scored = num_sets > 0
        out[f"precision@{k}"] = m.precision_at_k(rank, k) if scored else 0.0
        out[f"recall@{k}"] = m.recall_at_k(rank, num_sets, k) if scored else 0.0
        out[f"success_rate@{k}"] = m.success_at_k(rank, k) if scored else 0.0
        out[f"answer_in_context@{k}"] = float(first_answer is not None and first_answer < k)
    out["entity_in_input"] = m.entity_in_input(str(gold.get("input", "")), titles)
    return out


def score_rankings(
    examples: Sequence[Example], rankings: Sequence[Sequence[str]], config: EvalConfig
) -> dict[str, float]:
    """Mean of every metric over ``examples``, each ranked by the page ids of ``rankings``
    (best first): the same computation as :func:`evaluate_file`, without files."""
    names = metric_names(config.ks)
    totals = dict.fromkeys(names, 0.0)
    for example, pages in zip(examples, rankings, strict=True):
        provenance = [{"wikipedia_id": page} for page in pages]
        scores = example_metrics(example_to_record(example), provenance, config)
        for name in names:
            totals[name] += scores[name]
    return {n: v / len(examples) if examples else 0.0 for n, v in totals.items()}


def evaluate_file(
    gold_path: str | Path, pred_path: str | Path, config: EvalConfig = EvalConfig()
) -> TaskReport:
    """Score one prediction file against its gold file (every gold example counts)."""
    gold_path, pred_path = Path(gold_path), Path(pred_path)
    gold = _gold(gold_path)
    _check_rank_keys(gold, gold_path, config.rank_keys)
    preds = read_predictions(pred_path)
    gold_ids = {str(g["id"]).strip() for g in gold}
    extra = [(line, key) for key, (line, _) in preds.items() if key not in gold_ids]
    if extra:
        line, key = extra[0]
        raise InputError(
            pred_path, line, "id", f"id {key!r} is not in {gold_path} ({len(extra)} such)"
        )
    missing = [str(g["id"]).strip() for g in gold if str(g["id"]).strip() not in preds]
    if missing and not config.allow_missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise InputError(
            pred_path,
            None,
            "id",
            f"{len(missing)} of {len(gold)} gold ids have no prediction ({shown}); "
            "use --allow-missing to score them as 0",
        )
    names = metric_names(config.ks)
    per_query: dict[str, list[float]] = {n: [] for n in names}
    for record in gold:
        provenance = preds.get(str(record["id"]).strip(), (0, []))[1]
        scores = example_metrics(record, provenance, config)
        for n in names:
            per_query[n].append(scores[n])
    n_queries = len(gold)
    means = {n: (sum(v) / n_queries if n_queries else 0.0) for n, v in per_query.items()}
    info = TaskFile.from_path(gold_path)
    keep = {k: per_query[k] for k in ("Rprec", "recall@5") if k in per_query}
    return TaskReport(
        info.task, info.split, str(gold_path), str(pred_path), n_queries, len(missing), means, keep
    )


def pair_files(gold: str | Path, pred: str | Path) -> list[tuple[Path, Path]]:
    """Gold/prediction pairs: two files, or two folders matched by file name."""
    gold, pred = Path(gold), Path(pred)
    if gold.is_file() and pred.is_file():
        return [(gold, pred)]
    if gold.is_dir() and pred.is_dir():
        pairs = [
            (g.path, pred / g.name) for g in find_task_files(gold) if (pred / g.name).is_file()
        ]
        if not pairs:
            raise InputError(pred, None, None, f"no prediction file matches a gold file in {gold}")
        return pairs
    if gold.is_dir() and pred.is_file():
        match = next(
            (g.path for g in find_task_files(gold) if g.name == pred.name), gold / pred.name
        )
        if not match.is_file():
            raise InputError(pred, None, None, f"no gold file named {pred.name} in {gold}")
        return [(match, pred)]
    missing = gold if not gold.exists() else pred
    raise InputError(missing, None, None, "no such file or folder (or a file paired with a folder)")


def macro_average(reports: Sequence[TaskReport]) -> dict[str, dict[str, float]]:
    """Per split, the unweighted mean of each metric over its task files."""
    out: dict[str, dict[str, float]] = {}
    for split in sorted({r.split for r in reports}):
        group = [r for r in reports if r.split == split]
        out[split] = {k: macro_mean(r.metrics[k] for r in group) or 0.0 for k in group[0].metrics}
    return out
