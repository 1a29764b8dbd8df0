"""Inference backends for encoding: PyTorch (default, fp32 or bf16 autocast) or OpenVINO, in fp32
or int8.

OpenVINO runs the whole encoder (backbone, pooling, normalisation) exported from the PyTorch
module with ``openvino.convert_model``, at OpenVINO's default CPU precision (bf16 on CPUs with
AMX or AVX512-BF16, else fp32); ``int8`` adds NNCF post-training static quantization,
calibrated on a sample of real inputs (activations and weights in int8, the transformer's
sensitive operations kept in floating point: fp32, :data:`INT8_PRECISION`). The exported model
is cached, keyed by a hash of the encoder's weights and settings: beside the model when it is a
writable uniret folder, else under ``~/.cache/uniret/openvino``.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from uniret.errors import UniretError
from uniret.io import atomic_path
from uniret.models.encoder import Encoder

logger = logging.getLogger(__name__)

CACHE_DIR = "openvino"
MODEL_FILE = "encoder.xml"
INT8_PRECISION = "f32"
"""Precision of the floating-point operations of int8 models. OpenVINO's default on CPUs with
AMX, bf16, returns wrong vectors for the int8 base model at one sequence length (32 tokens:
cosine 0.67 to the right vector, OpenVINO 2026.4); in f32 every length is right, at the same
speed on such CPUs. fp32 models keep the default (bf16 there), which is right at every length."""


class Backend(enum.StrEnum):
    """What runs the encoder at inference time."""

    TORCH = "torch"
    """The PyTorch module itself (also what training uses)."""
    OPENVINO = "openvino"
    """OpenVINO on the CPU: the exported encoder, fp32 or int8."""


@dataclass(frozen=True)
class BackendConfig:
    """Inference backend: ``name``, ``int8`` quantization (OpenVINO only), ``bf16`` autocast
    (PyTorch only: GPUs, and CPUs with bf16 instructions), ``calibration`` texts used to
    calibrate int8, and ``cache_dir`` for exported models (default: beside the model, else
    ``~/.cache/uniret/openvino``)."""

    name: Backend = Backend.TORCH
    int8: bool = False
    bf16: bool = False
    calibration: int = 320
    cache_dir: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", Backend(self.name))
        if self.int8 and self.name is Backend.TORCH:
            raise ValueError("int8 needs the openvino backend (--backend openvino --int8)")
        if self.bf16 and self.name is not Backend.TORCH:
            raise ValueError("bf16 autocast is a PyTorch setting (--backend torch --bf16)")
        if self.calibration < 1:
            raise ValueError(f"calibration must be >= 1 text, got {self.calibration}")

    @property
    def label(self) -> str:
        """``torch``, ``torch-bf16``, ``openvino`` or ``openvino-int8``: recorded with the
        vectors it makes."""
        if self.int8 or self.bf16:
            return f"{self.name}-{'int8' if self.int8 else 'bf16'}"
        return str(self.name)

    @classmethod
    def from_label(cls, label: str) -> BackendConfig:
        """The config a :attr:`label` names."""
        name, _, precision = label.partition("-")
        return cls(name=Backend(name), int8=precision == "int8", bf16=precision == "bf16")


class _Exportable(nn.Module):
    """The encoder with a fixed signature, for tracing."""

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        return self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        )


class OpenVINOEncoder:
    """An encoder compiled by OpenVINO; embeds texts like :meth:`Encoder.embed`.

    Each batch is split in ``jobs`` parts run as parallel requests (one per CPU stream), and
    a part waits only for the request it reuses, not for the batch before: the tokenization
    of one part overlaps the inference of others and no stream idles between batches. A
    text's part depends only on its batch, so results do not depend on how many batches one
    call gets.
    """

    def __init__(self, compiled: Any, encoder: Encoder, path: Path, jobs: int = 2) -> None:
        self.compiled = compiled
        self.tokenizer = encoder.tokenizer
        self.dim = encoder.dim
        self.path = path
        self.jobs = jobs
        self._requests: list[Any] = []  # made once and reused by every call

    def embed(self, texts: Sequence[str], max_length: int, batch_size: int = 128) -> np.ndarray:
        """Vectors of ``texts`` (float32), in input order.

        The parts go to the requests in turn; a request's result is copied out by this thread
        when the request is needed again (or at the end). No Python callback runs on
        OpenVINO's threads: such callbacks need the GIL, and a compiled model destroyed while
        one waits for it (its executor joins that thread with the GIL held) hangs the process.
        """
        if not self._requests:
            self._requests = [self.compiled.create_infer_request() for _ in range(self.jobs)]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        running: dict[int, int] = {}  # request -> first row of the part it runs

        def collect(slot: int) -> None:
            if slot in running:
                request = self._requests[slot]
                request.wait()
                vectors = request.get_output_tensor(0).data
                start = running.pop(slot)
                out[start : start + len(vectors)] = vectors

        for turn, (start, end) in enumerate(_parts(len(texts), batch_size, self.jobs)):
            tokens = _tokens(self.tokenizer, list(texts[start:end]), max_length)
            slot = turn % self.jobs
            collect(slot)
            self._requests[slot].start_async(tokens)
            running[slot] = start
        for slot in range(self.jobs):
            collect(slot)
        return out


def _parts(n: int, batch_size: int, jobs: int) -> Iterator[tuple[int, int]]:
    """``[start, end)`` of each part: every batch of ``batch_size`` split in ``jobs`` parts."""
    for first in range(0, n, batch_size):
        last = min(first + batch_size, n)
        part = -(-(last - first) // jobs)
        for start in range(first, last, part):
            yield start, min(start + part, last)


def _tokens(tokenizer: Any, texts: list[str], max_length: int) -> dict[str, np.ndarray]:
    tokens = tokenizer(
        texts, padding=True, truncation=True, max_length=max_length, return_tensors="np"
    )
    if "token_type_ids" not in tokens:
        tokens["token_type_ids"] = np.zeros_like(tokens["input_ids"])
    return {k: tokens[k] for k in ("input_ids", "attention_mask", "token_type_ids")}


def weights_digest(encoder: Encoder) -> str:
    """sha256 of the encoder's weights and settings (what an exported model must match)."""
    digest = hashlib.sha256(json.dumps(encoder.settings() | {"source": ""}).encode())
    for name, tensor in sorted(encoder.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _cache_root(encoder: Encoder, config: BackendConfig) -> Path:
    if config.cache_dir:
        return Path(config.cache_dir)
    source = Path(encoder.source)
    if source.is_dir() and os.access(source, os.W_OK):
        return source / CACHE_DIR
    return Path.home() / ".cache" / "uniret" / CACHE_DIR


def openvino_encoder(
    encoder: Encoder,
    config: BackendConfig,
    max_length: int,
    calibration_texts: Callable[[int], list[str]] | None = None,
) -> OpenVINOEncoder:
    """Export (or load from the cache) and compile ``encoder`` for OpenVINO.

    ``calibration_texts(n)`` gives ``n`` representative inputs; int8 needs it.
    """
    try:
        import openvino as ov
    except ImportError:
        raise UniretError(
            "the openvino backend needs `pip install uniret[fast]` (openvino, nncf)"
        ) from None
    key_parts = {
        "weights": weights_digest(encoder),
        "int8": config.int8,
        "calibration": config.calibration if config.int8 else 0,
        "max_length": max_length if config.int8 else 0,
        "openvino": ov.__version__,
    }
    key = hashlib.sha256(json.dumps(key_parts, sort_keys=True).encode()).hexdigest()[:16]
    folder = _cache_root(encoder, config) / f"{config.label}-{key}"
    core = ov.Core()
    if not (folder / MODEL_FILE).is_file():
        model = _export(encoder, max_length)
        if config.int8:
            if calibration_texts is None:
                raise UniretError("int8 quantization needs calibration texts")
            model = _quantize(model, encoder, calibration_texts(config.calibration), max_length)
        folder.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder) as tmp:
            tmp.mkdir()
            ov.save_model(model, str(tmp / MODEL_FILE))
            (tmp / "key.json").write_text(json.dumps(key_parts, indent=2) + "\n")
        logger.info("exported %s to %s", config.label, folder)
    properties: dict[str, Any] = {"PERFORMANCE_HINT": "THROUGHPUT"}
    threads = omp_threads()
    if threads:  # several processes on one machine: each keeps to its share, as torch does,
        # unpinned (pinned, every process's threads would sit on the same first cores)
        properties.update({"INFERENCE_NUM_THREADS": threads, "ENABLE_CPU_PINNING": False})
    if config.int8:
        properties["INFERENCE_PRECISION_HINT"] = INT8_PRECISION
    compiled = core.compile_model(str(folder / MODEL_FILE), "CPU", properties)
    jobs = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    return OpenVINOEncoder(compiled, encoder, folder, jobs=max(1, jobs))


def omp_threads() -> int | None:
    """``OMP_NUM_THREADS`` as a positive int (the thread limit torch keeps to), else None."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def _export(encoder: Encoder, max_length: int) -> Any:
    import openvino as ov

    example = {
        k: torch.from_numpy(v)
        for k, v in _tokens(encoder.tokenizer, ["an example", "two"], max_length).items()
    }
    module = _Exportable(encoder).eval()
    with torch.inference_mode(), warnings.catch_warnings():
        # tracing fixes two shape tests of the attention mask code to the values they take
        # for every padded encoder batch (no causal mask, no extra padding)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        return ov.convert_model(module, example_input=example)


def _quantize(model: Any, encoder: Encoder, texts: list[str], max_length: int) -> Any:
    import nncf

    batches = [
        _tokens(encoder.tokenizer, texts[i : i + 16], max_length) for i in range(0, len(texts), 16)
    ]
    return nncf.quantize(
        model,
        nncf.Dataset(batches),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(batches),
    )
