"""The training loop: one process or torchrun DDP, query-side or full, resumable exactly.

``out_dir`` layout: the exported model (loadable wherever a model path is accepted),
``train_config.toml`` (resolved config), ``train_log.json`` (losses, evaluations, timings),
``train-examples.jsonl`` (queries, positives, negatives; reused), ``checkpoint/`` (latest:
model + optimizer in safetensors, trainer state in JSON) and ``best/`` (best dev model).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file, load_model, save_file, save_model

from uniret.config import config_to_dict, to_toml
from uniret.corpus.store import PassageStore
from uniret.errors import ArtifactError, InputError, UniretError
from uniret.evaluation.metrics import dedupe, r_precision
from uniret.io import atomic_path, read_json, write_json
from uniret.models.biencoder import BiEncoder, BiEncoderConfig, QueryMode
from uniret.retrieval.base import read_index_meta
from uniret.tasks.kilt import TaskFile, find_task_files, read_examples
from uniret.tasks.registry import QueryFormat, format_query, get_task
from uniret.training.config import QuerySideLoss, TrainConfig, TrainMode
from uniret.training.data import (
    MiningConfig,
    TrainExample,
    build_examples,
    load_examples,
    mine_negatives,
    save_examples,
    subsample,
)
from uniret.training.loss import gather, in_batch_softmax_loss
from uniret.training.sampler import SamplerConfig, epoch_batches
from uniret.types import Example

logger = logging.getLogger(__name__)

EXAMPLES_FILE = "train-examples.jsonl"
CHECKPOINT = "checkpoint"


@dataclass
class TrainResult:
    """What a run did."""

    out_dir: Path
    steps: int
    examples_seen: int
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)
    best: float | None = None

    @property
    def examples_per_second(self) -> float:
        return self.examples_seen / self.seconds if self.seconds else 0.0


def _dist() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _examples_source(config: TrainConfig) -> str:
    """Where the training examples of ``config`` come from, for error messages."""
    return config.examples or f"{config.data_dir}/*-train-kilt.jsonl"


def _barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


class Trainer:
    """Holds the model, data and optimizer of one run."""

    def __init__(self, config: TrainConfig, out_dir: str | Path) -> None:
        self.config = config
        self.out = Path(out_dir)
        self.rank, self.world = _dist()
        if config.device:
            self.device = torch.device(config.device)
        elif torch.cuda.is_available():
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        else:
            self.device = torch.device("cpu")
        torch.manual_seed(config.seed)
        self.task_files = self._task_files("train")
        self.tasks = sorted({get_task(f.task).name for f in self.task_files})
        self.store, self.passage_matrix, base_name = self._passages()
        self.model = self._model(base_name)
        self.examples = self._examples()
        if config.examples:  # a given file: draw the low-data subset from it
            self.examples = subsample(self.examples, config.examples_per_task, config.seed)
        if not self.examples:
            raise InputError(
                _examples_source(config),
                None,
                None,
                "no training example has a gold passage in the corpus "
                f"({self.store.directory}); check that the passages come from the same "
                "knowledge source as the task files",
            )
        self.task_of = [e.task for e in self.examples]
        params = [p for p in self.model.parameters() if p.requires_grad]
        if config.optimizer == "sgd":
            self.optimizer: torch.optim.Optimizer = torch.optim.SGD(
                params, lr=config.lr, weight_decay=config.weight_decay
            )
        else:
            # the fused kernel (CPU and CUDA) is ~10x faster per step than the per-tensor loop
            self.optimizer = torch.optim.AdamW(
                params,
                lr=config.lr,
                weight_decay=config.weight_decay,
                fused=self.device.type in ("cpu", "cuda"),
            )
        self.sampler = SamplerConfig(
            config.batch_size, config.sampling, config.temperature, config.seed
        )
        self.batches_per_epoch = len(epoch_batches(self.task_of, self.sampler, 0))
        steps = config.epochs * math.ceil(self.batches_per_epoch / config.grad_accum)
        self.total_steps = min(steps, config.max_steps) if config.max_steps else steps
        warmup = int(self.total_steps * config.warmup_ratio)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda s: (
                (s + 1) / max(1, warmup)
                if s < warmup
                else max(0.0, (self.total_steps - s) / max(1, self.total_steps - warmup))
            ),
        )
        self._dev: list[tuple[str, list[Example]]] | None = None
        self.state: dict[str, Any] = {
            "step": 0,
            "epoch": 0,
            "batch": 0,
            "best": None,
            "history": [],
            "examples_seen": 0,
            "seconds": 0.0,
        }

    # ------------------------------------------------------------------ setup
    def _task_files(self, split: str) -> list[TaskFile]:
        files = find_task_files(self.config.data_dir, split)
        if self.config.tasks:
            files = [f for f in files if f.task in self.config.tasks]
            missing = set(self.config.tasks) - {f.task for f in files}
            if missing:
                raise FileNotFoundError(
                    f"no {split} file for tasks {sorted(missing)} in {self.config.data_dir}"
                )
        if not files and split == "train":
            raise FileNotFoundError(f"no *-train-kilt.jsonl files in {self.config.data_dir}")
        return files

    def _passages(self) -> tuple[PassageStore, torch.Tensor | None, str]:
        cfg = self.config
        if cfg.index:
            meta = read_index_meta(cfg.index, "dense")
            from uniret.retrieval.base import open_passages

            store = open_passages(cfg.index, meta, cfg.passages or None)
            base = meta["encoder"]["model"] if cfg.mode is TrainMode.QUERY_SIDE else cfg.model
            matrix = None
            if cfg.mode is TrainMode.QUERY_SIDE:
                from uniret.index.faiss_index import IndexConfig, load_faiss

                index = load_faiss(cfg.index, IndexConfig.from_dict(meta["faiss"]))
                matrix = torch.from_numpy(index.reconstruct_n(0, index.ntotal)).to(self.device)
            return store, matrix, base
        if not cfg.passages:
            raise ValueError("full mode needs `passages` (a passage store) or `index`")
        return PassageStore(cfg.passages), None, cfg.model

    def _model(self, base_name: str) -> BiEncoder:
        cfg = self.config
        bi_cfg = BiEncoderConfig(
            query_max_length=cfg.query_max_length,
            passage_max_length=cfg.passage_max_length,
            mode=cfg.query_mode,
            tasks=tuple(self.tasks) if cfg.query_mode is QueryMode.PER_TASK else (),
        )
        if cfg.mode is TrainMode.QUERY_SIDE:
            meta = read_index_meta(cfg.index, "dense")["encoder"]
            stored = BiEncoderConfig.from_dict(meta["biencoder"])
            bi_cfg = BiEncoderConfig(
                query_max_length=cfg.query_max_length,
                passage_max_length=stored.passage_max_length,
                passage_template=stored.passage_template,
                mode=cfg.query_mode,
                tasks=bi_cfg.tasks,
            )
            base = BiEncoder.from_pretrained(
                base_name, pooling=meta["pooling"], normalize=meta["normalize"]
            )
            model = BiEncoder(base.passage_encoder, bi_cfg)
            model.passage_encoder.requires_grad_(False)
        else:
            base = BiEncoder.from_pretrained(base_name)
            template = base.config.passage_template  # the model's own convention, resolved at load
            model = BiEncoder(
                base.passage_encoder, dataclasses.replace(bi_cfg, passage_template=template)
            )
        if cfg.init:
            start_from(model, BiEncoder.from_pretrained(cfg.init), cfg.mode is TrainMode.FULL)
        return model.to(self.device)

    def _examples(self) -> list[TrainExample]:
        cfg = self.config
        if cfg.examples:
            return load_examples(cfg.examples)
        path = self.out / EXAMPLES_FILE
        if self.rank == 0 and not path.exists():
            examples = build_examples(
                [f.path for f in self.task_files],
                self.store,
                per_file=cfg.examples_per_task,
                seed=cfg.seed,
            )
            sampled = cfg.mode is TrainMode.FULL or cfg.query_side_loss is QuerySideLoss.SAMPLED
            wants_negatives = sampled and cfg.hard_negatives > 0
            if wants_negatives and cfg.bm25_index:
                from uniret.retrieval.sparse import BM25Retriever

                bm25 = BM25Retriever.load(cfg.bm25_index, self.store.directory)
                mining = MiningConfig(count=cfg.mine_count, rank_to=cfg.mine_depth)
                examples = mine_negatives(examples, bm25, mining)
            self.out.mkdir(parents=True, exist_ok=True)
            save_examples(path, examples)
        _barrier(self.world)
        return load_examples(path)

    # ------------------------------------------------------------------ steps
    def _query_vectors(self, batch: list[TrainExample]) -> torch.Tensor:
        task = batch[0].task
        encoder = self.model.query_encoder(task)
        sep = f" {encoder.sep} "
        texts = [e.query.replace(QueryFormat().sep, sep) for e in batch]
        tokens = encoder.tokenize(texts, self.config.query_max_length)
        return encoder(**{k: v.to(self.device) for k, v in tokens.items()})

    def _loss(self, batch: list[TrainExample], epoch: int, step: int) -> torch.Tensor:
        q = self._query_vectors(batch)
        cfg = self.config
        if cfg.mode is TrainMode.QUERY_SIDE and cfg.query_side_loss is QuerySideLoss.CORPUS:
            assert self.passage_matrix is not None
            scores = cfg.scale * q @ self.passage_matrix.T
            positive = torch.full_like(scores, float("-inf"))
            for i, ex in enumerate(batch):
                idx = torch.tensor(ex.positives, device=scores.device)
                positive[i, idx] = scores[i, idx]
            loss = (torch.logsumexp(scores, -1) - torch.logsumexp(positive, -1)).mean()
        else:
            ids = self._batch_passages(batch, epoch, step)
            if self.passage_matrix is not None:  # query side, sampled softmax
                p_rows = self.passage_matrix[torch.tensor(ids, device=self.passage_matrix.device)]
                targets = torch.arange(len(batch), device=q.device)
                loss = in_batch_softmax_loss(q, p_rows, targets, cfg.scale)
                return loss * cfg.task_weights.get(batch[0].task, 1.0)
            passages = self.store.get_many(ids)
            texts = self.model.passage_texts(
                [p.title for p in passages], [p.text for p in passages]
            )
            enc = self.model.passage_encoder
            tokens = enc.tokenize(texts, cfg.passage_max_length)
            p = enc(**{k: v.to(self.device) for k, v in tokens.items()})
            p_all = gather(p)  # local queries score against every rank's passages
            offset = self.rank * len(p)
            targets = torch.arange(len(batch), device=q.device) + offset
            loss = in_batch_softmax_loss(q, p_all, targets, cfg.scale)
        return loss * cfg.task_weights.get(batch[0].task, 1.0)

    def _batch_passages(self, batch: list[TrainExample], epoch: int, step: int) -> list[int]:
        """Each query's first positive, then ``hard_negatives`` of its negatives per query
        (random passages fill in where it has too few)."""
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, epoch, step, self.rank])
        ids = [e.positives[0] for e in batch]
        for e in batch:
            pool = list(e.negatives)
            picks = [pool[i] for i in rng.permutation(len(pool))[: cfg.hard_negatives]]
            while len(picks) < cfg.hard_negatives:
                picks.append(int(rng.integers(len(self.store))))
            ids += picks
        return ids

    def _local(self, batch: list[int]) -> list[int]:
        """This rank's slice of a global batch (trimmed so every rank gets the same size)."""
        per = len(batch) // self.world
        return batch[self.rank * per : (self.rank + 1) * per]

    def _sync_grads(self) -> None:
        if self.world == 1:
            return
        for p in self.model.parameters():
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= self.world

    # ------------------------------------------------------------------ run
    def run(
        self,
        *,
        resume: bool = False,
        progress: Callable[[dict[str, Any]], None] | None = None,
        stop_after_steps: int | None = None,
    ) -> TrainResult:
        """Train to the end (or ``stop_after_steps`` optimizer steps, then checkpoint and stop)."""
        cfg = self.config
        if self.rank == 0 and self.out.is_dir():  # checkpoint writes a kill cut short
            for stale in self.out.glob(f".{CHECKPOINT}.*.tmp"):
                shutil.rmtree(stale, ignore_errors=True)
        if resume and (self.out / CHECKPOINT / "state.json").is_file():
            self._load_checkpoint()
            logger.info(
                "resumed at step %d (epoch %d, batch %d)",
                self.state["step"],
                self.state["epoch"],
                self.state["batch"],
            )
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "train_config.toml").write_text(to_toml(config_to_dict(cfg)))
        self.model.train()
        if cfg.mode is TrainMode.QUERY_SIDE:
            self.model.passage_encoder.eval()
        started = time.perf_counter() - self.state["seconds"]
        steps_this_call = 0
        accum = 0
        running: list[float] = []
        done = self.state["step"] >= self.total_steps
        for epoch in range(self.state["epoch"], cfg.epochs):
            if done:
                break
            batches = epoch_batches(self.task_of, self.sampler, epoch)
            for b in range(
                self.state["batch"] if epoch == self.state["epoch"] else 0, len(batches)
            ):
                local = self._local(batches[b])
                if not local:
                    continue
                examples = [self.examples[i] for i in local]
                loss = self._loss(examples, epoch, b) / cfg.grad_accum
                loss.backward()
                running.append(loss.item() * cfg.grad_accum)
                accum += 1
                self.state["examples_seen"] += len(local) * self.world
                self.state["epoch"], self.state["batch"] = epoch, b + 1
                if accum < cfg.grad_accum and b + 1 < len(batches):
                    continue
                accum = 0
                self._sync_grads()
                params = [p for p in self.model.parameters() if p.requires_grad]
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.state["step"] += 1
                steps_this_call += 1
                self.state["seconds"] = time.perf_counter() - started
                record = {
                    "step": self.state["step"],
                    "epoch": epoch,
                    "loss": float(np.mean(running)),
                    "lr": self.scheduler.get_last_lr()[0],
                }
                running = []
                if cfg.eval_every and self.state["step"] % cfg.eval_every == 0:
                    record["dev_rprec"] = self._evaluate_and_keep_best()
                self.state["history"].append(record)
                if progress is not None:
                    progress(
                        {
                            **record,
                            "total": self.total_steps,
                            "examples_per_s": self.state["examples_seen"]
                            / max(self.state["seconds"], 1e-9),
                        }
                    )
                finished = self.state["step"] >= self.total_steps
                stopping = stop_after_steps is not None and steps_this_call >= stop_after_steps
                if self.state["step"] % cfg.checkpoint_every == 0 or stopping or finished:
                    self._save_checkpoint()
                if stopping and not finished:
                    return self._result()
                if finished:
                    done = True
                    break
            else:
                self.state["epoch"], self.state["batch"] = epoch + 1, 0
        if cfg.eval_every and self.state["step"] % cfg.eval_every != 0:
            self.state["history"].append(
                {"step": self.state["step"], "dev_rprec": self._evaluate_and_keep_best()}
            )
        self.state["seconds"] = time.perf_counter() - started
        self._export()
        return self._result()

    def _result(self) -> TrainResult:
        return TrainResult(
            self.out,
            self.state["step"],
            self.state["examples_seen"],
            self.state["seconds"],
            self.state["history"],
            self.state["best"],
        )

    # ------------------------------------------------------------------ evaluation
    def _evaluate_and_keep_best(self) -> float | None:
        """Macro dev R-precision on the first ``eval_queries`` dev queries of each task."""
        if self.passage_matrix is None:
            logger.warning(
                "dev evaluation needs the frozen corpus vectors (query_side mode); skipped"
            )
            return None
        score = evaluate_query_side(
            self.model,
            self.passage_matrix,
            self.store,
            self._dev_examples(),
        )
        if self.rank == 0 and (self.state["best"] is None or score > self.state["best"]):
            self.state["best"] = score
            with atomic_path(self.out / "best") as tmp:
                self.model.save(tmp)
        self.model.train()
        self.model.passage_encoder.eval()
        return score

    def _dev_examples(self) -> list[tuple[str, list[Example]]]:
        """The dev subset, read once per run."""
        if self._dev is None:
            n = self.config.eval_queries
            self._dev = [(tf.task, read_examples(tf.path)[:n]) for tf in self._task_files("dev")]
        return self._dev

    # ------------------------------------------------------------------ checkpoints
    def _save_checkpoint(self) -> None:
        if self.rank != 0:
            return
        with atomic_path(self.out / CHECKPOINT) as tmp:
            tmp.mkdir(parents=True)
            save_model(self.model, str(tmp / "model.safetensors"))
            tensors, groups = _flatten_optimizer(self.optimizer)
            tensors["rng.torch"] = torch.get_rng_state()
            save_file(tensors, str(tmp / "optimizer.safetensors"))
            write_json(
                tmp / "state.json",
                {**self.state, "param_groups": groups, "config": config_to_dict(self.config)},
            )

    def _load_checkpoint(self) -> None:
        folder = self.out / CHECKPOINT
        state = read_json(folder / "state.json")
        if state["config"] != config_to_dict(self.config):
            changed = [
                k for k, v in config_to_dict(self.config).items() if state["config"].get(k) != v
            ]
            raise UniretError(
                f"{folder}: the checkpoint was made with another config (differs in "
                f"{', '.join(changed)}); resume with the same config, or start over with "
                "--overwrite or in a new --out"
            )
        load_model(self.model, str(folder / "model.safetensors"), device=str(self.device))
        tensors = load_file(str(folder / "optimizer.safetensors"))
        torch.set_rng_state(tensors.pop("rng.torch"))
        _restore_optimizer(self.optimizer, tensors, state.pop("param_groups"), self.device)
        state.pop("config")
        self.state = state
        self.scheduler.last_epoch = state["step"]
        for group, base, fn in zip(
            self.optimizer.param_groups,
            self.scheduler.base_lrs,
            self.scheduler.lr_lambdas,
            strict=True,
        ):
            group["lr"] = base * fn(state["step"])

    def _export(self) -> None:
        if self.rank != 0:
            return
        write_json(
            self.out / "train_log.json",
            {
                "steps": self.state["step"],
                "examples_seen": self.state["examples_seen"],
                "seconds": round(self.state["seconds"], 2),
                "examples_per_s": round(
                    self.state["examples_seen"] / max(self.state["seconds"], 1e-9), 2
                ),
                "best_dev_rprec": self.state["best"],
                "history": self.state["history"],
                "world_size": self.world,
                "device": str(self.device),
            },
        )
        best = self.out / "best"
        if self.config.eval_every and best.is_dir():
            for item in best.iterdir():
                target = self.out / item.name
                if target.is_dir():
                    shutil.rmtree(target)
                shutil.copytree(item, target) if item.is_dir() else shutil.copy2(item, target)
        else:
            self.model.save(self.out)


