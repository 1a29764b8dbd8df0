"""Run the cells of an experiment, each cached by a hash of its config and inputs.

Layout under the work folder::

    shared/            passages, BM25 index, base-model embeddings + dense index (built once)
    cells/<name>/      started.json, mined/, model/, emb/ + index/ (full mode), pred/, cell.json
    retrievers/<name>.json   the cell's retriever as a bundle, where its model is kept
    results.json       every finished cell of the experiment (see ``report.py`` for the tables)

A trained model keeps its weights when another cell builds on it, when its cell has an index of
its own (full mode), or when the runner keeps every model (``keep_models``); otherwise they are
dropped once the cell is evaluated (its record and predictions stay), to spare the disk in large
matrices.

A cell is done when its ``cell.json`` holds the current key. A cell whose ``started.json``
holds another key is wiped and rerun; one with the same key (killed midway) resumes: training
from its last checkpoint, encoding from its last batch, the rest redone.

The key covers data, configs, dependencies and uniret's own code (a change to the package
recomputes every cell); each record keeps the commit the process started from.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uniret.config import build_config, config_to_dict, load_mapping
from uniret.errors import UniretError
from uniret.evaluation.evaluate import EvalConfig, evaluate_file
from uniret.experiments.shared import (
    STEP_FILE,
    Shared,
    build_shared,
    cache_key,
    code_digest,
    corpus_encoder,
    file_digest,
    find_knowledge,
)
from uniret.experiments.spec import CellSpec, ExperimentSpec, System
from uniret.io import atomic_path, read_json, write_json
from uniret.models.backends import BackendConfig
from uniret.retrieval.bundle import RetrieverBundle
from uniret.retrieval.loader import open_bundle
from uniret.tasks.kilt import TaskFile, find_task_files, read_examples

if TYPE_CHECKING:
    from uniret.models.biencoder import BiEncoder
    from uniret.training.config import TrainConfig

logger = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
RETRIEVERS_DIR = "retrievers"
CELL_FILE = "cell.json"
STARTED_FILE = "started.json"
TEACHER_DIR = "teacher"  # a cell's teacher rankings of its train queries (``distill_from``)
PER_QUERY = ("Rprec", "recall@5")
# training keys the runner sets from the experiment's own artifacts, not part of a cell's config
# (full mode starts from the experiment's base model unless a cell's `train` names another)
RUN_PATHS = (
    "data_dir",
    "index",
    "bm25_index",
    "passages",
    "examples",
    "init",
    "tasks",
    "model",
    "teachers",
)

Event = Callable[[str, dict[str, Any]], None]


def data_fingerprint(spec: ExperimentSpec) -> dict[str, str]:
    """Digest of every file of the benchmark folder a cell may read."""
    knowledge = find_knowledge(spec.data_dir)
    files = {knowledge.name.removesuffix(".gz"): knowledge}
    for split in ("train", spec.split):
        files.update({f.name: f.path for f in find_task_files(spec.data_dir, split)})
    return {name: file_digest(files[name]) for name in sorted(files)}


def train_settings(spec: ExperimentSpec, cell: CellSpec) -> dict[str, Any]:
    """The cell's training config as data: its config file's keys + the cell's overrides."""
    assert cell.train is not None
    source = Path(cell.train_config) if cell.train_config else spec.train_config
    data = {k: v for k, v in load_mapping(source).items() if k not in RUN_PATHS}
    data.update({k: v for k, v in cell.train.items() if k not in ("data_dir", "index")})
    return data


def cell_key(
    spec: ExperimentSpec, cell: CellSpec, data: dict[str, str], deps: dict[str, str]
) -> str:
    """Hash of everything that decides a cell's result: its spec, its training config, the
    evaluation settings, the benchmark files, the keys of the cells it builds on and uniret's
    own code (see :mod:`uniret.experiments.shared`)."""
    return cache_key(
        {
            "cell": {k: v for k, v in asdict(cell).items() if k not in ("labels", "tags")},
            "train": train_settings(spec, cell) if cell.trains else None,
            "eval": {"split": spec.split, "k": spec.k, "ks": list(spec.ks)},
            "base_model": spec.base_model,
            "backend": spec.backend,
            "data": data,
            "deps": deps,
            "code": code_digest(),
        }
    )


