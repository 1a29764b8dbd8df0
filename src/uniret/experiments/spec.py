"""An experiment matrix as data: a TOML/YAML file of cells, expanded over tasks, k and seeds.

A cell evaluates one retrieval system on the dev files, after training a model if it says so::

    [[cell]]
    name = "fewshot-{task}-mt-k{k}-s{seed}"
    for_each = { task = "$tasks", k = [16, 64], seed = [0, 1, 2] }
    labels = { study = "fewshot", task = "{task}", start = "multi-task", k = "{k}" }
    init = "loo-{task}"                 # start from another cell's model
    train = { tasks = ["{task}"], examples_per_task = "{k}", seed = "{seed}" }
    eval_tasks = ["{task}"]

``for_each`` expands a cell once per combination; ``"$tasks"`` stands for every task with a
train file. ``{name}`` placeholders are filled in every string; a string that is only a
placeholder takes the value's own type (``"{k}"`` becomes the integer 16).
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from uniret.config import load_mapping, resolve_config
from uniret.defaults import DEFAULT_DATA, DEFAULT_MODEL
from uniret.errors import InputError
from uniret.retrieval.hybrid import FusionConfig
from uniret.tasks.kilt import find_task_files
from uniret.training.data import MiningConfig

ALL_TASKS = "$tasks"
EVERY_TASK = "*"  # `distill_from` key: the teacher of every task not named
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class System(enum.StrEnum):
    """What a cell retrieves with."""

    BM25 = "bm25"
    DENSE = "dense"
    """The cell's model (or ``model``'s, or the base model) over its dense index."""
    HYBRID = "hybrid"
    """BM25 fused with the dense system (``fusion``: weighted normalised scores by default)."""


@dataclass(frozen=True)
class CellSpec:
    """One condition: optional mining and training, then retrieval + KILT evaluation."""

    name: str
    system: System = System.DENSE
    labels: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    model: str = ""
    """Another cell whose trained model this cell evaluates (empty: its own, or the base)."""
    base_weight: float = 0.0
    """With ``model``: evaluate that model with this share of the base model's weights mixed
    back into every tower (weight-space ensembling); the corpus is re-encoded with it."""
    average: tuple[str, ...] = ()
    """Cells whose trained models this cell averages weight by weight into its own (a uniform
    model soup of, say, one recipe trained at several seeds); the corpus is re-encoded with it,
    and other cells may build on it like on a trained one."""
    train: dict[str, Any] | None = None
    """Overrides of the experiment's training config; present means the cell trains."""
    train_config: str = ""
    init: str = ""
    """A cell whose model this cell's training starts from."""
    exclude_tasks: tuple[str, ...] = ()
    """Train on every task but these (zero-shot leave-one-out)."""
    mine_with: str = ""
    """A cell whose model mines hard negatives (adversarial confounders) for the training."""
    mine: dict[str, Any] = field(default_factory=dict)
    """Mining settings (``count``, ``rank_from``, ``rank_to``, ``skip_answer``,
    ``subject_only``, ``margin``) over :class:`~uniret.training.data.MiningConfig`'s defaults."""
    teachers: dict[str, str] = field(default_factory=dict)
    """Task -> a cell whose trained model teaches this cell's full-mode training on that task
    (the training config's ``teachers``, resolved to the cells' models)."""
    distill_from: dict[str, str] = field(default_factory=dict)
    """Task -> a cell whose retriever, as evaluated (a trained model, BM25, a fusion), ranks that
    task's train queries (top ``distill_depth``): the rankings become this cell's ``distill``
    teacher (full mode: the trained passage tower encodes the ranked passages; query side: the
    frozen corpus rows). The task ``"*"`` stands for every task the cell trains on that is not
    named."""
    eval_tasks: tuple[str, ...] = ()
    fusion: dict[str, Any] = field(default_factory=dict)
    """Hybrid cells: fusion settings (``method``, ``weights`` [BM25, dense], ``rrf_c``,
    ``depth``) over :class:`~uniret.retrieval.hybrid.FusionConfig`'s defaults."""

    def __post_init__(self) -> None:
        if self.fusion:
            if self.system is not System.HYBRID:
                raise ValueError('fusion settings are for hybrid cells (system = "hybrid")')
            self.fusion_config()  # fail at load time, not after training
        if self.mine:
            if not self.mine_with:
                raise ValueError("mining settings need `mine_with`: the cell whose model mines")
            self.mining_config()

    @property
    def trains(self) -> bool:
        return self.train is not None

    @property
    def makes_model(self) -> bool:
        """Whether the cell writes a model folder of its own (trained, averaged or mixed)."""
        return self.trains or bool(self.average) or bool(self.model and self.base_weight)

    def fusion_config(self) -> FusionConfig:
        """How a hybrid cell fuses BM25 with its dense system."""
        unknown = set(self.fusion) - {f.name for f in fields(FusionConfig)}
        if unknown:
            raise ValueError(f"unknown fusion keys {sorted(unknown)}")
        settings = dict(self.fusion)
        if "weights" in settings:
            settings["weights"] = tuple(float(w) for w in settings["weights"])
            if len(settings["weights"]) != 2:
                raise ValueError("fusion weights: give two, [BM25, dense]")
        return FusionConfig(**settings)

    def mining_config(self) -> MiningConfig:
        """How ``mine_with``'s model mines this cell's hard negatives."""
        unknown = set(self.mine) - {f.name for f in fields(MiningConfig)}
        if unknown:
            raise ValueError(f"unknown mine keys {sorted(unknown)}")
        return MiningConfig(**self.mine)

    def distill_teacher(self, task: str) -> str:
        """The cell whose ranking of ``task``'s train queries teaches this one ("" for none)."""
        return self.distill_from.get(task, self.distill_from.get(EVERY_TASK, ""))

    @property
    def depends_on(self) -> tuple[str, ...]:
        named = (
            self.model,
            self.init,
            self.mine_with,
            *self.average,
            *self.teachers.values(),
            *self.distill_from.values(),
        )
        return tuple(dict.fromkeys(d for d in named if d))

    def matches(self, selector: str) -> bool:
        """``--only`` selection: a tag, or a glob over the name."""
        return selector in self.tags or fnmatchcase(self.name, selector)