def start_from(model: BiEncoder, trained: BiEncoder, passage_too: bool) -> None:
    """Copy a trained model's query tower(s) (and its passage tower when ``passage_too``)
    into ``model``. A single trained query tower seeds every query tower of ``model``; per-task
    towers are matched by task name."""
    sources = trained.query_encoders if len(trained.query_encoders) else None
    for name, encoder in model.query_encoders.items():
        if sources is None:
            source = trained.passage_encoder  # shared model: one tower does both
        elif name in sources:
            source = sources[name]
        elif len(sources) == 1:
            source = next(iter(sources.values()))
        else:
            raise ArtifactError(
                f"the model to start from has per-task query encoders {sorted(sources)}, "
                f"none for {name!r}"
            )
        encoder.load_state_dict(source.state_dict())
    if passage_too:
        model.passage_encoder.load_state_dict(trained.passage_encoder.state_dict())


def _flatten_optimizer(
    optimizer: torch.optim.Optimizer,
) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    sd = optimizer.state_dict()
    tensors = {}
    for idx, values in sd["state"].items():
        for key, value in values.items():
            tensors[f"state.{idx}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return {k: v.contiguous().cpu() for k, v in tensors.items()}, sd["param_groups"]


def _restore_optimizer(
    optimizer: torch.optim.Optimizer,
    tensors: dict[str, torch.Tensor],
    groups: list[dict[str, Any]],
    device: torch.device,
) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = value if key == "step" else value.to(device)
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def evaluate_query_side(
    model: BiEncoder,
    passage_matrix: torch.Tensor,
    store: PassageStore,
    dev: list[tuple[str, list[Example]]],
    k: int = 100,
) -> float:
    """Macro page-level R-precision of ``model``'s query side against fixed passage vectors;
    ``dev`` pairs each task name with its (subset of) dev examples."""
    wid = store.wikipedia_ids
    scores = []
    for task_name, examples in dev:
        spec = get_task(task_name)
        if not examples:
            continue
        queries = [
            format_query(e.input, spec, QueryFormat(sep=model.query_sep(spec.name)))
            for e in examples
        ]
        task = spec.name if model.config.mode is QueryMode.PER_TASK else None
        if task is not None and task not in model.query_encoders:
            continue
        q = torch.from_numpy(model.embed_queries(queries, task)).to(passage_matrix.device)
        top = (
            torch.topk(q @ passage_matrix.T, k=min(k, passage_matrix.shape[0]), dim=-1)
            .indices.cpu()
            .numpy()
        )
        values = []
        for example, ids in zip(examples, top, strict=True):
            guess = dedupe([str(wid[i]) for i in ids])
            gold = [[p.wikipedia_id for p in o.provenance] for o in example.outputs if o.provenance]
            values.append(r_precision(guess, gold))
        scores.append(float(np.mean(values)))
    return float(np.mean(scores)) if scores else 0.0


def train(config: TrainConfig, out_dir: str | Path, **kwargs: Any) -> TrainResult:
    """Build a Trainer and run it (``resume``, ``progress``, ``stop_after_steps`` pass through)."""
    return Trainer(config, out_dir).run(**kwargs)
