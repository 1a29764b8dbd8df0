"""torch.distributed helpers for training under torchrun (gloo on CPU, nccl on GPU)."""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterable, Sequence
from typing import TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


def init_distributed() -> tuple[int, int]:
    """``(rank, world size)``; starts the process group under torchrun (``WORLD_SIZE`` > 1),
    to be destroyed when the process exits (see :func:`end_distributed`)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        atexit.register(end_distributed)
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def end_distributed() -> None:
    """Destroy the process group while the interpreter is still whole: left to interpreter
    shutdown, gloo's worker threads may free tensors after Python is gone and abort the
    process (SIGABRT) though its work is done."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def pick_device(name: str = "") -> torch.device:
    """``name``, else this rank's GPU when there is one, else the CPU."""
    if name:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def barrier(world: int) -> None:
    """Wait for every rank (no-op in one process)."""
    if world > 1:
        dist.barrier()


def local_slice(batch: Sequence[T], rank: int, world: int) -> list[T]:
    """This rank's slice of a global batch (trimmed so every rank gets the same size)."""
    per = len(batch) // world
    return list(batch[rank * per : (rank + 1) * per])


def average_gradients(parameters: Iterable[torch.nn.Parameter], world: int) -> None:
    """All-reduce and average gradients across ranks (no-op in one process)."""
    if world == 1:
        return
    for p in parameters:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward returns each rank its slice of the summed gradient."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        world = dist.get_world_size()
        parts = [torch.empty_like(tensor) for _ in range(world)]
        dist.all_gather(parts, tensor.contiguous())
        ctx.rank, ctx.rows = dist.get_rank(), tensor.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous()
        dist.all_reduce(grad)  # gloo has no reduce_scatter; all_reduce then slice
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def gather(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from every rank (rank order), keeping gradients to local rows.

    Identity outside torch.distributed. Every rank must pass the same shape.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    return _GatherWithGrad.apply(tensor)


def gather_ids(ids: Sequence[int], device: torch.device) -> list[int]:
    """Concatenate ``ids`` from every rank (rank order); every rank passes as many."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return list(ids)
    local = torch.tensor(list(ids), dtype=torch.int64, device=device)
    parts = [torch.empty_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, local)
    return torch.cat(parts).tolist()
