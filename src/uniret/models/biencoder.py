"""Bi-encoder: a passage tower and a query tower that is the same, separate, or one per task."""

from __future__ import annotations

import copy
import dataclasses
import enum
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from uniret.errors import ArtifactError, damaged
from uniret.models.adapter import PassageAdapter
from uniret.models.backends import Backend, BackendConfig, OpenVINOEncoder, openvino_encoder
from uniret.models.encoder import Encoder, Pooling, resolve_model_path
from uniret.tasks.registry import QueryFormat, format_queries, known_tasks

logger = logging.getLogger(__name__)

BIENCODER_FILE = "uniret_biencoder.json"
BIENCODER_FORMAT = "uniret.biencoder/1"
DPR_TEMPLATE = "{title} {sep} {text}"
ST_TEMPLATE = "{title}. {text}"
DEFAULT_QUERY = "default"
ANY_TASK = "*"  # query_groups key: the tower of tasks the model was not trained on


class QueryMode(enum.StrEnum):
    """How queries are encoded."""

    SHARED = "shared"
    """The passage encoder encodes queries too (one set of weights)."""
    SEPARATE = "separate"
    """One query encoder, separate from the passage encoder (DPR)."""
    PER_TASK = "per_task"
    """One query encoder per task over the shared passage encoder."""


@dataclass(frozen=True)
class BiEncoderConfig:
    """Input shaping of a bi-encoder.

    ``passage_template`` places the title and text; ``{sep}`` is the tokenizer's own separator.
    A passage with an empty title is its text alone. Empty (the default) picks the model's
    convention when it is loaded: ``"{title}. {text}"`` for sentence-transformers models (trained
    on plain sentences), DPR's ``"{title} {sep} {text}"`` otherwise.

    ``query_prefix`` goes before every query of a known task with ``{task}`` filled in (e.g.
    ``"{task}: "``), so one shared tower is told which task asks; a query without a task (or of
    a task the registry does not know) gets none. Empty (the default): no prefix.

    ``passage_adapter``: the hidden width of a :class:`~uniret.models.adapter.PassageAdapter`
    that maps the passage tower's vectors (trained by a query-side stage); 0: none.

    ``query_groups`` (per-task mode): task -> the name of the query tower it shares with the
    other tasks of that name (e.g. ``{"cfever": "text", "hotpotqa": "text"}``); a trained task
    not named has a tower of its own, named after it; ``"*"`` names the tower of any task the
    model was not trained on (none: such a task has no tower).
    """

    query_max_length: int = 64
    passage_max_length: int = 128
    passage_template: str = ""
    mode: QueryMode = QueryMode.SHARED
    tasks: tuple[str, ...] = field(default_factory=tuple)
    query_prefix: str = ""
    passage_adapter: int = 0
    query_groups: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.passage_adapter < 0:
            raise ValueError(f"passage_adapter must be >= 0, got {self.passage_adapter}")
        object.__setattr__(self, "mode", QueryMode(self.mode))
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "query_groups", dict(self.query_groups))
        if self.query_groups and self.mode is not QueryMode.PER_TASK:
            raise ValueError(f"query_groups needs per_task query towers, not {self.mode}")
        other = self.query_groups.get(ANY_TASK)
        if other is not None and self.tasks and other not in self.towers():
            raise ValueError(
                f"query_groups sends other tasks to {other!r}, which no trained task uses"
            )
        try:
            self.query_prefix.format(task="task")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"query_prefix {self.query_prefix!r} may hold {{task}} and no other field"
            ) from exc

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mode"] = str(self.mode)
        data["tasks"] = list(self.tasks)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BiEncoderConfig:
        data = dict(data)
        data["mode"] = QueryMode(data.get("mode", "shared"))
        data["tasks"] = tuple(data.get("tasks", ()))
        return cls(**data)

    def tower_of(self, task: str | None) -> str:
        """The name of the query tower that encodes ``task``'s queries."""
        if self.mode is not QueryMode.PER_TASK:
            return DEFAULT_QUERY
        if task in self.query_groups:
            return self.query_groups[task]
        if task not in self.tasks and ANY_TASK in self.query_groups:
            return self.query_groups[ANY_TASK]
        return task or ""

    def towers(self) -> tuple[str, ...]:
        """The query towers' names, in task order (none in shared mode)."""
        if self.mode is QueryMode.SHARED:
            return ()
        if self.mode is QueryMode.SEPARATE:
            return (DEFAULT_QUERY,)
        return tuple(dict.fromkeys(self.tower_of(t) for t in self.tasks))