@dataclass(frozen=True)
class ExperimentSpec:
    """The experiment file, resolved: paths absolute, cells expanded and checked."""

    path: Path
    name: str
    data_dir: Path
    split: str
    base_model: str
    train_config: Path
    k: int
    ks: tuple[int, ...]
    bootstrap: int
    cells: tuple[CellSpec, ...]
    opt_in: tuple[str, ...]
    """Tags of cells that run only when ``--only`` picks them (e.g. the slow full-mode cells)."""
    report: dict[str, Any]
    backend: str = "torch"
    """What encodes passages and queries: torch, openvino or openvino-int8 (training always
    runs on PyTorch)."""

    def cell(self, name: str) -> CellSpec:
        for c in self.cells:
            if c.name == name:
                return c
        raise KeyError(name)

    def select(self, only: Sequence[str]) -> list[CellSpec]:
        """The cells picked by any of ``only``, in file order; with none, every cell without an
        opt-in tag."""
        if not only:
            return [c for c in self.cells if not set(c.tags) & set(self.opt_in)]
        return [c for c in self.cells if any(c.matches(s) for s in only)]


def _fill(value: Any, env: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole and whole.group(1) in env:
            return env[whole.group(1)]
        return _PLACEHOLDER.sub(lambda m: str(env.get(m.group(1), m.group(0))), value)
    if isinstance(value, list | tuple):
        return [_fill(v, env) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, env) for k, v in value.items()}
    return value


def expand(raw: dict[str, Any], tasks: Sequence[str]) -> list[dict[str, Any]]:
    """One raw cell per combination of its ``for_each`` lists (itself when it has none)."""
    loops = dict(raw.get("for_each", {}))
    body = {k: v for k, v in raw.items() if k != "for_each"}
    if not loops:
        return [body]
    axes = [(k, list(tasks) if v == ALL_TASKS else list(v)) for k, v in loops.items()]
    return [
        _fill(body, dict(zip([a for a, _ in axes], combo, strict=True)))
        for combo in itertools.product(*[values for _, values in axes])
    ]


_CELL_KEYS = {f.name for f in fields(CellSpec)} | {"for_each"}