def machine() -> dict[str, Any]:
    """Where a cell ran; ``threads`` is torch's CPU thread count, which changes the order of
    floating-point sums and so a CPU training's weights (same code, seed and data); ``cpu``
    its processor (CPU timings depend on its instruction sets)."""
    import torch

    info: dict[str, Any] = {
        "host": platform.node(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": "cpu",
    }
    if torch.cuda.is_available():
        info["device"] = torch.cuda.get_device_name(0)
    return info


def cpu_model() -> str:
    """The processor's name (``model name`` of /proc/cpuinfo on Linux), else platform's."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def commit(folder: Path) -> str:
    """The git commit of ``folder`` (``+dirty`` with uncommitted changes), or ``unknown``."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


class Runner:
    """Runs and caches the cells of one experiment in one work folder."""

    def __init__(
        self,
        spec: ExperimentSpec,
        work_dir: str | Path,
        on_event: Event | None = None,
        keep_models: bool = False,
    ) -> None:
        self.spec = spec
        self.work = Path(work_dir)
        self.on_event = on_event or (lambda kind, info: None)
        self._data: dict[str, str] | None = None
        self._keys: dict[str, str] = {}
        self._shared: Shared | None = None
        self.backend = BackendConfig.from_label(spec.backend)
        # the code this process loaded, read now: commits made while cells run don't count;
        # the digest of uniret's source identifies it where git metadata is missing or stale
        self.commit = commit(spec.path.resolve().parent)
        self.code = code_digest()
        # cells another cell builds on keep their model weights; the others drop them, unless
        # every made model is kept (a cell whose weights an earlier run dropped then reruns)
        self.keeps_model = {d for c in spec.cells for d in c.depends_on}
        if keep_models:
            self.keeps_model |= {c.name for c in spec.cells if c.makes_model}

    @property
    def device(self) -> str:
        """Where PyTorch models run: this rank's GPU when there is one, else the CPU (OpenVINO
        runs on the CPU)."""
        from uniret.models.backends import Backend
        from uniret.training.distributed import pick_device

        return "cpu" if self.backend.name is Backend.OPENVINO else str(pick_device())

    # ------------------------------------------------------------------ keys and state
    def key(self, cell: CellSpec) -> str:
        if cell.name not in self._keys:
            deps = {d: self.key(self.spec.cell(d)) for d in cell.depends_on}
            self._keys[cell.name] = cell_key(self.spec, cell, self.data(), deps)
        return self._keys[cell.name]

    def data(self) -> dict[str, str]:
        """The benchmark files' digests (computed once)."""
        if self._data is None:
            self._data = data_fingerprint(self.spec)
        return self._data

    def cell_dir(self, cell: CellSpec) -> Path:
        return self.work / "cells" / cell.name

    def record(self, cell: CellSpec) -> dict[str, Any] | None:
        """The finished record of ``cell`` if it is current (same key, model kept if needed)."""
        path = self.cell_dir(cell) / CELL_FILE
        if not path.is_file():
            return None
        record = read_json(path)
        if record.get("key") != self.key(cell):
            return None
        weights = self.cell_dir(cell) / "model"
        if cell.makes_model and cell.name in self.keeps_model and not _has_weights(weights):
            return None  # another cell builds on its model, whose weights were dropped
        return record

    def status(self, cell: CellSpec) -> str:
        """``cached``, ``partial`` (killed midway, will resume), ``stale`` or ``new``."""
        if self.record(cell) is not None:
            return "cached"
        started = self.cell_dir(cell) / STARTED_FILE
        if started.is_file():
            return "partial" if read_json(started).get("key") == self.key(cell) else "stale"
        return "stale" if (self.cell_dir(cell) / CELL_FILE).is_file() else "new"

    def plan(self, only: Sequence[str] = ()) -> list[CellSpec]:
        """The selected cells plus the cells they build on, in file order (an ``only`` that
        picks no cell is an error, not an empty plan)."""
        wanted = {c.name for c in self.spec.select(only)}
        if only and not wanted:
            raise UniretError(f"--only {' '.join(only)} matches no cell of {self.spec.path}")
        stack = list(wanted)
        while stack:
            for dep in self.spec.cell(stack.pop()).depends_on:
                if dep not in wanted:
                    wanted.add(dep)
                    stack.append(dep)
        return [c for c in self.spec.cells if c.name in wanted]

    # ------------------------------------------------------------------ running
    def run(self, only: Sequence[str] = ()) -> dict[str, Any]:
        """Run every selected cell that is not cached; write and return results.json."""
        plan = self.plan(only)
        for cell in plan:
            self.key(cell)  # reads every training config: a missing one fails before any work
        for cell in plan:
            if self.record(cell) is not None:
                self.on_event("cached", {"cell": cell.name})
                continue
            self.on_event("start", {"cell": cell.name})
            record = self.run_cell(cell)
            self.on_event("done", {"cell": cell.name, "seconds": record["wall_s"]})
            self.write_results()
        return self.write_results()

    def shared(self) -> Shared:
        """Passages, BM25 and the base dense index (built on first use, then reused)."""
        if self._shared is None:
            needs_dense = any(c.system is not System.BM25 for c in self.spec.cells)
            counters: dict[str, Callable[[int], None]] = {}

            def on_encode(n: int, total: int) -> None:
                counters.setdefault("encode", self._counter("encode", total))(n)

            self._shared = build_shared(
                self.spec.data_dir,
                self.work / "shared",
                self.spec.base_model if needs_dense else None,
                backend=self.backend,
                device=self.device if needs_dense else "cpu",
                on_encode=on_encode,
            )
        return self._shared

    def run_cell(self, cell: CellSpec) -> dict[str, Any]:
        """Mine, train, index and evaluate one cell; write its record last."""
        key = self.key(cell)
        folder = self.cell_dir(cell)
        started = folder / STARTED_FILE
        if folder.exists() and not (started.is_file() and read_json(started).get("key") == key):
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(started, {"key": key, "at": _now()})
        shared = self.shared()
        clock = time.perf_counter()
        record: dict[str, Any] = {"name": cell.name, "key": key, "labels": cell.labels}
        record["tags"] = list(cell.tags)
        examples = ""
        if cell.mine_with:
            examples, record["mine_s"] = self._mine(cell, shared)
        if cell.distill_from:
            record["teacher_s"] = self._teacher_rankings(cell, shared)
        index, model = shared.base_index, None
        if cell.model:
            source = self.spec.cell(cell.model)
            index, model = self._index_of(source, shared), self._model_of(source)
            if cell.base_weight:
                model = self._interpolate(cell, model)
                index = self._encode(cell, shared, model)
        if cell.average:
            model = self._average(cell)
            index = self._encode(cell, shared, model)
        if cell.trains:
            model, record["train"] = self._train(cell, shared, examples)
            if record["train"]["config"]["mode"] == "full":
                index = self._encode(cell, shared, model)
            elif record["train"]["config"].get("passage_adapter"):
                index = self._map(cell, self._trained_over(cell, shared), model)
            else:
                index = self._index_of(cell, shared)
        bundle = self._bundle(cell, shared, index, model)
        retriever = open_bundle(bundle, device=self.device, backend=self.backend)
        record["results"] = self._evaluate(cell, retriever)
        record["wall_s"] = round(time.perf_counter() - clock, 2)
        record["finished"] = _now()
        record["commit"], record["code"] = self.commit, self.code
        record["machine"] = machine()
        self._tidy(cell, folder)
        if bundle.model is None or _has_weights(Path(bundle.model)):
            bundle.save(self.work / RETRIEVERS_DIR / f"{cell.name}.json")
        write_json(folder / CELL_FILE, record)
        started.unlink()
        return record

    def _counter(self, kind: str, total: int) -> Callable[[int], None]:
        """A progress callback taking increments, reporting running totals as events."""
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            self.on_event(kind, {"done": done, "total": total})

        return tick

    def _model_of(self, cell: CellSpec) -> Path:
        path = self.cell_dir(cell) / "model"
        if cell.makes_model and not path.is_dir():
            raise FileNotFoundError(f"cell {cell.name!r} has no trained model at {path}")
        return path

    def _index_of(self, cell: CellSpec, shared: Shared) -> Path:
        """The index ``cell``'s model searches: its own (full mode, interpolations and averages
        re-encode the corpus, a passage adapter maps it), else that of the cell its training
        starts from (query side keeps that cell's passage tower), else the base model's."""
        own = self.cell_dir(cell) / "index"
        return own if own.is_dir() else self._trained_over(cell, shared)

    def _trained_over(self, cell: CellSpec, shared: Shared) -> Path:
        """The index a cell's training reads: that of the cell it starts from, else the base
        model's (never the cell's own, which its training makes)."""
        return self._index_of(self.spec.cell(cell.init), shared) if cell.init else shared.base_index

    def _mine(self, cell: CellSpec, shared: Shared) -> tuple[str, float]:
        from uniret.retrieval.loader import load_retriever
        from uniret.training.data import build_examples, mine_negatives, save_examples

        out = self.cell_dir(cell) / "mined" / "train-examples.jsonl"
        if out.is_file():
            return str(out), 0.0
        clock = time.perf_counter()
        source = self.spec.cell(cell.mine_with)
        retriever = load_retriever(
            self._index_of(source, shared), model=str(self._model_of(source)), device=self.device
        )
        files = [f.path for f in self._train_files(cell)]
        examples = build_examples(files, retriever.store)
        config = cell.mining_config()
        tick = self._counter("mine", len(examples))
        save_examples(out, mine_negatives(examples, retriever, config, progress=tick))
        return str(out), round(time.perf_counter() - clock, 2)

    def _finished_retriever(self, cell: CellSpec, shared: Shared) -> Any:
        """The retriever a finished cell was evaluated with (any system: BM25, dense, hybrid),
        opened from this work folder's artifacts."""
        index, model = shared.base_index, None
        if cell.makes_model:
            index, model = self._index_of(cell, shared), self._model_of(cell)
        elif cell.model:
            source = self.spec.cell(cell.model)
            index, model = self._index_of(source, shared), self._model_of(source)
        bundle = self._bundle(cell, shared, index, model)
        return open_bundle(bundle, device=self.device, backend=self.backend)

    def _teacher_rankings(self, cell: CellSpec, shared: Shared) -> float:
        """Each ``distill_from`` task's train queries ranked by its teacher cell's retriever (top
        ``distill_depth``), written as the KILT prediction files the training's ``distill``
        reads, under the cell's ``teacher`` folder; a file already there is kept (a resumed
        cell), and the folder goes once the cell is done."""
        from uniret.retrieval.predict import predict_file
        from uniret.training.config import TrainConfig

        clock = time.perf_counter()
        depth = int(train_settings(self.spec, cell).get("distill_depth", TrainConfig.distill_depth))
        opened: dict[str, Any] = {}  # one teacher often ranks several tasks (a fusion, say)
        for f in self._train_files(cell):
            out = self.cell_dir(cell) / TEACHER_DIR / f.name
            name = cell.distill_teacher(f.task)
            if not name or out.is_file():
                continue
            if name not in opened:
                opened[name] = self._finished_retriever(self.spec.cell(name), shared)
            retriever = opened[name]
            tick = self._counter("rank", len(read_examples(f.path)))
            predict_file(retriever, f.path, out, depth, progress=tick)
        return round(time.perf_counter() - clock, 2)

    def _train_files(self, cell: CellSpec) -> list[TaskFile]:
        files = find_task_files(self.spec.data_dir, "train")
        wanted = (cell.train or {}).get("tasks") or [f.task for f in files]
        return [f for f in files if f.task in wanted and f.task not in cell.exclude_tasks]

    def _train(self, cell: CellSpec, shared: Shared, examples: str) -> tuple[Path, dict[str, Any]]:
        from uniret.training.config import TrainConfig
        from uniret.training.trainer import train

        data = train_settings(self.spec, cell)
        data.update(
            data_dir=str(self.spec.data_dir),
            index=str(self._trained_over(cell, shared)),
            bm25_index=str(shared.bm25),
            tasks=[f.task for f in self._train_files(cell)],
        )
        data.setdefault("model", self.spec.base_model)
        if examples:
            data["examples"] = examples
        if cell.init:
            data["init"] = str(self._model_of(self.spec.cell(cell.init)))
        if cell.teachers:
            data["teachers"] = {
                task: str(self._model_of(self.spec.cell(name)))
                for task, name in cell.teachers.items()
            }
        if cell.distill_from:
            data["distill"] = str(self.cell_dir(cell) / TEACHER_DIR)
        config = build_config(TrainConfig, data, {}, f"cell {cell.name}")
        if not examples and (shared_negatives := self._bm25_negatives(config, shared)):
            config = dataclasses.replace(config, examples=shared_negatives)
        out = self.cell_dir(cell) / "model"
        progress = lambda info: self.on_event("train", {"cell": cell.name, **info})  # noqa: E731
        result = train(config, out, resume=True, progress=progress)
        log = read_json(out / "train_log.json")
        summary = {
            "config": {
                k: v
                for k, v in config_to_dict(config).items()
                if k not in RUN_PATHS and not (k == "distill" and cell.distill_from)
            },
            "tasks": list(config.tasks),
            "steps": result.steps,
            "seconds": log["seconds"],
            "examples_per_s": log["examples_per_s"],
            "device": log["device"],
        }
        return out, summary

    def _bm25_negatives(self, config: TrainConfig, shared: Shared) -> str:
        """The train examples with BM25 negatives mined as ``config`` would mine them, made once
        per work folder and mining setting and shared by every cell that would mine them again
        (the trainer keeps the examples of its own tasks); "" when ``config`` mines none."""
        from uniret.corpus.store import PassageStore
        from uniret.training.data import build_examples, save_examples
        from uniret.training.setup import bm25_mining, mine_bm25, mines_bm25

        if not mines_bm25(config) or config.examples_per_task:
            return ""
        files = find_task_files(self.spec.data_dir, "train")
        key = cache_key(
            {
                "mining": asdict(bm25_mining(config)),
                "bm25": read_json(shared.bm25.parent / f".{shared.bm25.name}.{STEP_FILE}"),
                "files": [file_digest(f.path) for f in files],
            }
        )
        out = self.work / "shared" / "bm25-negatives" / f"{key}.jsonl"
        if not out.is_file():
            store = PassageStore(shared.passages)
            examples = build_examples([f.path for f in files], store)
            tick = self._counter("mine", len(examples))
            save_examples(out, mine_bm25(examples, store, config, tick))
        return str(out)

    def _interpolate(self, cell: CellSpec, source: Path) -> Path:
        """``source`` with ``cell.base_weight`` of the base model's weights mixed back in."""
        from uniret.models.biencoder import BiEncoder
        from uniret.models.merge import interpolate_with_base

        def make() -> BiEncoder:
            base = BiEncoder.from_pretrained(self.spec.base_model).passage_encoder
            return interpolate_with_base(
                BiEncoder.from_pretrained(str(source)), base, cell.base_weight
            )

        return self._made_model(cell, make)

    def _average(self, cell: CellSpec) -> Path:
        """The weight-by-weight mean of the models of ``cell.average``'s cells."""
        from uniret.models.biencoder import BiEncoder
        from uniret.models.merge import average_models

        sources = [self._model_of(self.spec.cell(name)) for name in cell.average]
        return self._made_model(
            cell, lambda: average_models([BiEncoder.from_pretrained(str(s)) for s in sources])
        )

    def _made_model(self, cell: CellSpec, make: Callable[[], BiEncoder]) -> Path:
        """``cell``'s model folder, written once (atomically) from ``make()`` unless it holds
        weights already (a rerun after the re-encode was killed)."""
        out = self.cell_dir(cell) / "model"
        if not _has_weights(out):
            with atomic_path(out) as tmp:
                make().save(tmp)
        return out

    def _encode(self, cell: CellSpec, shared: Shared, model_dir: Path) -> Path:
        from uniret.corpus.store import PassageStore
        from uniret.index.dense import build_dense_index
        from uniret.index.encode import encode_shard

        folder = self.cell_dir(cell)
        if (folder / "index").is_dir():
            return folder / "index"
        store = PassageStore(shared.passages)
        encode_shard(  # on the experiment's backend, like the base index and the queries
            corpus_encoder(str(model_dir), store, self.backend, self.device),
            str(model_dir),
            store,
            folder / "emb",
            progress=self._counter("encode", len(store)),
        )
        return build_dense_index(folder / "emb", folder / "index")

    def _map(self, cell: CellSpec, trained_over: Path, model_dir: Path) -> Path:
        """The cell's own index: ``trained_over``'s vectors mapped by the model's passage
        adapter (a query-side cell with ``passage_adapter``)."""
        from uniret.index.dense import map_dense_index

        folder = self.cell_dir(cell)
        if (folder / "index").is_dir():
            return folder / "index"
        return map_dense_index(trained_over, model_dir, folder / "index")

    def _bundle(
        self, cell: CellSpec, shared: Shared, index: Path, model: Path | None
    ) -> RetrieverBundle:
        """The cell's retriever as a bundle; kept in ``OUT/retrievers/NAME.json`` when the
        cell's model weights are kept (``uniret retrieve --retriever`` opens it)."""
        name = str(model) if model else None
        if cell.system is System.BM25:
            return RetrieverBundle(cell.name, (str(shared.bm25),))
        if cell.system is System.HYBRID:
            return RetrieverBundle(
                cell.name, (str(shared.bm25), str(index)), model=name, fusion=cell.fusion_config()
            )
        return RetrieverBundle(cell.name, (str(index),), model=name)

    def _evaluate(self, cell: CellSpec, retriever: Any) -> dict[str, Any]:
        from uniret.retrieval.predict import predict_file

        files = find_task_files(self.spec.data_dir, self.spec.split)
        if cell.eval_tasks:
            files = [f for f in files if f.task in cell.eval_tasks]
            if not files:
                raise FileNotFoundError(
                    f"cell {cell.name!r}: no {self.spec.split} files for {list(cell.eval_tasks)}"
                )
        results: dict[str, Any] = {}
        config = EvalConfig(ks=self.spec.ks)
        for f in files:
            pred = self.cell_dir(cell) / "pred" / f.name
            predict_file(retriever, f.path, pred, self.spec.k)
            report = evaluate_file(f.path, pred, config)
            results[f.task] = {
                "queries": report.queries,
                "metrics": {k: round(v, 6) for k, v in report.metrics.items()},
                "per_query": {m: [round(x, 4) for x in report.per_query[m]] for m in PER_QUERY},
            }
        return results

    def _tidy(self, cell: CellSpec, folder: Path) -> None:
        """Drop what nobody reads again: training checkpoints, embeddings once indexed, teacher
        rankings once trained on (passage texts included: tens of MB a cell), and the weights of
        a model no other cell builds on."""
        for junk in (folder / "model" / "checkpoint", folder / "emb", folder / TEACHER_DIR):
            if junk.is_dir():
                shutil.rmtree(junk)
        if cell.name not in self.keeps_model and not (folder / "index").is_dir():
            model = folder / "model"
            for item in ("passage", "query"):
                if (model / item).is_dir():
                    shutil.rmtree(model / item)

    # ------------------------------------------------------------------ results
    def results(self) -> dict[str, Any]:
        """Every current cell record of the experiment, with the run's context."""
        cells = {}
        for cell in self.spec.cells:
            record = self.record(cell)
            if record is not None:
                cells[cell.name] = record
        return {
            "experiment": self.spec.name,
            "file": str(self.spec.path),
            "data_dir": str(self.spec.data_dir),
            "data": self.data(),
            "split": self.spec.split,
            "bootstrap": self.spec.bootstrap,
            "report": self.spec.report,
            "cells_declared": [c.name for c in self.spec.cells],
            "opt_in": list(self.spec.opt_in),
            "cells": cells,
        }

    def write_results(self) -> dict[str, Any]:
        results = self.results()
        write_results(self.work / RESULTS_FILE, results)
        return results


def write_results(path: str | Path, results: dict[str, Any]) -> None:
    """results.json with one line per cell (per-query lists make pretty-printing unreadable)."""
    head = {k: v for k, v in results.items() if k != "cells"}
    lines = [json.dumps(head, indent=2)[:-2] + ',\n  "cells": {']
    body = [f"    {json.dumps(n)}: {json.dumps(r)}" for n, r in results["cells"].items()]
    text = lines[0] + ("\n" + ",\n".join(body) + "\n  }\n}\n" if body else "}\n}\n")
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _has_weights(model_dir: Path) -> bool:
    """Whether a cell's model folder still holds its weights (``BiEncoder.save`` writes the
    ``passage`` tower's folder; ``Runner._tidy`` drops it from models no cell builds on)."""
    return (model_dir / "passage").is_dir()
