"""The passage adapter: the identity at the start, saved and loaded without pickle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from uniret.models.adapter import ADAPTER_FILE, PassageAdapter


def _unit_rows(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_a_new_adapter_is_the_identity_on_unit_vectors() -> None:
    rows = _unit_rows(5, 8)
    np.testing.assert_allclose(PassageAdapter(8, 16).map(rows), rows, atol=1e-6)


def test_map_batches_give_the_forward_pass_and_unit_vectors() -> None:
    torch.manual_seed(0)
    adapter = PassageAdapter(8, 16)
    torch.nn.init.normal_(adapter.down.weight)  # a trained map: no longer the identity
    rows = _unit_rows(7, 8)
    mapped = adapter.map(rows, batch_size=3)
    with torch.no_grad():
        whole = adapter(torch.from_numpy(rows)).numpy()
    np.testing.assert_allclose(mapped, whole, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(mapped, axis=1), 1.0, atol=1e-6)
    assert not np.allclose(mapped, rows, atol=1e-3)


def test_save_and_load_round_trip_and_refuse_other_shapes(tmp_path: Path) -> None:
    torch.manual_seed(1)
    adapter = PassageAdapter(8, 16)
    torch.nn.init.normal_(adapter.down.weight)
    adapter.save(tmp_path)
    rows = _unit_rows(4, 8)
    np.testing.assert_array_equal(PassageAdapter.load(tmp_path, 8, 16).map(rows), adapter.map(rows))
    with pytest.raises(RuntimeError, match="size mismatch"):
        PassageAdapter.load(tmp_path, 8, 32)
    (tmp_path / ADAPTER_FILE).write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match=ADAPTER_FILE):
        PassageAdapter.load(tmp_path, 8, 16)
    with pytest.raises(ValueError, match="hidden"):
        PassageAdapter(8, 0)