def _cell(raw: dict[str, Any], path: Path, position: int) -> CellSpec:
    unknown = set(raw) - _CELL_KEYS
    if unknown or "name" not in raw:
        problem = f"unknown keys {sorted(unknown)}" if unknown else "a cell needs a name"
        raise InputError(path, None, f"cell[{position}]", problem)
    try:
        return CellSpec(
            name=str(raw["name"]),
            system=System(raw.get("system", "dense")),
            labels=dict(raw.get("labels", {})),
            tags=tuple(raw.get("tags", ())),
            model=str(raw.get("model", "")),
            base_weight=float(raw.get("base_weight", 0.0)),
            average=tuple(raw.get("average", ())),
            train=dict(raw["train"]) if "train" in raw else None,
            train_config=str(raw.get("train_config", "")),
            init=str(raw.get("init", "")),
            exclude_tasks=tuple(raw.get("exclude_tasks", ())),
            mine_with=str(raw.get("mine_with", "")),
            mine=dict(raw.get("mine", {})),
            teachers={str(k): str(v) for k, v in raw.get("teachers", {}).items()},
            distill_from={str(k): str(v) for k, v in raw.get("distill_from", {}).items()},
            eval_tasks=tuple(raw.get("eval_tasks", ())),
            fusion=dict(raw.get("fusion", {})),
        )
    except ValueError as exc:
        raise InputError(path, None, f"cell {raw['name']!r}", str(exc)) from exc


def read_cells(
    data: dict[str, Any], path: Path, tasks: Sequence[str], known: Sequence[str] = ()
) -> list[CellSpec]:
    """The expanded, checked ``[[cell]]`` tables of a file; cells may build on ``known``
    ones defined elsewhere (a recipe on the quickstart's baselines)."""
    cells: list[CellSpec] = []
    for i, raw in enumerate(data.get("cell", [])):
        cells += [_cell(c, path, i) for c in expand(raw, tasks)]
    names = [c.name for c in cells]
    seen: set[str] = set(known)
    made = {c.name for c in cells if c.makes_model}
    for c in cells:
        if c.name in seen:
            raise InputError(path, None, f"cell {c.name!r}", "two cells have this name")
        for dep in c.depends_on:
            if dep not in seen:
                where = "is not defined" if dep not in names else "comes after it"
                raise InputError(
                    path, None, f"cell {c.name!r}", f"depends on {dep!r}, which {where}"
                )
        if sum((bool(c.model), c.train is not None, bool(c.average))) > 1:
            raise InputError(
                path, None, f"cell {c.name!r}", "a cell trains, averages or names a `model`"
            )
        if c.teachers and not c.trains:
            raise InputError(path, None, f"cell {c.name!r}", "`teachers` needs a `train` table")
        if c.distill_from and not c.trains:
            raise InputError(path, None, f"cell {c.name!r}", "`distill_from` needs a `train` table")
        if c.distill_from and (c.train or {}).get("distill"):
            raise InputError(
                path, None, f"cell {c.name!r}", "give `distill_from` or `train.distill`, not both"
            )
        if unknown := sorted(set(c.distill_from) - {*tasks, EVERY_TASK}):
            raise InputError(
                path,
                None,
                f"cell {c.name!r}",
                f"`distill_from` names {unknown}, not tasks of the data ({', '.join(tasks)}) "
                f'or "{EVERY_TASK}"',
            )
        for task, teacher in c.teachers.items():
            if teacher not in made:
                raise InputError(
                    path, None, f"cell {c.name!r}", f"teacher of {task}, {teacher!r}, has no model"
                )
        if c.average and len(set(c.average)) < 2:
            raise InputError(
                path, None, f"cell {c.name!r}", "`average` names at least two other cells"
            )
        if c.base_weight and not (c.model and 0.0 < c.base_weight <= 1.0):
            raise InputError(
                path, None, f"cell {c.name!r}", "base_weight needs a `model` and lies in (0, 1]"
            )
        seen.add(c.name)
    return cells


def _train_tasks(data_dir: Path, path: Path, key: str) -> list[str]:
    tasks = sorted({f.task for f in find_task_files(data_dir, "train")})
    if not tasks:
        raise InputError(path, None, key, f"no train files in {data_dir}")
    return tasks


