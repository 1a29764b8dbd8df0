"""Training checkpoints: model and optimizer in safetensors, trainer state in JSON (no pickle).

A checkpoint folder holds ``model.safetensors``, ``optimizer.safetensors`` (optimizer state
tensors and the torch RNG state) and ``state.json`` (step, epoch, batch, history, the
optimizer's param groups and the run's config). It is written atomically; a resumed run with
the same config continues with exactly the weights an uninterrupted run would reach.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from uniret.errors import UniretError
from uniret.io import atomic_path, read_json, write_json
from uniret.training.config import TrainConfig

CHECKPOINT = "checkpoint"
STATE_FILE = "state.json"


def make_optimizer(
    parameters: list[torch.nn.Parameter], config: TrainConfig, device: torch.device
) -> torch.optim.Optimizer:
    """AdamW (fused where the device has the kernel: ~10x faster per step) or SGD."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(
        parameters,
        lr=config.lr,
        weight_decay=config.weight_decay,
        fused=device.type in ("cpu", "cuda"),
    )


def make_scheduler(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_ratio: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup over ``warmup_ratio`` of the steps, then linear decay to 0."""
    warmup = int(total_steps * warmup_ratio)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (
            (s + 1) / max(1, warmup)
            if s < warmup
            else max(0.0, (total_steps - s) / max(1, total_steps - warmup))
        ),
    )


def total_steps(config: TrainConfig, batches_per_epoch: int) -> int:
    """Optimizer steps of a run (``max_steps`` caps them)."""
    steps = config.epochs * math.ceil(batches_per_epoch / config.grad_accum)
    return min(steps, config.max_steps) if config.max_steps else steps


def save_checkpoint(
    folder: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    config: dict[str, Any],
) -> None:
    """Write a checkpoint folder atomically."""
    with atomic_path(folder) as tmp:
        tmp.mkdir(parents=True)
        save_model(model, str(tmp / "model.safetensors"))
        tensors, groups = _flatten_optimizer(optimizer)
        tensors["rng.torch"] = torch.get_rng_state()
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        write_json(tmp / STATE_FILE, {**state, "param_groups": groups, "config": config})


def load_checkpoint(
    folder: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    config: dict[str, Any],
    device: torch.device,
) -> dict[str, Any]:
    """Restore model, optimizer, scheduler and RNG; return the trainer state. A checkpoint of
    another config is refused, naming the keys that differ."""
    state = read_json(folder / STATE_FILE)
    if state["config"] != config:
        changed = [k for k, v in config.items() if state["config"].get(k) != v]
        raise UniretError(
            f"{folder}: the checkpoint was made with another config (differs in "
            f"{', '.join(changed)}); resume with the same config, or start over with "
            "--overwrite or in a new --out"
        )
    load_model(model, str(folder / "model.safetensors"), device=str(device))
    tensors = load_file(str(folder / "optimizer.safetensors"))
    torch.set_rng_state(tensors.pop("rng.torch"))
    _restore_optimizer(optimizer, tensors, state.pop("param_groups"), device)
    state.pop("config")
    scheduler.last_epoch = state["step"]
    for group, base, fn in zip(
        optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas, strict=True
    ):
        group["lr"] = base * fn(state["step"])
    return state


def _flatten_optimizer(
    optimizer: torch.optim.Optimizer,
) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    sd = optimizer.state_dict()
    tensors = {}
    for idx, values in sd["state"].items():
        for key, value in values.items():
            tensors[f"state.{idx}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return {k: v.contiguous().cpu() for k, v in tensors.items()}, sd["param_groups"]


def _restore_optimizer(
    optimizer: torch.optim.Optimizer,
    tensors: dict[str, torch.Tensor],
    groups: list[dict[str, Any]],
    device: torch.device,
) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = value if key == "step" else value.to(device)
    optimizer.load_state_dict({"state": state, "param_groups": groups})
