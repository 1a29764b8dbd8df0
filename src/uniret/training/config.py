"""The training configuration (TOML/YAML file + ``--set key=value`` overrides)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from uniret.defaults import DEFAULT_DATA, DEFAULT_MODEL
from uniret.models.biencoder import BiEncoderConfig, QueryMode
from uniret.training.sampler import TaskSampling


class TrainMode(enum.StrEnum):
    """Which towers learn."""

    FULL = "full"
    """Both towers trained on in-batch + hard negatives; the corpus must be re-encoded after."""
    QUERY_SIDE = "query_side"
    """Passage encoder frozen, its corpus vectors (from ``index``) reused: only queries learn,
    with a softmax over every passage of the corpus."""


class QuerySideLoss(enum.StrEnum):
    """What a query-side query is scored against."""

    CORPUS = "corpus"
    """Every passage vector of the corpus (exact softmax; every confounder is a negative)."""
    APPROX = "approx"
    """The corpus softmax approximated for large corpora: exact over each query's
    ``approx_candidates`` nearest passages (searched in ``index``) and the positives, the rest
    estimated from ``approx_samples`` uniform draws; the corpus is never held in memory."""
    SAMPLED = "sampled"
    """DPR's sampled softmax: the batch's positives and hard negatives only (BM25-mined, or
    mined by an earlier model via ``examples``: the adversarial-confounder round)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; the resolved config is saved beside the model.

    Data: ``data_dir`` holds ``<task>-train-kilt.jsonl`` / ``-dev-`` files; ``tasks`` picks
    some (empty: all with a train file). ``index`` is a dense index of the base model (query
    side: its vectors are the frozen passages); ``bm25_index`` mines BM25 negatives (full mode,
    or query side with ``hard_negatives`` > 0); ``examples`` reuses a file from `uniret mine`.

    Negatives: BM25 ranks ``[mine_skip, mine_depth)`` minus gold pages and passages holding
    an answer, ``mine_count`` kept, ``hard_negatives`` of them per query per step (skipping the
    top ranks keeps likely unlabelled positives out). ``mine_subject``: a slot-filling query
    (``subject [SEP] relation``) is mined by its subject alone, so its negatives are pages
    and sentences about namesakes and about the subject's other facts, not pages matching the
    relation's words; other queries are mined whole. ``positive``: ``first`` (DPR) or
    ``random`` (one gold passage drawn per step). ``mask_gold_pages``: a batch passage from one
    of a query's gold pages (another query's positive or negative) is left out of its softmax
    instead of counting as a negative; ``sibling_mask`` does the same in the corpus softmax for
    the passages of a query's gold pages that are not its positives (off by default: no gain on
    kiltmini dev). ``approx_*``: see ``QuerySideLoss.APPROX``.

    Distillation: ``distill`` names a teacher's predictions on the train files (`uniret
    retrieve` output, e.g. BM25 fused with the ``init`` model, or task-specific models); its
    top ``distill_depth`` passages per query become soft targets at temperature
    ``distill_temperature``, weighted ``distill_weight`` (see ``loss.DistillationLoss``). Query
    side, the student scores them with the frozen corpus vectors; full mode, the passage tower
    encodes them each step (``batch_size × distill_depth`` more passages per step: keep the
    depth small, e.g. 8).

    ``freeze_layers``: every trained tower keeps its token embeddings and its lowest N
    transformer layers at their starting weights (full mode: a passage tower that moves less
    away from what the base model knew about tasks it is not trained on).

    ``anchor_weight`` λ (full mode): adds ``λ · KL`` between the starting model's and the trained
    model's score distributions over each batch's passages (``loss.anchor_kl``), so the
    towers learn the trained tasks while scoring like the model they started from elsewhere;
    costs a forward pass of a frozen copy per step.

    ``teachers`` (full mode): task -> a trained model (path or name) whose score distribution
    over each of that task's batches the trained model is pulled towards, ``teacher_weight`` λ
    times the same KL (a task-specific model teaching the multi-task one what it learnt alone);
    a task without a teacher adds no term. Costs a teacher forward pass per step.

    ``task_weights``: a task's batches weigh this much (others 1) in the loss and in the
    gradient-norm limit ``max_grad_norm`` (else clipping, which takes every step of a young run
    to the same norm, would undo the weight).

    ``query_prefix`` (e.g. ``"{task}: "``) goes before every query of a task, in training and
    wherever the model is used (it is saved with the model); empty: the prefix of the model the
    run starts from (``init``, or query side the index's model), none for a base model.
    ``query_groups`` (``query_mode = "per_task"``): task -> a query tower shared by the tasks
    given that name (e.g. the natural-language tasks in one, each slot-filling task alone);
    a task not named has its own. Empty: each task keeps the tower the model the run starts
    from encodes it with (a task it was not trained on its ``"*"`` tower).

    ``passage_adapter`` (query side, exact corpus softmax): the hidden width of a residual map
    trained on the frozen passage vectors beside the query tower (``adapter_lr``, no weight
    decay; ``models.adapter``), so the passage side moves without re-encoding; 0: none. The
    model keeps it; ``uniret index map`` writes the index it searches.
    """

    data_dir: str = DEFAULT_DATA
    tasks: tuple[str, ...] = ()
    model: str = DEFAULT_MODEL
    mode: TrainMode = TrainMode.QUERY_SIDE
    query_mode: QueryMode = QueryMode.SEPARATE
    query_prefix: str = ""
    query_groups: dict[str, str] = field(default_factory=dict)
    passage_adapter: int = 0
    adapter_lr: float = 1e-3
    index: str = ""
    passages: str = ""
    bm25_index: str = ""
    examples: str = ""
    examples_per_task: int = 0
    init: str = ""
    query_side_loss: QuerySideLoss = QuerySideLoss.CORPUS
    approx_candidates: int = 256
    approx_samples: int = 1024
    distill: str = ""
    distill_weight: float = 1.0
    distill_depth: int = 50
    distill_temperature: float = 0.1
    hard_negatives: int = 1
    positive: str = "first"
    mask_gold_pages: bool = True
    sibling_mask: bool = False
    mine_count: int = 8
    mine_skip: int = 0
    mine_depth: int = 50
    mine_subject: bool = False
    epochs: int = 2
    batch_size: int = 32
    lr: float = 2e-5
    freeze_layers: int = 0
    anchor_weight: float = 0.0
    teachers: dict[str, str] = field(default_factory=dict)
    teacher_weight: float = 1.0
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    grad_accum: int = 1
    scale: float = 20.0
    sampling: TaskSampling = TaskSampling.PROPORTIONAL
    temperature: float = 2.0
    task_weights: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    query_max_length: int = 64
    passage_max_length: int = 128
    checkpoint_every: int = 100
    eval_every: int = 0
    eval_queries: int = 100
    max_steps: int = 0
    device: str = ""
    precision: str = "fp32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", TrainMode(self.mode))
        object.__setattr__(self, "query_mode", QueryMode(self.query_mode))
        object.__setattr__(self, "sampling", TaskSampling(self.sampling))
        object.__setattr__(self, "query_side_loss", QuerySideLoss(self.query_side_loss))
        object.__setattr__(self, "tasks", tuple(self.tasks))
        if self.mode is TrainMode.QUERY_SIDE and not self.index:
            raise ValueError("query_side mode needs `index`: a dense index of the base model")
        if self.mode is TrainMode.QUERY_SIDE and self.query_mode is QueryMode.SHARED:
            raise ValueError(
                "query_side mode trains a query encoder apart: query_mode separate or per_task"
            )
        if self.positive not in ("first", "random"):
            raise ValueError(f"positive must be first or random, got {self.positive!r}")
        if not 0 <= self.mine_skip < self.mine_depth:
            raise ValueError("mine_skip must be >= 0 and below mine_depth")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, got {self.precision!r}")
        if self.optimizer not in ("adamw", "sgd"):
            raise ValueError(f"optimizer must be adamw or sgd, got {self.optimizer!r}")
        if self.examples_per_task < 0:
            raise ValueError(f"examples_per_task must be >= 0, got {self.examples_per_task}")
        if self.approx_candidates < 1 or self.approx_samples < 0:
            raise ValueError("approx_candidates must be >= 1 and approx_samples >= 0")
        corpus = self.mode is TrainMode.QUERY_SIDE and self.query_side_loss is QuerySideLoss.CORPUS
        if self.sibling_mask and not corpus:
            raise ValueError("sibling_mask applies to the exact corpus softmax (query_side mode)")
        if self.passage_adapter < 0 or self.adapter_lr <= 0:
            raise ValueError("passage_adapter must be >= 0 and adapter_lr > 0")
        if self.passage_adapter and not corpus:
            raise ValueError(
                "passage_adapter is trained through the exact corpus softmax (query_side mode, "
                "query_side_loss corpus); full mode moves the passage tower itself"
            )
        if self.distill_depth < 2 or self.distill_temperature <= 0 or self.distill_weight < 0:
            raise ValueError(
                "distill_depth must be >= 2, distill_temperature > 0 and distill_weight >= 0"
            )
        if self.anchor_weight < 0:
            raise ValueError(f"anchor_weight must be >= 0, got {self.anchor_weight}")
        if self.anchor_weight and self.mode is not TrainMode.FULL:
            raise ValueError("anchor_weight needs full mode (query side: the passages are frozen)")
        if self.teacher_weight < 0:
            raise ValueError(f"teacher_weight must be >= 0, got {self.teacher_weight}")
        if self.teachers and self.mode is not TrainMode.FULL:
            raise ValueError("teachers need full mode (query side: the passages are frozen)")
        unknown = sorted(set(self.teachers) - set(self.tasks)) if self.tasks else []
        if unknown:
            raise ValueError(f"teachers for tasks that are not trained: {', '.join(unknown)}")
        BiEncoderConfig(query_prefix=self.query_prefix)  # raises on a field other than {task}
        if self.query_groups and self.query_mode is not QueryMode.PER_TASK:
            raise ValueError("query_groups needs query_mode per_task")
        if self.freeze_layers < 0:
            raise ValueError(f"freeze_layers must be >= 0, got {self.freeze_layers}")
        if self.batch_size < 1 or self.epochs < 1 or self.grad_accum < 1:
            raise ValueError("batch_size, epochs and grad_accum must be >= 1")
