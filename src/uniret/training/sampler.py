"""Task-homogeneous batches (as DPR's multi-set iterator), deterministic from seed and epoch."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


class TaskSampling(enum.StrEnum):
    """How the task of each batch is chosen."""

    PROPORTIONAL = "proportional"
    """Every example once per epoch; a task gets batches in proportion to its size."""
    UNIFORM = "uniform"
    """Each batch's task drawn uniformly; small tasks are cycled through again."""
    TEMPERATURE = "temperature"
    """Task drawn with ``p_t ∝ n_t^(1/T)`` (T=1 proportional, T→∞ uniform)."""


@dataclass(frozen=True)
class SamplerConfig:
    """Batch size (global, across processes), task sampling, temperature and seed."""

    batch_size: int = 32
    sampling: TaskSampling = TaskSampling.PROPORTIONAL
    temperature: float = 2.0
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "sampling", TaskSampling(self.sampling))
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")


def task_probabilities(sizes: Mapping[str, int], config: SamplerConfig) -> dict[str, float]:
    """Probability of each task per batch."""
    names = sorted(sizes)
    n = np.array([sizes[t] for t in names], dtype=float)
    if config.sampling is TaskSampling.UNIFORM:
        w = np.ones_like(n)
    elif config.sampling is TaskSampling.TEMPERATURE:
        w = n ** (1.0 / config.temperature)
    else:
        w = n
    return dict(zip(names, (w / w.sum()).tolist(), strict=True))


def epoch_batches(task_of: Sequence[str], config: SamplerConfig, epoch: int) -> list[list[int]]:
    """The batches of one epoch: lists of example indices, each list from a single task.

    ``task_of[i]`` is example i's task. An epoch has ``sum_t floor(n_t / B)`` batches (a task
    smaller than one batch still gives one, shorter batch). Same seed and epoch, same batches.
    """
    rng = np.random.default_rng([config.seed, epoch])
    by_task: dict[str, list[int]] = {}
    for i, task in enumerate(task_of):
        by_task.setdefault(task, []).append(i)
    tasks = sorted(by_task)
    size = config.batch_size
    per_task = {t: max(1, len(by_task[t]) // size) for t in tasks}
    total = sum(per_task.values())
    if config.sampling is TaskSampling.PROPORTIONAL:
        order = [t for t in tasks for _ in range(per_task[t])]
        rng.shuffle(order)
    else:
        probs = task_probabilities({t: len(by_task[t]) for t in tasks}, config)
        order = rng.choice(tasks, size=total, p=[probs[t] for t in tasks]).tolist()
    streams = {t: _Stream(by_task[t], rng) for t in tasks}
    return [streams[t].take(size) for t in order]


class _Stream:
    """A task's examples in shuffled passes, reshuffled each time it runs out."""

    def __init__(self, items: list[int], rng: np.random.Generator) -> None:
        self.items, self.rng, self.pos = list(items), rng, 0
        self.order = self.rng.permutation(self.items).tolist()

    def take(self, n: int) -> list[int]:
        n = min(n, len(self.items))
        if self.pos + n > len(self.order):
            self.order = self.rng.permutation(self.items).tolist()
            self.pos = 0
        out = self.order[self.pos : self.pos + n]
        self.pos += n
        return out
