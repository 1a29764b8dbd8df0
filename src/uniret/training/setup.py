"""Everything a training run starts from, opened through the loaders retrieval uses: the
train files and tasks, the passage store, the frozen corpus vectors (query side), the model
and the training examples (built once, BM25 negatives mined where the loss wants them)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from uniret.corpus.store import PassageStore
from uniret.errors import ArtifactError, InputError
from uniret.index.dense import DenseIndex
from uniret.models.biencoder import ANY_TASK, BiEncoder, BiEncoderConfig, QueryMode
from uniret.tasks.kilt import TaskFile, find_task_files
from uniret.tasks.registry import get_task
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
from uniret.training.distributed import barrier

logger = logging.getLogger(__name__)

EXAMPLES_FILE = "train-examples.jsonl"


@dataclass
class TrainingInputs:
    """What :func:`prepare` opened for a run."""

    task_files: list[TaskFile]
    tasks: list[str]
    store: PassageStore
    passage_matrix: torch.Tensor | None
    index: DenseIndex | None
    """The corpus index, kept for the approximate corpus softmax only."""
    model: BiEncoder
    examples: list[TrainExample]


def task_files(config: TrainConfig, split: str) -> list[TaskFile]:
    """The ``split`` files of ``data_dir`` (only ``tasks`` when given)."""
    files = find_task_files(config.data_dir, split)
    if config.tasks:
        files = [f for f in files if f.task in config.tasks]
        missing = set(config.tasks) - {f.task for f in files}
        if missing:
            raise FileNotFoundError(
                f"no {split} file for tasks {sorted(missing)} in {config.data_dir}"
            )
    if not files and split == "train":
        raise FileNotFoundError(f"no *-train-kilt.jsonl files in {config.data_dir}")
    return files


def prepare(
    config: TrainConfig, out: Path, device: torch.device, rank: int = 0, world: int = 1
) -> TrainingInputs:
    """Open the data, the passages and the model of a run (examples cached in ``out``)."""
    files = task_files(config, "train")
    tasks = sorted({get_task(f.task).name for f in files})
    index = DenseIndex.open(config.index, config.passages or None) if config.index else None
    if index is not None:
        store = index.store
    elif config.passages:
        store = PassageStore(config.passages)
    else:
        raise InputError("config", None, "passages", "full mode needs `passages` or `index`")
    matrix = None
    if config.mode is TrainMode.QUERY_SIDE and config.query_side_loss is not QuerySideLoss.APPROX:
        assert index is not None  # TrainConfig requires an index in query_side mode
        matrix = torch.from_numpy(index.vectors()).to(device)
    model = _model(config, index, tasks).to(device)
    examples = _examples(config, out, files, store, rank, world)
    if config.examples:  # a given file: its examples of this run's tasks, low-data subset
        examples = [e for e in examples if e.task in tasks]
        examples = subsample(examples, config.examples_per_task, config.seed)
    if not examples:
        raise InputError(
            config.examples or f"{config.data_dir}/*-train-kilt.jsonl",
            None,
            None,
            f"no training example has a gold passage in the corpus ({store.directory}); "
            "check that the passages come from the same knowledge source as the task files",
        )
    approx = config.mode is TrainMode.QUERY_SIDE and config.query_side_loss is QuerySideLoss.APPROX
    # only the approximate loss searches the corpus index while training; else let it go
    return TrainingInputs(files, tasks, store, matrix, index if approx else None, model, examples)


def _model(config: TrainConfig, index: DenseIndex | None, tasks: list[str]) -> BiEncoder:
    """Query side: the index's own encoder, frozen, with new query tower(s). Full mode: the
    configured base model, keeping its passage template. The query prefix is the config's, else
    the one of the model the run starts from."""
    query_cfg = BiEncoderConfig(
        query_max_length=config.query_max_length,
        passage_max_length=config.passage_max_length,
        mode=config.query_mode,
        tasks=tuple(tasks) if config.query_mode is QueryMode.PER_TASK else (),
    )
    init = BiEncoder.from_pretrained(config.init) if config.init else None
    if config.mode is TrainMode.QUERY_SIDE:
        assert index is not None
        base = index.model()
        query_cfg = dataclasses.replace(
            query_cfg,
            passage_max_length=base.config.passage_max_length,
            passage_template=base.config.passage_template,
        )
    else:
        base = BiEncoder.from_pretrained(config.model)
        # the model's own passage convention, resolved at load
        query_cfg = dataclasses.replace(query_cfg, passage_template=base.config.passage_template)
    start = init if init is not None else base
    prefix = config.query_prefix or start.config.query_prefix
    if config.query_mode is QueryMode.PER_TASK:
        groups = config.query_groups or inherited_groups(start.config, tasks)
        query_cfg = dataclasses.replace(query_cfg, query_groups=groups)
    if config.mode is TrainMode.FULL and any(
        m is not None and m.passage_adapter is not None for m in (base, init)
    ):
        raise InputError(
            config.init or config.model,
            None,
            "init" if config.init else "model",
            "this model maps its passage vectors with an adapter; full mode trains the passage "
            "tower itself: start from a model without one",
        )
    if base.passage_adapter is not None and config.passage_adapter:
        raise InputError(
            config.index,
            None,
            "passage_adapter",
            "the index's model already maps its passage vectors with an adapter; train a new "
            "one over an index of a model without one",
        )
    adapter = config.passage_adapter or base.config.passage_adapter
    query_cfg = dataclasses.replace(query_cfg, query_prefix=prefix, passage_adapter=adapter)
    model = BiEncoder(base.passage_encoder, query_cfg)
    if base.passage_adapter is not None:  # the index holds mapped vectors: keep the map, frozen
        model.passage_adapter = base.passage_adapter.requires_grad_(False)
    if config.mode is TrainMode.QUERY_SIDE:
        model.passage_encoder.requires_grad_(False)
    if init is not None:
        start_from(model, init, config.mode is TrainMode.FULL)
    if config.freeze_layers:
        trained = list(model.query_encoders.values())
        if config.mode is TrainMode.FULL:
            trained.append(model.passage_encoder)
        for encoder in trained:
            encoder.freeze_lower(config.freeze_layers)
    return model


def _examples(
    config: TrainConfig,
    out: Path,
    files: list[TaskFile],
    store: PassageStore,
    rank: int,
    world: int,
) -> list[TrainExample]:
    """A given examples file, or the run's own (built by rank 0 once, then reused)."""
    if config.mine_subject and not mines_bm25(config):
        logger.warning("mine_subject has no effect: this run mines no BM25 negatives")
    if config.examples:
        return load_examples(config.examples)
    path = out / EXAMPLES_FILE
    if rank == 0 and not path.exists():
        examples = build_examples(
            [f.path for f in files], store, per_file=config.examples_per_task, seed=config.seed
        )
        if mines_bm25(config):
            examples = mine_bm25(examples, store, config)
        out.mkdir(parents=True, exist_ok=True)
        save_examples(path, examples)
    barrier(world)
    return load_examples(path)


