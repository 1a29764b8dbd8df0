"""Weight-space ensembling of a fine-tuned bi-encoder with the base model it started from
(WiSE-FT, Wortsman et al. 2022): a cheap check on a fine-tuned tower forgetting what the base
model knew, tuned by one number and no training."""

from __future__ import annotations

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
    reference = base.state_dict()
    towers = [("passage", model.passage_encoder), *model.query_encoders.items()]
    for name, tower in towers:
        state = tower.state_dict()
        if state.keys() != reference.keys() or any(
            state[k].shape != reference[k].shape for k in state
        ):
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