class BiEncoder(nn.Module):
    """Passage encoder + query encoder(s)."""

    def __init__(
        self,
        passage_encoder: Encoder,
        config: BiEncoderConfig = BiEncoderConfig(),
        query_encoders: dict[str, Encoder] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.passage_encoder = passage_encoder
        if config.mode is QueryMode.SHARED:
            self.query_encoders = nn.ModuleDict()
        elif query_encoders is not None:
            self.query_encoders = nn.ModuleDict(query_encoders)
        else:
            if config.mode is QueryMode.PER_TASK and not config.tasks:
                raise ValueError("per_task mode needs the list of tasks")
            self.query_encoders = nn.ModuleDict(
                {name: copy.deepcopy(passage_encoder) for name in config.towers()}
            )
        self.passage_adapter: PassageAdapter | None = None
        if config.passage_adapter:
            self.passage_adapter = PassageAdapter(passage_encoder.dim, config.passage_adapter)
        self.backend = BackendConfig()
        self._calibration: Callable[[int], list[str]] | None = None
        self._compiled: dict[int, OpenVINOEncoder] = {}
        self._warned_no_prefix = False

    def use_backend(
        self, backend: BackendConfig, calibration: Callable[[int], list[str]] | None = None
    ) -> None:
        """Run inference (``embed_*``) on ``backend``; training keeps the PyTorch modules.
        OpenVINO encoders are exported on first use; int8 calibrates on ``calibration(n)``."""
        self.backend = backend
        self._calibration = calibration
        self._compiled = {}

    def _run(self, encoder: Encoder, texts: list[str], max_length: int, batch: int) -> np.ndarray:
        """Vectors of ``texts`` with ``encoder`` on this model's backend."""
        if self.backend.name is Backend.TORCH:
            return _embed(encoder, texts, max_length, batch, self.backend.bf16)
        if id(encoder) not in self._compiled:
            self._compiled[id(encoder)] = openvino_encoder(
                encoder, self.backend, max_length, self._calibration
            )
        return self._compiled[id(encoder)].embed(texts, max_length, batch)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str,
        config: BiEncoderConfig | None = None,
        *,
        pooling: Pooling | str | None = None,
        normalize: bool | None = None,
    ) -> BiEncoder:
        """Load a saved bi-encoder folder, or start one from any HF model name or path."""
        folder = Path(name_or_path)
        saved = folder / BIENCODER_FILE
        if saved.is_file():
            stored = BiEncoderConfig.from_dict(read_biencoder_file(saved)["config"])
            passage = Encoder.from_pretrained(str(folder / "passage"))
            queries = None
            if stored.mode is not QueryMode.SHARED:
                queries = {
                    n: Encoder.from_pretrained(str(folder / "query" / n)) for n in stored.towers()
                }
            model = cls(passage, stored, queries)
            if stored.passage_adapter:
                with damaged(f"model {folder}", "train or save it again"):
                    model.passage_adapter = PassageAdapter.load(
                        folder, passage.dim, stored.passage_adapter
                    )
            if config is not None and config != stored:
                model.config = config
            return model
        encoder = Encoder.from_pretrained(name_or_path, pooling=pooling, normalize=normalize)
        config = config or BiEncoderConfig()
        if not config.passage_template:
            is_st = (Path(resolve_model_path(name_or_path)) / "modules.json").is_file()
            template = ST_TEMPLATE if is_st else DPR_TEMPLATE
            config = dataclasses.replace(config, passage_template=template)
        return cls(encoder, config)

    def save(self, directory: str | Path) -> None:
        """Write ``passage/`` and, unless shared, ``query/<name>/``, the passage adapter if
        any, plus the config JSON."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        self.passage_encoder.save(target / "passage")
        if self.passage_adapter is not None:
            self.passage_adapter.save(target)
        for name, encoder in self.query_encoders.items():
            encoder.save(target / "query" / name)
        meta = {
            "format": BIENCODER_FORMAT,
            "config": self.config.to_dict(),
            "passage_encoder": self.passage_encoder.settings(),
        }
        (target / BIENCODER_FILE).write_text(json.dumps(meta, indent=2) + "\n")

    def query_encoder(self, task: str | None = None) -> Encoder:
        """The encoder for queries of ``task`` (per-task mode needs a known task)."""
        if self.config.mode is QueryMode.SHARED:
            return self.passage_encoder
        name = self.config.tower_of(task)
        if name not in self.query_encoders:
            raise ArtifactError(
                f"no query encoder for task {task!r}; this model has {list(self.query_encoders)}"
            )
        return self.query_encoders[name]  # type: ignore[return-value]

    def encodes(self, task: str | None) -> bool:
        """Whether this model has a query tower for ``task``'s queries."""
        return self.config.mode is QueryMode.SHARED or self.config.tower_of(task) in (
            self.query_encoders
        )

    def passage_texts(self, titles: Sequence[str], texts: Sequence[str]) -> list[str]:
        """Passage inputs: ``passage_template`` filled in, or the text alone without a title."""
        sep = self.passage_encoder.sep
        template = self.config.passage_template or DPR_TEMPLATE
        return [
            template.format(title=t, sep=sep, text=x) if t else x
            for t, x in zip(titles, texts, strict=True)
        ]

    def query_sep(self, task: str | None = None) -> str:
        """What replaces ``[SEP]`` in slot-filling queries: the query tokenizer's separator."""
        return f" {self.query_encoder(task).sep} "

    def format_queries(self, inputs: Sequence[str], task: str | None = None) -> list[str]:
        """Raw inputs of ``task`` as this model's queries: the task registry's formatting with
        the separator of the encoder that will read them (the task's own, per-task models),
        after the config's ``query_prefix`` for a known task."""
        known = task is not None and task in known_tasks()
        queries = format_queries(
            inputs, task if known else None, QueryFormat(sep=self.query_sep(task))
        )
        if not self.config.query_prefix:
            return queries
        if not known:
            if not self._warned_no_prefix:
                logger.warning(
                    "this model puts %r before each query of its tasks; queries without a "
                    "known task (here %r) go without it",
                    self.config.query_prefix,
                    task,
                )
                self._warned_no_prefix = True
            return queries
        prefix = self.config.query_prefix.format(task=task)
        return [prefix + q for q in queries]

    def embed_inputs(
        self, inputs: Sequence[str], task: str | None = None, batch_size: int = 128
    ) -> np.ndarray:
        """Query vectors of raw task inputs (formatted by :meth:`format_queries`)."""
        return self.embed_queries(self.format_queries(inputs, task), task, batch_size)

    def embed_queries(
        self, queries: Sequence[str], task: str | None = None, batch_size: int = 128
    ) -> np.ndarray:
        """Query vectors of already formatted queries (float32, no gradients)."""
        encoder = self.query_encoder(task)
        return self._run(encoder, list(queries), self.config.query_max_length, batch_size)

    def embed_passages(
        self, titles: Sequence[str], texts: Sequence[str], batch_size: int = 128
    ) -> np.ndarray:
        """Passage vectors (float32, no gradients), in input order; through the passage
        adapter when the model has one."""
        inputs = self.passage_texts(titles, texts)
        vectors = self._run(
            self.passage_encoder, inputs, self.config.passage_max_length, batch_size
        )
        return vectors if self.passage_adapter is None else self.passage_adapter.map(vectors)

    def passage_token_counts(self, titles: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        """Tokens of each passage input, as :meth:`embed_passages` truncates it."""
        inputs = self.passage_texts(titles, texts)
        return self.passage_encoder.token_counts(inputs, self.config.passage_max_length)


def device_of(module: nn.Module) -> torch.device:
    """Where a module's parameters live."""
    return next(module.parameters()).device


def _embed(
    encoder: Encoder, texts: list[str], max_length: int, batch_size: int, bf16: bool = False
) -> np.ndarray:
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    device = device_of(encoder)
    was_training = encoder.training
    encoder.eval()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    with torch.inference_mode(), autocast:
        for start in range(0, len(texts), batch_size):
            batch = encoder.tokenize(texts[start : start + batch_size], max_length)
            vectors = encoder(**{k: v.to(device) for k, v in batch.items()})
            out[start : start + len(vectors)] = vectors.float().cpu().numpy()
    encoder.train(was_training)
    return out


def read_biencoder_file(path: Path) -> dict[str, Any]:
    """A model folder's ``uniret_biencoder.json``, checked. Files without ``format`` come from
    the first release and read as ``uniret.biencoder/1``."""
    with damaged(f"model {path.parent}", "train or save it again"):
        data = json.loads(path.read_text(encoding="utf-8"))
        found = data.get("format", BIENCODER_FORMAT)
        if found != BIENCODER_FORMAT:
            raise ArtifactError(
                f"{path.name}: format {found!r}, this uniret reads {BIENCODER_FORMAT}"
            )
        BiEncoderConfig.from_dict(data["config"])
    return data