def mines_bm25(config: TrainConfig) -> bool:
    """Whether a run mines its own BM25 negatives: full mode or DPR's sampled softmax, with hard
    negatives and a BM25 index, and no examples file given."""
    sampled = config.mode is TrainMode.FULL or config.query_side_loss is QuerySideLoss.SAMPLED
    return sampled and config.hard_negatives > 0 and bool(config.bm25_index) and not config.examples


def mine_bm25(
    examples: list[TrainExample],
    store: PassageStore,
    config: TrainConfig,
    progress: Callable[[int], None] | None = None,
) -> list[TrainExample]:
    """``examples`` with negatives from ``config.bm25_index``, ranks ``[mine_skip, mine_depth)``."""
    from uniret.retrieval.sparse import BM25Retriever

    bm25 = BM25Retriever.load(config.bm25_index, store.directory)
    return mine_negatives(examples, bm25, bm25_mining(config), progress=progress)


def bm25_mining(config: TrainConfig) -> MiningConfig:
    """How a run mines its BM25 negatives: ``mine_count`` of ranks ``[mine_skip, mine_depth)``,
    slot-filling queries by their subject alone with ``mine_subject``."""
    return MiningConfig(
        config.mine_count, config.mine_skip, config.mine_depth, subject_only=config.mine_subject
    )


def inherited_groups(start: BiEncoderConfig, tasks: list[str]) -> dict[str, str]:
    """The ``query_groups`` a per-task run on ``tasks`` keeps from the model it starts from:
    each task goes to the tower that model encodes it with (a task it was not trained on to its
    ``"*"`` tower), and ``"*"`` stays where one of these tasks uses its tower."""
    if start.mode is not QueryMode.PER_TASK:
        return {}
    groups = {t: start.tower_of(t) for t in tasks if start.tower_of(t) != t}
    other = start.query_groups.get(ANY_TASK)
    if other is not None and other in {groups.get(t, t) for t in tasks}:
        groups[ANY_TASK] = other
    return groups


def start_from(model: BiEncoder, trained: BiEncoder, passage_too: bool) -> None:
    """Copy a trained model's query tower(s) (and its passage tower when ``passage_too``)
    into ``model``. A single trained query tower seeds every query tower of ``model``; per-task
    towers are matched by :func:`_source_tower`."""
    for name, encoder in model.query_encoders.items():
        if not len(trained.query_encoders):
            source = trained.passage_encoder  # shared model: one tower does both
        else:
            found = _source_tower(model, trained, name)
            if found is None:
                raise ArtifactError(
                    "the model to start from has per-task query encoders "
                    f"{sorted(trained.query_encoders)}, none for {name!r}"
                )
            source = trained.query_encoders[found]
        encoder.load_state_dict(source.state_dict())
    if passage_too:
        model.passage_encoder.load_state_dict(trained.passage_encoder.state_dict())


def _source_tower(model: BiEncoder, trained: BiEncoder, name: str) -> str | None:
    """The trained model's query tower that seeds ``model``'s tower ``name``: the one of that
    name, else the one the trained model encodes the first of the tower's tasks with, else its
    only tower; none when there is no such tower."""
    sources = trained.query_encoders
    if name in sources:
        return name
    for task in model.config.tasks:
        theirs = trained.config.tower_of(task)
        if model.config.tower_of(task) == name and theirs in sources:
            return theirs
    return next(iter(sources)) if len(sources) == 1 else None
