"""A passage adapter: a small trainable map applied to a frozen passage tower's vectors.

The query-side stage keeps the passage vectors of the index it trains over; an adapter lets the
passage side move too without re-encoding the corpus: every vector ``p`` of the index becomes
``normalize(p + W2 gelu(W1 p + b1) + b2)``, a residual two-layer map that starts as the identity
(``W2``, ``b2`` zero). It is trained jointly with the query tower through the corpus softmax,
saved with the model, and applied once to the index's vectors afterwards (``uniret index map``)
and to every passage the model encodes later.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

ADAPTER_FILE = "passage_adapter.safetensors"


class PassageAdapter(nn.Module):
    """``p -> normalize(p + W2 gelu(W1 p + b1) + b2)``, ``dim -> hidden -> dim``, the identity at
    the start."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        if dim < 1 or hidden < 1:
            raise ValueError(f"a passage adapter needs dim and hidden >= 1, got {dim}, {hidden}")
        self.up = nn.Linear(dim, hidden)
        self.down = nn.Linear(hidden, dim)
        nn.init.zeros_(self.down.weight)
        nn.init.zeros_(self.down.bias)

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        moved = vectors + self.down(nn.functional.gelu(self.up(vectors)))
        return nn.functional.normalize(moved, dim=-1)

    def map(self, vectors: np.ndarray, batch_size: int = 65536) -> np.ndarray:
        """Mapped float32 copies of ``vectors`` (rows), without gradients, batch by batch."""
        out = np.empty_like(vectors, dtype=np.float32)
        device = self.up.weight.device
        with torch.inference_mode():
            for start in range(0, len(vectors), batch_size):
                rows = torch.from_numpy(np.ascontiguousarray(vectors[start : start + batch_size]))
                out[start : start + len(rows)] = self(rows.float().to(device)).cpu().numpy()
        return out

    def save(self, directory: Path) -> None:
        """Write the weights to ``directory/passage_adapter.safetensors``."""
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(tensors, str(directory / ADAPTER_FILE))

    @classmethod
    def load(cls, directory: Path, dim: int, hidden: int) -> PassageAdapter:
        """The adapter saved in ``directory`` (shapes checked against ``dim`` and ``hidden``)."""
        adapter = cls(dim, hidden)
        try:
            weights = load_file(str(directory / ADAPTER_FILE))
        except SafetensorError as exc:
            raise ValueError(f"{ADAPTER_FILE}: {exc}") from None
        adapter.load_state_dict(weights)
        return adapter
