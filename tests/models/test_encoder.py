from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from uniret.models.biencoder import BiEncoder, BiEncoderConfig, QueryMode
from uniret.models.encoder import Encoder, Pooling, sentence_transformers_defaults


def test_cls_and_mean_pooling_by_hand(tiny_model: str) -> None:
    enc = Encoder.from_pretrained(tiny_model)
    assert enc.pooling is Pooling.CLS and not enc.normalize  # DPR default without ST config
    batch = enc.tokenize(["warsaw river", "marie curie was born in warsaw"], 16)
    with torch.no_grad():
        hidden = enc.backbone(**batch).last_hidden_state
        cls = enc(**batch)
        enc.pooling = Pooling.MEAN
        mean = enc(**batch)
    np.testing.assert_allclose(cls.numpy(), hidden[:, 0].numpy(), rtol=1e-6)
    n = int(batch["attention_mask"][0].sum())  # first text is padded: mean over real tokens only
    np.testing.assert_allclose(mean[0].numpy(), hidden[0, :n].mean(0).numpy(), rtol=1e-5, atol=1e-6)


def test_normalisation(tiny_model: str) -> None:
    enc = Encoder.from_pretrained(tiny_model, pooling="mean", normalize=True)
    with torch.no_grad():
        out = enc(**enc.tokenize(["warsaw", "poland is a river"], 16))
    np.testing.assert_allclose(out.norm(dim=-1).numpy(), [1.0, 1.0], rtol=1e-6)


def test_sentence_transformers_config_is_read(tmp_path: Path) -> None:
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_mean_tokens": True})
    )
    modules = [
        {"idx": 0, "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    assert sentence_transformers_defaults(str(tmp_path)) == (Pooling.MEAN, True)
    assert sentence_transformers_defaults(str(tmp_path / "nothing")) == (None, None)


@pytest.mark.parametrize("mode", list(QueryMode))
def test_save_load_round_trip_gives_identical_vectors(
    tiny_model: str, tmp_path: Path, mode: QueryMode
) -> None:
    config = BiEncoderConfig(
        mode=mode, tasks=("trex", "hotpotqa") if mode is QueryMode.PER_TASK else ()
    )
    model = BiEncoder.from_pretrained(tiny_model, config, pooling="mean", normalize=True)
    if mode is not QueryMode.SHARED:  # make the towers differ so a mix-up would show
        with torch.no_grad():
            for p in model.query_encoders.parameters():
                p.add_(0.01)
    model.save(tmp_path / "m")
    again = BiEncoder.from_pretrained(str(tmp_path / "m"))
    assert again.config == model.config  # the template was resolved at load: DPR's for plain BERT
    assert model.config.passage_template == "{title} {sep} {text}"
    task = "trex" if mode is QueryMode.PER_TASK else None
    queries = ["marie curie [SEP] place of birth"]
    np.testing.assert_array_equal(
        model.embed_queries(queries, task), again.embed_queries(queries, task)
    )
    np.testing.assert_array_equal(
        model.embed_passages(["Warsaw"], ["capital of poland"]),
        again.embed_passages(["Warsaw"], ["capital of poland"]),
    )
    assert (tmp_path / "m" / "passage" / "model.safetensors").is_file()
    assert not list((tmp_path / "m").rglob("*.bin")) and not list((tmp_path / "m").rglob("*.pkl"))


def test_passage_template_uses_tokenizer_separator(tiny_model: str) -> None:
    model = BiEncoder.from_pretrained(tiny_model)
    assert model.passage_texts(["Warsaw", ""], ["capital", "no title"]) == [
        "Warsaw [SEP] capital",
        "no title",
    ]
    assert model.query_sep() == " [SEP] "
