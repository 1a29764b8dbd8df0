"""Weight-space ensembling: a fine-tuned bi-encoder with the base model it started from
(WiSE-FT, Wortsman et al. 2022), a cheap check on a fine-tuned tower forgetting what the base
model knew, tuned by one number and no training; and several fine-tuned bi-encoders averaged
into one (a uniform model soup, Wortsman et al. 2022), one model that costs what each does."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from uniret.errors import ArtifactError
from uniret.models.biencoder import BiEncoder
from uniret.models.encoder import Encoder


def interpolate_with_base(model: BiEncoder, base: Encoder, base_weight: float) -> BiEncoder:
    """Every tower of ``model`` (passage and query encoders, all started from ``base``) set
    in place to ``(1 - w) · θ_tower + w · θ_base`` with ``w = base_weight`` in [0, 1]; integer
    buffers (position ids) are kept. Returns ``model``."""
    if not 0.0 <= base_weight <= 1.0:
        raise ValueError(f"base_weight must be within [0, 1], got {base_weight}")
    _refuse_adapters([model])
    reference = base.state_dict()
    towers = [("passage", model.passage_encoder), *model.query_encoders.items()]
    for name, tower in towers:
        state = tower.state_dict()
        if not _same_shapes(state, reference):
            raise ArtifactError(
                f"the {name} encoder does not have the base model's architecture; "
                "only a model fine-tuned from that base can be interpolated with it"
            )
        mixed = {
            k: torch.lerp(v, reference[k].to(v), base_weight) if v.is_floating_point() else v
            for k, v in state.items()
        }
        tower.load_state_dict(mixed)
    return model


def average_models(models: Sequence[BiEncoder]) -> BiEncoder:
    """A uniform soup: every tower of the first model set in place to the mean
    ``θ = (1/n) Σ_i θ_i`` of that tower over the ``n`` models; integer buffers are the first
    model's. The models must have the same query towers and architecture, and should be
    fine-tuned from one base model (the mean of unrelated networks is no model). Returns the
    first model."""
    if len(models) < 2:
        raise ValueError(f"averaging needs at least two models, got {len(models)}")
    _refuse_adapters(models)
    first = models[0]
    names = ["passage", *first.query_encoders]
    for i, other in enumerate(models[1:], start=2):
        if other.config.mode is not first.config.mode or list(other.query_encoders) != names[1:]:
            raise ArtifactError(
                f"model {i} has query towers {list(other.query_encoders)} in "
                f"{other.config.mode} mode; model 1 has {names[1:]} in {first.config.mode} mode"
            )
    for name in names:
        states = [_tower(m, name).state_dict() for m in models]
        for i, state in enumerate(states[1:], start=2):
            if not _same_shapes(state, states[0]):
                raise ArtifactError(
                    f"the {name} encoder of model {i} does not have model 1's architecture"
                )
        mean = {
            k: torch.stack([s[k].to(v) for s in states]).mean(0) if v.is_floating_point() else v
            for k, v in states[0].items()
        }
        _tower(first, name).load_state_dict(mean)
    return first


def _refuse_adapters(models: Sequence[BiEncoder]) -> None:
    """Weight-space merges move passage towers; a passage adapter was trained on its own
    tower's vectors and would be left behind, so models with one are refused."""
    for i, model in enumerate(models, start=1):
        if model.passage_adapter is not None:
            raise ArtifactError(
                f"model {i} maps its passage vectors with a passage adapter, trained on its own "
                "passage tower's vectors; weight-space merges take models without one"
            )


def _tower(model: BiEncoder, name: str) -> Encoder:
    return model.passage_encoder if name == "passage" else model.query_encoders[name]


def _same_shapes(state: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> bool:
    return state.keys() == reference.keys() and all(
        state[k].shape == reference[k].shape for k in state
    )
