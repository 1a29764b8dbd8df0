"""Encoders compiled, used and destroyed forty times in one pytest process (run by
test_backends.py::test_encoders_are_destroyed_without_hanging; not collected by default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.models import test_backends


@pytest.mark.parametrize("cycle", range(40))
def test_cycle(
    cycle: int, tiny_model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    test_backends.test_openvino_keeps_to_omp_num_threads(tiny_model, tmp_path, monkeypatch)
    test_backends.test_openvino_fp32_matches_torch(tiny_model, tmp_path)
