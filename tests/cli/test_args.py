"""The CLI's torch device choice and the CPU thread count it sets."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch

from uniret.cli.args import device, usable_cores


@pytest.fixture
def threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_a_named_device_is_kept(threads: None) -> None:
    assert device("cpu") == "cpu"
    assert device("cuda:1") == "cuda:1"


@pytest.mark.skipif(torch.cuda.is_available(), reason="picks cuda")
def test_cpu_uses_the_cores_it_may_run_on(threads: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(1)
    assert device(None) == "cpu"
    assert torch.get_num_threads() == usable_cores()
    if hasattr(os, "sched_getaffinity"):
        assert usable_cores() == len(os.sched_getaffinity(0))


@pytest.mark.skipif(torch.cuda.is_available(), reason="picks cuda")
def test_omp_num_threads_decides_when_set(threads: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    assert device(None) == "cpu"
    assert torch.get_num_threads() == 1
