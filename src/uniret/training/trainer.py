"""The training loop: one process or torchrun DDP, query-side or full, resumable exactly.

The trainer only loops and checkpoints; what it starts from comes from
:mod:`uniret.training.setup`, the losses from :mod:`uniret.training.loss`, checkpoints and
optimizers from :mod:`uniret.training.checkpoint`, process-group helpers from
:mod:`uniret.training.distributed` and dev scores from :mod:`uniret.evaluation`.

``out_dir`` layout: the exported model (loadable wherever a model path is accepted),
``train_config.toml`` (resolved config), ``train_log.json`` (losses, evaluations, timings),
``train-examples.jsonl`` (queries, positives, negatives; reused), ``checkpoint/`` (latest:
model + optimizer in safetensors, trainer state in JSON) and ``best/`` (best dev model).
"""

from __future__ import annotations

import copy
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from uniret.config import config_to_dict, to_toml
from uniret.errors import InputError
from uniret.evaluation.evaluate import EvalConfig, score_rankings
from uniret.evaluation.tables import macro_mean
from uniret.io import atomic_path, write_json
from uniret.models.biencoder import BiEncoder
from uniret.models.encoder import ModelError
from uniret.tasks.kilt import read_examples
from uniret.training.checkpoint import (
    CHECKPOINT,
    STATE_FILE,
    load_checkpoint,
    make_optimizer,
    make_scheduler,
    save_checkpoint,
    total_steps,
)
from uniret.training.config import QuerySideLoss, TrainConfig, TrainMode
from uniret.training.data import TrainExample
from uniret.training.distributed import (
    average_gradients,
    gather,
    init_distributed,
    local_slice,
    pick_device,
)
from uniret.training.loss import (
    ApproxCorpusSoftmaxLoss,
    CorpusSoftmaxLoss,
    DistillationLoss,
    InBatchSoftmaxLoss,
    Reference,
    page_siblings,
)
from uniret.training.sampler import SamplerConfig, epoch_batches
from uniret.training.setup import EXAMPLES_FILE, prepare, task_files
from uniret.training.teacher import coverage, load_teacher
from uniret.types import Example

logger = logging.getLogger(__name__)

__all__ = ["CHECKPOINT", "EXAMPLES_FILE", "TrainResult", "Trainer", "train"]


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


