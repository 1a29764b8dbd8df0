"""Contrastive retrieval losses."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch.nn import functional as F


def in_batch_softmax_loss(
    queries: torch.Tensor, passages: torch.Tensor, targets: torch.Tensor, scale: float = 1.0
) -> torch.Tensor:
    """DPR loss: ``-mean_i log softmax_j(scale · q_i·p_j)[t_i]``.

    ``passages`` holds every passage of the batch (each query's positive, the other queries'
    positives, all hard negatives); ``targets[i]`` is the row of query i's positive.
    """
    scores = scale * queries @ passages.T
    return F.cross_entropy(scores, targets)


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
