"""Weight-space interpolation of a fine-tuned bi-encoder with its base model, and the
average of several fine-tuned bi-encoders."""

from __future__ import annotations

import pytest
import torch

from uniret.errors import ArtifactError
from uniret.models.biencoder import BiEncoder, BiEncoderConfig, QueryMode
from uniret.models.merge import average_models, interpolate_with_base


def _moved(
    tiny_model: str, seed: int = 0, mode: QueryMode = QueryMode.SEPARATE
) -> tuple[BiEncoder, BiEncoder]:
    base = BiEncoder.from_pretrained(tiny_model, pooling="mean", normalize=True)
    tuned = BiEncoder.from_pretrained(
        tiny_model, BiEncoderConfig(mode=mode), pooling="mean", normalize=True
    )
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in tuned.parameters():
            p.add_(torch.randn_like(p))
    return base, tuned


def test_interpolation_lies_between_the_two_models(tiny_model: str) -> None:
    base, tuned = _moved(tiny_model)
    before = {k: v.clone() for k, v in tuned.state_dict().items()}
    reference = base.passage_encoder.state_dict()
    interpolate_with_base(tuned, base.passage_encoder, 0.25)
    after = tuned.state_dict()
    for key, value in after.items():
        tower_key = key.split(".", 2)[-1] if key.startswith("query_encoders.") else key
        tower_key = tower_key.removeprefix("passage_encoder.")
        want = before[key]
        if value.is_floating_point():
            want = 0.75 * before[key] + 0.25 * reference[tower_key]
        torch.testing.assert_close(value, want)
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_weight_one_is_the_base_model_and_bad_weights_are_refused(tiny_model: str) -> None:
    base, tuned = _moved(tiny_model)
    interpolate_with_base(tuned, base.passage_encoder, 1.0)
    texts = ["marie curie", "paris"]
    torch.testing.assert_close(
        torch.from_numpy(tuned.embed_queries(texts)), torch.from_numpy(base.embed_queries(texts))
    )
    with pytest.raises(ValueError, match="within"):
        interpolate_with_base(tuned, base.passage_encoder, 1.5)


def test_other_architecture_is_refused(tiny_model: str) -> None:
    _base, tuned = _moved(tiny_model)
    other = torch.nn.Linear(2, 2)
    with pytest.raises(ArtifactError, match="architecture"):
        interpolate_with_base(tuned, other, 0.5)  # type: ignore[arg-type]


def test_average_is_the_mean_of_every_tower(tiny_model: str) -> None:
    models = [_moved(tiny_model, seed)[1] for seed in (1, 2, 3)]
    states = [{k: v.clone() for k, v in m.state_dict().items()} for m in models]
    soup = average_models(models)
    assert soup is models[0]
    after = soup.state_dict()
    assert any(k.startswith("query_encoders.") for k in after)
    for key, value in after.items():
        want = states[0][key]
        if value.is_floating_point():
            want = (states[0][key] + states[1][key] + states[2][key]) / 3
        torch.testing.assert_close(value, want)
    assert all(
        not torch.equal(after[k], states[0][k]) for k in after if after[k].is_floating_point()
    )


def test_average_of_a_model_with_itself_encodes_as_it_did(tiny_model: str) -> None:
    one, two = _moved(tiny_model, 1)[1], _moved(tiny_model, 1)[1]
    texts = ["marie curie", "paris"]
    before = one.embed_queries(texts)
    average_models([one, two])
    torch.testing.assert_close(torch.from_numpy(one.embed_queries(texts)), torch.from_numpy(before))


def test_average_refuses_one_model_and_other_query_towers(tiny_model: str) -> None:
    separate = _moved(tiny_model, 1)[1]
    shared = _moved(tiny_model, 2, QueryMode.SHARED)[1]
    with pytest.raises(ValueError, match="at least two"):
        average_models([separate])
    with pytest.raises(ArtifactError, match="query towers"):
        average_models([separate, shared])


def test_models_with_a_passage_adapter_are_refused(tiny_model: str) -> None:
    base, tuned = _moved(tiny_model)
    _, other = _moved(tiny_model, seed=1)
    adapted = BiEncoder(tuned.passage_encoder, BiEncoderConfig(passage_adapter=4))
    with pytest.raises(ArtifactError, match="passage adapter"):
        interpolate_with_base(adapted, base.passage_encoder, 0.5)
    with pytest.raises(ArtifactError, match="model 2 maps its passage vectors"):
        average_models([other, adapted])