def load_experiment(path: str | Path) -> ExperimentSpec:
    """Read and expand an experiment file; relative paths are relative to the current folder."""
    path = Path(path)
    data = load_mapping(path)
    if "recipe" in data and "experiment" not in data:
        raise InputError(
            path,
            None,
            "recipe",
            "a recipe builds on the quickstart's cells (bm25, base, bm25+base, ...), so it runs "
            f"as `uniret quickstart --recipe {path}`, not as an experiment file",
        )
    head = dict(data.get("experiment", {}))
    data_dir = Path(head.get("data_dir", DEFAULT_DATA)).resolve()
    cells = read_cells(data, path, _train_tasks(data_dir, path, "experiment.data_dir"))
    return ExperimentSpec(
        path=path,
        name=str(head.get("name", path.stem)),
        data_dir=data_dir,
        split=str(head.get("split", "dev")),
        base_model=str(head.get("base_model", DEFAULT_MODEL)),
        train_config=Path(head.get("train_config", "configs/multitask-kiltmini.toml")),
        k=int(head.get("k", 100)),
        ks=tuple(head.get("ks", (1, 5, 10, 20, 100))),
        bootstrap=int(head.get("bootstrap", 1000)),
        cells=tuple(cells),
        opt_in=tuple(head.get("opt_in", ())),
        report=dict(data.get("report", {})),
        backend=str(head.get("backend", "torch")),
    )


QUICKSTART_SYSTEMS = (
    ("bm25", System.BM25, "BM25"),
    ("base", System.DENSE, "base (zero-shot)"),
    ("bm25+base", System.HYBRID, "BM25 + base"),
    ("multi-task", System.DENSE, "multi-task (query side)"),
    ("bm25+multi-task", System.HYBRID, "BM25 + multi-task"),
)


def quickstart_experiment(
    data_dir: str | Path,
    *,
    split: str = "dev",
    k: int = 100,
    base_model: str = DEFAULT_MODEL,
    train_config: str | Path = "configs/multitask-kiltmini.toml",
    train_overrides: dict[str, Any] | None = None,
    systems: int = len(QUICKSTART_SYSTEMS),
    backend: str = "torch",
    recipe: str | Path | None = None,
) -> ExperimentSpec:
    """The main job as a built-in experiment: BM25, the base model, their hybrid, a query-side
    multi-task model and its hybrid with BM25 (the first ``systems`` of them), cached by the
    same runner as every experiment file.

    ``recipe``: a file of ``[[cell]]`` tables (the experiment-file syntax) that replace the
    query-side multi-task systems, built on the three untrained ones (``bm25``, ``base``,
    ``bm25+base`` may be named); its ``[recipe]`` table may set ``train_config``, the default
    training config of its cells (``train_overrides`` apply to every training cell)."""
    data = Path(data_dir).resolve()
    if not find_task_files(data, split):
        raise InputError(data, None, None, f"no *-{split}-kilt.jsonl task files")
    baselines = QUICKSTART_SYSTEMS[: 3 if recipe else systems]
    cells = []
    for name, system, label in baselines:
        trains = name == "multi-task"
        cells.append(
            CellSpec(
                name=name,
                system=system,
                labels={"study": "main", "system": label},
                train=dict(train_overrides or {}) if trains else None,
                model="multi-task" if name == "bm25+multi-task" else "",
            )
        )
    path = Path(__file__)
    if recipe:
        path = resolve_config(recipe)
        raw = load_mapping(path)
        unknown = set(raw) - {"recipe", "cell"}
        if unknown:
            raise InputError(path, None, None, f"unknown tables {sorted(unknown)}")
        head = dict(raw.get("recipe", {}))
        train_config = head.get("train_config", train_config)
        extra = read_cells(raw, path, _train_tasks(data, path, "data"), [c.name for c in cells])
        for c in extra:
            if c.trains and train_overrides:
                c = dataclasses.replace(c, train={**(c.train or {}), **train_overrides})
            cells.append(c)
    return ExperimentSpec(
        path=path,
        name="quickstart",
        data_dir=data,
        split=split,
        base_model=base_model,
        train_config=Path(train_config),
        k=k,
        ks=(1, 5, 10, 20, 100),
        bootstrap=1000,
        cells=tuple(cells),
        opt_in=(),
        report={},
        backend=backend,
    )