class Trainer:
    """Holds the model, data, loss and optimizer of one run."""

    def __init__(self, config: TrainConfig, out_dir: str | Path) -> None:
        self.config = config
        self.out = Path(out_dir)
        self.rank, self.world = init_distributed()
        self.device = pick_device(config.device)
        torch.manual_seed(config.seed)
        self.teachers = self._load_teachers()  # before any mining: a bad path fails first
        inputs = prepare(config, self.out, self.device, self.rank, self.world)
        self.tasks, self.store = inputs.tasks, inputs.store
        self.passage_matrix, self.model = inputs.passage_matrix, inputs.model
        self.index = inputs.index
        self.examples = inputs.examples
        self.task_of = [e.task for e in self.examples]
        # a passage adapter trained by this run (one the index's model had stays frozen)
        self.adapter = self.model.passage_adapter if config.passage_adapter else None
        self.loss = self._make_loss()
        adapted = {id(p) for p in self.adapter.parameters()} if self.adapter else set()
        params = [p for p in self.model.parameters() if p.requires_grad and id(p) not in adapted]
        self.optimizer = make_optimizer(params, config, self.device)
        if self.adapter is not None:
            self.optimizer.add_param_group(
                {
                    "params": list(self.adapter.parameters()),
                    "lr": config.adapter_lr,
                    "weight_decay": 0.0,
                }
            )
        self.sampler = SamplerConfig(
            config.batch_size, config.sampling, config.temperature, config.seed
        )
        self.total_steps = total_steps(config, len(epoch_batches(self.task_of, self.sampler, 0)))
        self.scheduler = make_scheduler(self.optimizer, self.total_steps, config.warmup_ratio)
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

    # ------------------------------------------------------------------ loss
    def _make_loss(self) -> nn.Module:
        loss = self._contrastive_loss()
        cfg = self.config
        if not cfg.distill:
            return loss
        teacher = load_teacher(cfg.distill, cfg.distill_depth)
        share = coverage(teacher, [e.id for e in self.examples])
        logger.info("teacher %s covers %.1f%% of the training queries", cfg.distill, 100 * share)
        if share == 0:
            raise InputError(cfg.distill, None, "id", "no query id matches a training example's id")
        if self.passage_matrix is not None:
            matrix, adapter = self.passage_matrix, self.adapter

            def rows(ids: np.ndarray) -> torch.Tensor:
                found = matrix[torch.from_numpy(ids).to(matrix.device)]
                return found if adapter is None else adapter(found)

        elif cfg.mode is TrainMode.FULL:  # encoded by the trained tower: the passages learn too

            def rows(ids: np.ndarray) -> torch.Tensor:
                return self._passage_vectors(self.model, ids.tolist())

        else:  # the approximate corpus softmax: rows read from the index
            assert self.index is not None
            read = self.index.vector_rows()

            def rows(ids: np.ndarray) -> torch.Tensor:
                return torch.from_numpy(read(ids))

        return DistillationLoss(
            loss, teacher, rows, cfg.distill_weight, cfg.distill_temperature, cfg.scale
        )

    def _contrastive_loss(self) -> nn.Module:
        cfg = self.config
        if self.passage_matrix is not None and cfg.query_side_loss is QuerySideLoss.CORPUS:
            siblings = page_siblings(self.store.wikipedia_ids) if cfg.sibling_mask else None
            return CorpusSoftmaxLoss(self.passage_matrix, cfg.scale, siblings, self.adapter)
        if cfg.mode is TrainMode.QUERY_SIDE and cfg.query_side_loss is QuerySideLoss.APPROX:
            assert self.index is not None
            corpus = self.index.faiss
            return ApproxCorpusSoftmaxLoss(
                lambda queries, k: corpus.search(queries, k)[1],
                self.index.vector_rows(),
                len(self.store),
                cfg.approx_candidates,
                cfg.approx_samples,
                cfg.scale,
                cfg.seed,
                self.rank,
            )
        matrix = self.passage_matrix
        if matrix is not None:  # query side, sampled softmax over frozen rows (not gathered)

            def vectors(ids: list[int]) -> tuple[torch.Tensor, int]:
                return matrix[torch.tensor(ids, device=matrix.device)], 0

        else:  # full mode: encoded by the trained tower, negatives global across ranks

            def vectors(ids: list[int]) -> tuple[torch.Tensor, int]:
                local = self._passage_vectors(self.model, ids)
                return gather(local), self.rank * len(local)

        return InBatchSoftmaxLoss(
            vectors,
            len(self.store),
            cfg.hard_negatives,
            cfg.scale,
            cfg.seed,
            self.rank,
            random_positive=cfg.positive == "random",
            page_of=self._page_of if cfg.mask_gold_pages else None,
            anchor=self._anchor(),
            anchor_weight=cfg.anchor_weight,
            teacher=self._teacher(),
            teacher_weight=cfg.teacher_weight,
        )

    def _anchor(self) -> Reference | None:
        """A frozen copy of the starting model (before any checkpoint is resumed), giving
        its vectors of a batch's queries and passages; None without ``anchor_weight``."""
        if not self.config.anchor_weight:
            return None
        reference = copy.deepcopy(self.model).eval().requires_grad_(False)
        return lambda batch, ids: self._frozen_vectors(reference, batch, ids)

    def _load_teachers(self) -> dict[str, BiEncoder]:
        """The config's ``teachers``, one frozen model per task (none without a weight)."""
        teachers: dict[str, BiEncoder] = {}
        if not self.config.teacher_weight:
            return teachers
        for task, source in sorted(self.config.teachers.items()):
            try:
                model = BiEncoder.from_pretrained(source)
            except (ModelError, OSError, ValueError) as exc:
                raise InputError(source, None, f"teachers.{task}", str(exc)) from exc
            teachers[task] = model.to(self.device).eval().requires_grad_(False)
            logger.info("teacher of %s: %s", task, source)
        return teachers

    def _teacher(self) -> Reference | None:
        """The vectors of a batch's queries and passages by the teacher of its task (None for
        a task without one); None without teachers."""
        teachers = self.teachers
        if not teachers:
            return None

        def vectors(
            batch: Sequence[TrainExample], ids: list[int]
        ) -> tuple[torch.Tensor, torch.Tensor] | None:
            teacher = teachers.get(batch[0].task)
            return None if teacher is None else self._frozen_vectors(teacher, batch, ids)

        return vectors

    def _frozen_vectors(
        self, model: BiEncoder, batch: Sequence[TrainExample], ids: list[int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A frozen ``model``'s vectors of a batch's queries and of the global batch's passages
        (the :data:`~uniret.training.loss.Reference` of the anchor and of a teacher)."""
        with torch.no_grad():
            return self._query_vectors(model, batch), gather(self._passage_vectors(model, ids))

    def _query_vectors(self, model: BiEncoder, batch: Sequence[TrainExample]) -> torch.Tensor:
        """``model``'s vectors of a one-task batch's queries."""
        task = batch[0].task
        encoder = model.query_encoder(task)
        texts = model.format_queries([e.query for e in batch], task)
        tokens = encoder.tokenize(texts, self.config.query_max_length)
        return encoder(**{k: v.to(self.device) for k, v in tokens.items()})

    def _passage_vectors(self, model: BiEncoder, ids: list[int]) -> torch.Tensor:
        """``model``'s passage tower's vectors of passage ids (this rank's, not gathered)."""
        passages = self.store.get_many(ids)
        texts = model.passage_texts([p.title for p in passages], [p.text for p in passages])
        encoder = model.passage_encoder
        tokens = encoder.tokenize(texts, self.config.passage_max_length)
        return encoder(**{k: v.to(self.device) for k, v in tokens.items()})

    def _page_of(self, ids: Sequence[int]) -> np.ndarray:
        """The ``wikipedia_id`` of each passage id."""
        return self.store.wikipedia_ids[np.asarray(ids, dtype=np.int64)]

    def _batch_loss(self, batch: list[TrainExample], epoch: int, step: int) -> torch.Tensor:
        bf16 = self.config.precision == "bf16"
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
            queries = self._query_vectors(self.model, batch)
            loss = self.loss(queries, batch, epoch, step)
        return loss.float()

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
        if resume and (self.out / CHECKPOINT / STATE_FILE).is_file():
            self.state = load_checkpoint(
                self.out / CHECKPOINT,
                self.model,
                self.optimizer,
                self.scheduler,
                config_to_dict(cfg),
                self.device,
            )
            logger.info(
                "resumed at step %d (epoch %d, batch %d)",
                self.state["step"],
                self.state["epoch"],
                self.state["batch"],
            )
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "train_config.toml").write_text(to_toml(config_to_dict(cfg)))
        self._train_mode()
        started = time.perf_counter() - self.state["seconds"]
        steps_this_call = 0
        running: list[float] = []
        step_weights: list[float] = []  # one per batch accumulated into this step
        done = self.state["step"] >= self.total_steps
        for epoch in range(self.state["epoch"], cfg.epochs):
            if done:
                break
            batches = epoch_batches(self.task_of, self.sampler, epoch)
            first = self.state["batch"] if epoch == self.state["epoch"] else 0
            for b in range(first, len(batches)):
                local = local_slice(batches[b], self.rank, self.world)
                if not local:
                    continue
                batch = [self.examples[i] for i in local]
                weight = cfg.task_weights.get(batch[0].task, 1.0)
                loss = self._batch_loss(batch, epoch, b) * weight
                (loss / cfg.grad_accum).backward()
                step_weights.append(weight)
                running.append(loss.item())
                self.state["examples_seen"] += len(local) * self.world
                self.state["epoch"], self.state["batch"] = epoch, b + 1
                if len(step_weights) < cfg.grad_accum and b + 1 < len(batches):
                    continue
                self._step(float(np.mean(step_weights)))
                step_weights = []
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
                    speed = self.state["examples_seen"] / max(self.state["seconds"], 1e-9)
                    progress({**record, "total": self.total_steps, "examples_per_s": speed})
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

    def _train_mode(self) -> None:
        self.model.train()
        if self.config.mode is TrainMode.QUERY_SIDE:
            self.model.passage_encoder.eval()

    def _step(self, weight: float = 1.0) -> None:
        """Average gradients across ranks, clip, step optimizer and schedule. The norm limit is
        scaled by the step's task ``weight`` (as its loss was; with ``grad_accum``, the mean
        over the accumulated batches): a weighted task's gradient is clipped as if unweighted,
        then weighted, so clipping cannot undo ``task_weights``."""
        params = [p for p in self.model.parameters() if p.requires_grad]
        average_gradients(self.model.parameters(), self.world)
        torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm * weight)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state["step"] += 1

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
        """Macro dev R-precision on the first ``eval_queries`` dev queries of each task,
        against the frozen corpus vectors; the best model is kept in ``best/``."""
        if self.passage_matrix is None:
            logger.warning(
                "dev evaluation needs the frozen corpus vectors (query_side mode); skipped"
            )
            return None
        scores = [
            self._dev_score(task, examples)
            for task, examples in self._dev_examples()
            if examples and self.model.encodes(task)
        ]
        score = macro_mean(scores) or 0.0
        if self.rank == 0 and (self.state["best"] is None or score > self.state["best"]):
            self.state["best"] = score
            with atomic_path(self.out / "best") as tmp:
                self.model.save(tmp)
        self._train_mode()
        return score

    def _dev_score(self, task: str, examples: list[Example], k: int = 100) -> float:
        """R-precision of ``task``'s dev examples, ranked over the frozen corpus vectors."""
        assert self.passage_matrix is not None
        matrix = self.passage_matrix
        if self.adapter is not None:
            with torch.no_grad():
                matrix = self.adapter(matrix)
        queries = self.model.embed_inputs([e.input for e in examples], task)
        top = torch.topk(
            torch.from_numpy(queries).to(matrix.device) @ matrix.T,
            k=min(k, matrix.shape[0]),
            dim=-1,
        ).indices.cpu()
        pages = self.store.wikipedia_ids
        rankings = [[str(pages[i]) for i in row] for row in top.numpy()]
        return score_rankings(examples, rankings, EvalConfig(ks=(k,)))["Rprec"]

    def _dev_examples(self) -> list[tuple[str, list[Example]]]:
        """The dev subset, read once per run."""
        if self._dev is None:
            n = self.config.eval_queries
            self._dev = [
                (tf.task, read_examples(tf.path)[:n]) for tf in task_files(self.config, "dev")
            ]
        return self._dev

    # ------------------------------------------------------------------ checkpoints
    def _save_checkpoint(self) -> None:
        if self.rank == 0:
            save_checkpoint(
                self.out / CHECKPOINT,
                self.model,
                self.optimizer,
                self.state,
                config_to_dict(self.config),
            )

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
                "threads": torch.get_num_threads(),
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


def train(config: TrainConfig, out_dir: str | Path, **kwargs: Any) -> TrainResult:
    """Build a Trainer and run it (``resume``, ``progress``, ``stop_after_steps`` pass through)."""
    return Trainer(config, out_dir).run(**kwargs)
