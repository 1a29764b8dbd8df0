"""Training end to end on the fixture benchmark with a tiny random model (offline, CPU)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from uniret.corpus.store import PassageStore
from uniret.errors import ArtifactError, InputError
from uniret.index.bm25 import build_bm25_index
from uniret.index.dense import build_dense_index
from uniret.index.encode import EncodeConfig, encode_shard
from uniret.index.faiss_index import IndexConfig, IndexType
from uniret.models.biencoder import BiEncoder, BiEncoderConfig
from uniret.models.encoder import ModelError
from uniret.retrieval.dense import DenseRetriever
from uniret.training.config import TrainConfig, TrainMode
from uniret.training.data import load_examples
from uniret.training.trainer import Trainer, train


@pytest.fixture
def setup(tiny_model: str, kilt_dir: Path, store: PassageStore, tmp_path: Path) -> dict[str, str]:
    """Train files (the fixture's dev examples), a dense index of the tiny model, BM25."""
    for dev in kilt_dir.glob("*-dev-kilt.jsonl"):
        shutil.copy(dev, kilt_dir / dev.name.replace("-dev-", "-train-"))
    model = BiEncoder.from_pretrained(tiny_model, pooling="mean", normalize=True)
    model.save(tmp_path / "base")
    encode_shard(
        model, str(tmp_path / "base"), store, tmp_path / "emb", config=EncodeConfig(batch_size=4)
    )
    build_dense_index(tmp_path / "emb", tmp_path / "index")
    build_bm25_index(store, tmp_path / "bm25")
    return {
        "data_dir": str(kilt_dir),
        "index": str(tmp_path / "index"),
        "bm25": str(tmp_path / "bm25"),
        "base": str(tmp_path / "base"),
        "passages": str(store.directory),
    }


def _query_side(setup: dict[str, str], **kw: object) -> TrainConfig:
    base = dict(
        data_dir=setup["data_dir"],
        index=setup["index"],
        batch_size=2,
        epochs=3,
        lr=1e-3,
        checkpoint_every=1000,
        scale=5.0,
    )
    return TrainConfig(**{**base, **kw})  # type: ignore[arg-type]


def _full(setup: dict[str, str], **kw: object) -> TrainConfig:
    """Full mode from the tiny base model, one BM25 negative per query."""
    base = dict(
        data_dir=setup["data_dir"],
        model=setup["base"],
        mode=TrainMode.FULL,
        query_mode="shared",
        passages=setup["passages"],
        bm25_index=setup["bm25"],
        hard_negatives=1,
        batch_size=2,
        epochs=2,
        lr=1e-3,
        checkpoint_every=1000,
    )
    return TrainConfig(**{**base, **kw})  # type: ignore[arg-type]


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return {
        str(p.relative_to(folder)): load_file(str(p))
        for p in sorted(folder.rglob("model.safetensors"))
        if "checkpoint" not in p.parts and "best" not in p.parts
    }


def test_query_side_learns_and_leaves_passage_encoder_bit_identical(
    setup: dict[str, str], tmp_path: Path
) -> None:
    result = train(_query_side(setup, epochs=6), tmp_path / "m")
    losses = [h["loss"] for h in result.history if "loss" in h]
    assert losses[-1] < losses[0]
    before = load_file(str(Path(setup["base"]) / "passage" / "model.safetensors"))
    after = load_file(str(tmp_path / "m" / "passage" / "model.safetensors"))
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    query = load_file(str(tmp_path / "m" / "query" / "default" / "model.safetensors"))
    assert any(not torch.equal(before[k], query[k]) for k in before)  # the query tower moved
    # the trained model serves the base index through --model
    retriever = DenseRetriever.load(setup["index"], model=str(tmp_path / "m"))
    assert len(retriever.search(["marie curie [SEP] place of birth"], 3)[0]) == 3
    assert (tmp_path / "m" / "train_config.toml").is_file() and (
        tmp_path / "m" / "train_log.json"
    ).is_file()


def test_resume_after_stop_gives_same_weights(setup: dict[str, str], tmp_path: Path) -> None:
    config = _query_side(setup, grad_accum=1)
    full = train(config, tmp_path / "full")
    stopped = Trainer(config, tmp_path / "cut").run(stop_after_steps=2)
    assert stopped.steps == 2 and not (tmp_path / "cut" / "query").exists()
    resumed = Trainer(config, tmp_path / "cut").run(resume=True)
    assert resumed.steps == full.steps
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert a.keys() == b.keys() and a
    for name in a:
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), (name, key)


def test_per_task_query_encoders_and_dev_eval(setup: dict[str, str], tmp_path: Path) -> None:
    config = _query_side(setup, query_mode="per_task", eval_every=2, eval_queries=5)
    result = train(config, tmp_path / "pt")
    assert sorted(p.name for p in (tmp_path / "pt" / "query").iterdir()) == [
        "cfever",
        "hotpotqa",
        "trex",
    ]
    assert result.best is not None and 0.0 <= result.best <= 1.0
    assert any("dev_rprec" in h for h in result.history)


def test_query_groups_share_a_tower_in_full_mode_and_the_stage_keeps_them(
    setup: dict[str, str], tmp_path: Path
) -> None:
    groups = {"cfever": "text", "hotpotqa": "text"}
    train(_full(setup, query_mode="per_task", query_groups=groups), tmp_path / "r1")
    assert sorted(p.name for p in (tmp_path / "r1" / "query").iterdir()) == ["text", "trex"]
    model = BiEncoder.from_pretrained(str(tmp_path / "r1"))
    assert model.config.query_groups == groups
    assert model.query_encoder("cfever") is model.query_encoder("hotpotqa")
    assert model.query_encoder("trex") is not model.query_encoder("cfever")
    base = load_file(str(Path(setup["base"]) / "passage" / "model.safetensors"))
    for tower in ("text", "trex"):  # both towers trained, apart from the passage tower
        moved = load_file(str(tmp_path / "r1" / "query" / tower / "model.safetensors"))
        assert any(not torch.equal(base[k], moved[k]) for k in base)
    same = ["who wrote hamlet"] * 2
    np.testing.assert_array_equal(
        model.embed_queries(same, "cfever"), model.embed_queries(same, "hotpotqa")
    )
    # a query-side stage from it keeps its groups, each tower seeded by its own
    stage = Trainer(
        _query_side(setup, query_mode="per_task", init=str(tmp_path / "r1")), tmp_path / "s"
    )
    assert list(stage.model.query_encoders) == ["text", "trex"]
    text = load_file(str(tmp_path / "r1" / "query" / "text" / "model.safetensors"))
    state = stage.model.query_encoder("hotpotqa").backbone.state_dict()
    assert all(torch.equal(text[k], state[k].cpu()) for k in text)
    with pytest.raises(ValueError, match="query_groups needs query_mode per_task"):
        _full(setup, query_groups=groups)
    # a task it was not trained on has no tower, unless "*" names one
    with pytest.raises(ArtifactError, match="no query encoder for task 'fever'"):
        model.query_encoder("fever")
    any_task = BiEncoderConfig(
        mode="per_task", tasks=("cfever", "trex"), query_groups={"*": "trex"}
    )
    assert (any_task.tower_of("fever"), any_task.tower_of("cfever")) == ("trex", "cfever")
    with pytest.raises(ValueError, match="sends other tasks to 'text', which no trained task"):
        BiEncoderConfig(mode="per_task", tasks=("trex",), query_groups={"*": "text"})


def test_a_stage_on_a_task_outside_a_grouped_model_starts_from_its_star_tower(
    setup: dict[str, str], tmp_path: Path
) -> None:
    """Low data from a per-task model: the new task's tower starts as the tower the model
    encodes it with ("*"), and the stage keeps that grouping."""
    groups = {"cfever": "text", "*": "text"}
    r1 = tmp_path / "r1"
    train(_full(setup, query_mode="per_task", query_groups=groups, tasks=["cfever", "trex"]), r1)
    model = BiEncoder.from_pretrained(str(r1))
    assert model.encodes("hotpotqa") and model.config.tower_of("hotpotqa") == "text"
    stage = Trainer(
        _query_side(setup, query_mode="per_task", init=str(r1), tasks=["hotpotqa"]), tmp_path / "s"
    )
    assert stage.model.config.query_groups == {"hotpotqa": "text", "*": "text"}
    assert list(stage.model.query_encoders) == ["text"]
    text = load_file(str(r1 / "query" / "text" / "model.safetensors"))
    state = stage.model.query_encoder("hotpotqa").backbone.state_dict()
    assert all(torch.equal(text[k], state[k].cpu()) for k in text)
    # trex's own tower is not carried into a stage that does not train trex: "*" takes it
    assert stage.model.config.tower_of("trex") == "text"
    # explicit groups over a plain per-task model: the shared tower starts as its first task's
    train(_full(setup, query_mode="per_task", tasks=["cfever", "trex"]), tmp_path / "p")
    grouped = Trainer(
        _query_side(
            setup,
            query_mode="per_task",
            init=str(tmp_path / "p"),
            tasks=["cfever", "trex"],
            query_groups={"cfever": "both", "trex": "both"},
        ),
        tmp_path / "g",
    )
    cfever = load_file(str(tmp_path / "p" / "query" / "cfever" / "model.safetensors"))
    state = grouped.model.query_encoder("trex").backbone.state_dict()
    assert all(torch.equal(cfever[k], state[k].cpu()) for k in cfever)


def test_bf16_autocast_tracks_fp32(setup: dict[str, str], tmp_path: Path) -> None:
    """Same run in fp32 and under bf16 autocast: losses agree to bf16's precision, weights
    stay fp32, and both learn."""
    runs = {p: train(_full(setup, precision=p), tmp_path / p) for p in ("fp32", "bf16")}
    fp32, bf16 = ([h["loss"] for h in runs[p].history if "loss" in h] for p in ("fp32", "bf16"))
    assert len(fp32) == len(bf16) > 2
    assert abs(fp32[0] - bf16[0]) < 0.05 * fp32[0]
    assert fp32 != bf16  # autocast did run in bf16
    assert bf16[-1] < bf16[0]
    weights = _weights(tmp_path / "bf16")
    assert weights and all(t.dtype == torch.float32 for w in weights.values() for t in w.values())
    with pytest.raises(ValueError, match="precision must be fp32 or bf16"):
        _full(setup, precision="fp16")


def test_full_mode_with_bm25_negatives(setup: dict[str, str], tmp_path: Path) -> None:
    train(_full(setup), tmp_path / "full")
    from uniret.tasks.positives import contains_answer
    from uniret.training.data import load_examples

    store = PassageStore(setup["passages"])
    mined = load_examples(tmp_path / "full" / "train-examples.jsonl")
    assert any(e.negatives for e in mined)
    for e in mined:  # negatives: never a gold page, never a passage holding the answer
        gold_pages = {store.get(p).wikipedia_id for p in e.positives}
        for n in store.get_many(e.negatives):
            assert n.wikipedia_id not in gold_pages
            assert not contains_answer(n.text, list(e.answers))
    model = BiEncoder.from_pretrained(str(tmp_path / "full"))
    base = BiEncoder.from_pretrained(setup["base"])
    moved = [
        not torch.equal(a, b)
        for a, b in zip(
            model.passage_encoder.parameters(), base.passage_encoder.parameters(), strict=True
        )
    ]
    assert any(moved)


def test_freeze_layers_keeps_embeddings_and_lower_layers(
    setup: dict[str, str], tmp_path: Path
) -> None:
    train(_full(setup, freeze_layers=1), tmp_path / "f1")
    before = load_file(str(Path(setup["base"]) / "passage" / "model.safetensors"))
    after = load_file(str(tmp_path / "f1" / "passage" / "model.safetensors"))
    frozen = [k for k in before if k.startswith("embeddings.") or ".layer.0." in k]
    upper = [k for k in before if ".layer.1." in k]
    assert frozen and upper
    assert all(torch.equal(before[k], after[k]) for k in frozen)
    assert any(not torch.equal(before[k], after[k]) for k in upper)
    with pytest.raises(ModelError, match=r"freeze_layers must be within \[0, 2\], got 3"):
        train(_full(setup, freeze_layers=3), tmp_path / "f3")


def _drift(setup: dict[str, str], trained: Path, reference: str = "", task: str = "") -> float:
    """Mean anchor_kl of the trained model's scores from a reference model's (the base model
    by default), each training query (of ``task``, else all) against the positives and
    negatives of every training query."""
    from uniret.training.loss import anchor_kl

    examples = load_examples(trained / "train-examples.jsonl")
    queries = [e for e in examples if e.task == task] if task else examples
    store = PassageStore(setup["passages"])
    ids = sorted({p for e in examples for p in (*e.positives, *e.negatives)})
    passages = store.get_many(ids)

    def scores(model: BiEncoder) -> torch.Tensor:
        p = torch.from_numpy(
            model.embed_passages([p.title for p in passages], [p.text for p in passages])
        )
        q = torch.from_numpy(model.embed_queries([e.query for e in queries]))
        return 20.0 * q @ p.T

    base = scores(BiEncoder.from_pretrained(reference or setup["base"]))
    return anchor_kl(scores(BiEncoder.from_pretrained(str(trained))), base).item()


def test_anchor_keeps_scores_near_the_starting_model_and_resumes_exactly(
    setup: dict[str, str], tmp_path: Path
) -> None:
    config = _full(setup, anchor_weight=10.0, epochs=10)
    train(_full(setup, epochs=10), tmp_path / "free")
    train(config, tmp_path / "anchored")
    assert _drift(setup, tmp_path / "anchored") < 0.25 * _drift(setup, tmp_path / "free")
    # the reference stays the starting model when a stopped run resumes from its checkpoint
    Trainer(config, tmp_path / "cut").run(stop_after_steps=2)
    Trainer(config, tmp_path / "cut").run(resume=True)
    a, b = _weights(tmp_path / "anchored"), _weights(tmp_path / "cut")
    assert a.keys() == b.keys() and a
    assert all(torch.equal(a[n][k], b[n][k]) for n in a for k in a[n])
    with pytest.raises(ValueError, match="anchor_weight needs full mode"):
        _query_side(setup, anchor_weight=1.0)


def test_a_task_teacher_pulls_that_task_s_scores_towards_its_own(
    setup: dict[str, str], tmp_path: Path
) -> None:
    teacher = tmp_path / "teacher"
    train(_full(setup, epochs=10, seed=1, tasks=("trex",)), teacher)
    train(_full(setup, epochs=10, lr=3e-4), tmp_path / "free")
    taught = _full(setup, epochs=10, lr=3e-4, teachers={"trex": str(teacher)}, teacher_weight=10)
    train(taught, tmp_path / "taught")
    near = _drift(setup, tmp_path / "taught", str(teacher), "trex")
    assert near < 0.25 * _drift(setup, tmp_path / "free", str(teacher), "trex")
    with pytest.raises(ValueError, match="teachers need full mode"):
        _query_side(setup, teachers={"trex": str(teacher)})
    with pytest.raises(ValueError, match="teachers for tasks that are not trained: grec"):
        _full(setup, tasks=("trex",), teachers={"grec": str(teacher)})
    with pytest.raises(InputError, match=r"teachers\.trex"):
        Trainer(_full(setup, teachers={"trex": str(tmp_path / "nowhere")}), tmp_path / "x")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DDP_SCRIPT = """
import sys, torch
from uniret.training.config import TrainConfig
from uniret.training.trainer import Trainer
cfg = TrainConfig(data_dir=sys.argv[1], model=sys.argv[2], mode="full", query_mode="shared",
                  passages=sys.argv[3], bm25_index=sys.argv[4], hard_negatives=1, batch_size=4,
                  epochs=1, max_steps=1, lr=0.5, warmup_ratio=0.0, examples=sys.argv[6],
                  optimizer="sgd", weight_decay=0.0, max_grad_norm=1e9)
trainer = Trainer(cfg, sys.argv[5])
result = trainer.run()
# one file per rank: ranks share stdout, where their prints may interleave
with open(f"{sys.argv[5]}.loss-{trainer.rank}", "w") as f:
    f.write(repr(result.history[0]["loss"]))
"""


def test_two_process_ddp_matches_single_process(setup: dict[str, str], tmp_path: Path) -> None:
    # examples with exactly 4 per task so one global batch of 4 is the same in both runs
    from uniret.training.data import TrainExample, save_examples

    ex = [
        TrainExample("trex", f"x{i}", q, (), (p,), (n,))
        for i, (q, p, n) in enumerate(
            [
                ("marie curie [SEP] birth", 0, 5),
                ("vistula [SEP] country", 9, 1),
                ("warsaw river", 7, 2),
                ("polar bears", 8, 3),
            ]
        )
    ]
    save_examples(tmp_path / "ex.jsonl", ex)
    args = [setup["data_dir"], setup["base"], setup["passages"], setup["bm25"]]
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [sys.executable, str(script), *args, str(tmp_path / "one"), str(tmp_path / "ex.jsonl")],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=180,
    )
    for attempt in range(2):  # a rendezvous port taken by another process: retry on a new one
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            "2",
            "--master-port",
            str(_free_port()),
            str(script),
            *args,
            str(tmp_path / "two"),
            str(tmp_path / "ex.jsonl"),
        ]
        try:
            double = subprocess.run(command, capture_output=True, text=True, env=env, timeout=180)
            break
        except subprocess.TimeoutExpired:
            if attempt:
                raise
    assert double.returncode == 0, double.stderr[-3000:]
    loss_one = float((tmp_path / "one.loss-0").read_text())
    losses_two = [float((tmp_path / f"two.loss-{rank}").read_text()) for rank in (0, 1)]
    # each rank reports the loss of its half; their mean is the global-batch loss
    assert sum(losses_two) / 2 == pytest.approx(loss_one, rel=1e-5)
    a = load_file(str(tmp_path / "one" / "passage" / "model.safetensors"))
    b = load_file(str(tmp_path / "two" / "passage" / "model.safetensors"))
    base = load_file(str(Path(setup["base"]) / "passage" / "model.safetensors"))
    # one SGD step (w - lr * g) applies the global-batch gradient: the all-reduced gradient of
    # two processes must equal the single-process one (up to float summation order: lr 0.5
    # turns a 2e-6 difference of gradient sums into 1e-6 of weight)
    assert any((a[k] - base[k]).abs().max() > 1e-4 for k in a)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=5e-6)


def test_examples_per_task_draws_k_per_task_reproducibly(
    setup: dict[str, str], tmp_path: Path
) -> None:
    # the fixture has 2 trex, 1 hotpotqa and 1 cfever training examples
    one = Trainer(_query_side(setup, examples_per_task=1, seed=3), tmp_path / "a")
    assert sorted(e.task for e in one.examples) == ["cfever", "hotpotqa", "trex"]
    again = Trainer(_query_side(setup, examples_per_task=1, seed=3), tmp_path / "b")
    assert [e.id for e in again.examples] == [e.id for e in one.examples]
    picks = {
        next(
            e.id
            for e in Trainer(
                _query_side(setup, examples_per_task=1, seed=s), tmp_path / f"s{s}"
            ).examples
            if e.task == "trex"
        )
        for s in range(8)
    }
    assert picks == {"t1", "t2"}  # the seed decides which trex example is kept
    with pytest.raises(ValueError, match="examples_per_task"):
        _query_side(setup, examples_per_task=-1)


def test_init_starts_from_a_trained_model(setup: dict[str, str], tmp_path: Path) -> None:
    train(_query_side(setup, epochs=2), tmp_path / "first")
    first = load_file(str(tmp_path / "first" / "query" / "default" / "model.safetensors"))
    # zero steps of training (lr 0) from `first`: the query tower is exactly first's
    config = _query_side(setup, epochs=1, lr=0.0, init=str(tmp_path / "first"))
    train(config, tmp_path / "second")
    second = load_file(str(tmp_path / "second" / "query" / "default" / "model.safetensors"))
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    # per-task towers are all seeded by a single trained tower
    per_task = Trainer(
        _query_side(setup, query_mode="per_task", init=str(tmp_path / "first")), tmp_path / "pt"
    )
    for task in per_task.tasks:
        state = per_task.model.query_encoder(task).backbone.state_dict()
        assert set(first) <= set(state)
        assert all(torch.equal(first[k], state[k].cpu()) for k in first)


def test_query_side_sampled_loss_uses_mined_negatives(
    setup: dict[str, str], tmp_path: Path
) -> None:
    config = _query_side(
        setup, query_side_loss="sampled", hard_negatives=1, bm25_index=setup["bm25"], epochs=6
    )
    result = train(config, tmp_path / "sampled")
    losses = [h["loss"] for h in result.history if "loss" in h]
    assert losses[-1] < losses[0]
    mined = load_examples(tmp_path / "sampled" / "train-examples.jsonl")
    assert any(e.negatives for e in mined)  # BM25 negatives were mined for the sampled loss
    before = load_file(str(Path(setup["base"]) / "passage" / "model.safetensors"))
    after = load_file(str(tmp_path / "sampled" / "passage" / "model.safetensors"))
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_mine_subject_without_mining_is_reported(
    setup: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="uniret.training.setup"):
        Trainer(_query_side(setup, mine_subject=True), tmp_path / "corpus")
    assert "mine_subject has no effect" in caplog.text


def test_query_side_approx_corpus_softmax_learns(setup: dict[str, str], tmp_path: Path) -> None:
    # 2 nearest passages + 3 uniform draws per step: the corpus is never scored whole
    config = _query_side(
        setup, query_side_loss="approx", approx_candidates=2, approx_samples=3, epochs=6
    )
    trainer = Trainer(config, tmp_path / "approx")
    assert trainer.passage_matrix is None
    result = trainer.run()
    losses = [h["loss"] for h in result.history if "loss" in h]
    assert losses[-1] < losses[0]
    before = load_file(str(Path(setup["base"]) / "passage" / "model.safetensors"))
    after = load_file(str(tmp_path / "approx" / "passage" / "model.safetensors"))
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("mode", ["query_side", "full"])
def test_distillation_pulls_the_model_toward_the_teacher(
    setup: dict[str, str], tmp_path: Path, mode: str
) -> None:
    # a teacher that ranks one non-gold passage first for every training query: with a heavy
    # distillation weight the trained model ranks it higher than the same run without it (full
    # mode: the passage tower encodes the teacher's passages and is trained on them too)
    make = _query_side if mode == "query_side" else _full
    plain = train(make(setup, epochs=4), tmp_path / "plain")
    examples = load_examples(tmp_path / "plain" / "train-examples.jsonl")
    store = PassageStore(setup["passages"])
    favourite = {e.id: next(p for p in range(len(store)) if p not in e.positives) for e in examples}
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    with (teacher / "all-train-kilt.jsonl").open("w") as out:
        for e in examples:
            hits = [favourite[e.id], *e.positives]
            provenance = [
                {"passage_id": p, "score": 1.0 - 0.5 * bool(i)} for i, p in enumerate(hits)
            ]
            out.write(json.dumps({"id": e.id, "output": [{"provenance": provenance}]}) + "\n")
    config = make(
        setup, epochs=4, distill=str(teacher), distill_weight=10.0, distill_temperature=0.1
    )
    distilled = train(config, tmp_path / "distilled")
    assert plain.steps == distilled.steps
    passages = store.get_many(list(range(len(store))))

    def mean_rank(path: Path) -> float:
        model = BiEncoder.from_pretrained(str(path))
        vectors = model.embed_passages([p.title for p in passages], [p.text for p in passages])
        ranks = []
        for e in examples:
            order = np.argsort(-(vectors @ model.embed_queries([e.query], e.task)[0]))
            ranks.append(order.tolist().index(favourite[e.id]))
        return sum(ranks) / len(ranks)

    assert mean_rank(tmp_path / "distilled") < mean_rank(tmp_path / "plain")
    # the teacher's passages: the trained tower's encodings (full mode) or frozen corpus rows
    listed = Trainer(config, tmp_path / "rows").loss.rows(np.array([0, 1]))
    assert listed.shape[0] == 2 and listed.requires_grad == (mode == "full")
    (teacher / "all-train-kilt.jsonl").write_text(  # a teacher of other queries
        json.dumps({"id": "other", "output": [{"provenance": []}]}) + "\n"
    )
    with pytest.raises(InputError, match="no query id"):
        Trainer(config, tmp_path / "unmatched")


def test_query_prefix_is_trained_saved_and_inherited(
    setup: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    train(_full(setup, query_prefix="{task}: ", max_steps=2), tmp_path / "full")
    model = BiEncoder.from_pretrained(str(tmp_path / "full"))
    assert model.config.query_prefix == "{task}: "
    raw = "marie curie [SEP] place of birth"
    sep = model.query_sep("trex")
    assert model.format_queries([raw], "trex") == [f"trex: marie curie{sep}place of birth"]
    with caplog.at_level(logging.WARNING, logger="uniret.models.biencoder"):
        assert model.format_queries([raw]) == [raw]  # no task, no prefix: said once
        assert model.format_queries([raw]) == [raw]
    assert [r.message for r in caplog.records].count(
        "this model puts '{task}: ' before each query of its tasks; queries without a known "
        "task (here None) go without it"
    ) == 1
    # the prefix reaches the vectors wherever the model embeds task inputs
    prefixed = model.embed_queries([f"trex: marie curie{sep}place of birth"], "trex")
    assert torch.equal(
        torch.from_numpy(model.embed_inputs([raw], "trex")), torch.from_numpy(prefixed)
    )
    assert not torch.equal(
        torch.from_numpy(model.embed_queries([f"marie curie{sep}place of birth"])),
        torch.from_numpy(prefixed),
    )
    # a stage started from it keeps the prefix unless it names its own
    stage = Trainer(_query_side(setup, init=str(tmp_path / "full")), tmp_path / "stage")
    assert stage.model.config.query_prefix == "{task}: "
    own = Trainer(
        _query_side(setup, init=str(tmp_path / "full"), query_prefix="q/{task} "), tmp_path / "own"
    )
    assert own.model.config.query_prefix == "q/{task} "
    with pytest.raises(ValueError, match="query_prefix"):
        _full(setup, query_prefix="{name}: ")


def test_task_weights_survive_gradient_clipping(setup: dict[str, str], tmp_path: Path) -> None:
    # one plain SGD step on trex with a norm limit so small that it clips: the step is the
    # limit times the learning rate, so a weight applied to the loss alone would vanish
    one_step = dict(
        tasks=("trex",),
        optimizer="sgd",
        weight_decay=0.0,
        warmup_ratio=0.0,
        lr=1.0,
        max_grad_norm=1e-2,
        max_steps=1,
    )
    base = _weights(Path(setup["base"]))

    def moved(weights: dict[str, float]) -> float:
        out = tmp_path / f"w{len(weights)}"
        train(_full(setup, **one_step, task_weights=weights), out)
        trained = _weights(out)
        return float(
            torch.sqrt(
                sum(((trained[f][k] - base[f][k]) ** 2).sum() for f in base for k in base[f])
            )
        )

    plain, weighted = moved({}), moved({"trex": 3.0})
    assert plain == pytest.approx(1e-2, rel=1e-3)
    assert weighted == pytest.approx(3 * plain, rel=1e-3)


def test_passage_adapter_is_trained_saved_and_maps_the_index(
    setup: dict[str, str], store: PassageStore, tmp_path: Path
) -> None:
    from uniret.cli import main
    from uniret.index.dense import DenseIndex, map_dense_index

    config = _query_side(setup, epochs=6, passage_adapter=16, adapter_lr=1e-2)
    result = train(config, tmp_path / "m")
    losses = [h["loss"] for h in result.history if "loss" in h]
    assert losses[-1] < losses[0]
    before = load_file(str(Path(setup["base"]) / "passage" / "model.safetensors"))
    after = load_file(str(tmp_path / "m" / "passage" / "model.safetensors"))
    assert all(torch.equal(before[k], after[k]) for k in before)  # the tower stays frozen
    model = BiEncoder.from_pretrained(str(tmp_path / "m"))
    assert model.config.passage_adapter == 16 and model.passage_adapter is not None
    assert model.passage_adapter.down.weight.abs().sum() > 0  # it left the identity
    # the index it searches: the frozen vectors mapped, as re-encoding with the model gives
    assert main(["index", "map", "--index", setup["index"], "--model", str(tmp_path / "m"),
                 "--out", str(tmp_path / "mapped")]) == 0  # fmt: skip
    mapped = DenseIndex.open(tmp_path / "mapped")
    assert mapped.encoder.model == str(tmp_path / "m")
    frozen = DenseIndex.open(setup["index"]).vectors()
    np.testing.assert_allclose(mapped.vectors(), model.passage_adapter.map(frozen), atol=1e-6)
    passages = store.get_many(list(range(len(store))))
    encoded = model.embed_passages([p.title for p in passages], [p.text for p in passages])
    np.testing.assert_allclose(mapped.vectors(), encoded, atol=1e-5)
    assert not np.allclose(mapped.vectors(), frozen, atol=1e-4)
    # read and mapped a few rows at a time: the same index, and no scratch file left behind
    map_dense_index(setup["index"], tmp_path / "m", tmp_path / "chunks" / "mapped", chunk=5)
    assert len(frozen) > 5 and os.listdir(tmp_path / "chunks") == ["mapped"]
    np.testing.assert_array_equal(
        DenseIndex.open(tmp_path / "chunks" / "mapped").vectors(), mapped.vectors()
    )
    # an index of compressed codes keeps its mapped vectors inside itself, exact, so a stage
    # can run over it and the index can move as one folder
    pq = IndexConfig(type=IndexType.IVFPQ, nlist=2, pq_m=4, pq_bits=4, nprobe=2)
    build_dense_index(Path(setup["index"]).parent / "emb", tmp_path / "pq", pq)
    map_dense_index(tmp_path / "pq", tmp_path / "m", tmp_path / "pq-mapped")
    shutil.move(tmp_path / "pq-mapped", tmp_path / "moved" / "pq-mapped")
    pq_mapped = DenseIndex.open(tmp_path / "moved" / "pq-mapped")
    assert not (tmp_path / "mapped" / "embeddings").exists()  # flat: the index is the vectors
    assert pq_mapped.meta.faiss["type"] == "ivfpq"
    np.testing.assert_array_equal(pq_mapped.vectors(), mapped.vectors())
    assert os.listdir(tmp_path / "moved") == ["pq-mapped"]
    Trainer(_query_side(setup, index=str(tmp_path / "moved" / "pq-mapped")), tmp_path / "pq-stage")
    retriever = DenseRetriever.load(str(tmp_path / "mapped"), model=str(tmp_path / "m"))
    assert len(retriever.search(["marie curie [SEP] place of birth"], 3)[0]) == 3
    # a stage over the mapped index keeps the map, frozen; a second map on top is refused
    stage = Trainer(_query_side(setup, index=str(tmp_path / "mapped")), tmp_path / "stage")
    assert stage.adapter is None and stage.model.passage_adapter is not None
    assert not any(p.requires_grad for p in stage.model.passage_adapter.parameters())
    with pytest.raises(InputError, match="already maps"):
        Trainer(
            _query_side(setup, index=str(tmp_path / "mapped"), passage_adapter=8), tmp_path / "x"
        )
    with pytest.raises(InputError, match="full mode trains the passage tower"):
        Trainer(_full(setup, init=str(tmp_path / "m")), tmp_path / "full")
    with pytest.raises(ArtifactError, match="no passage adapter"):
        map_dense_index(setup["index"], setup["base"], tmp_path / "none")
    with pytest.raises(ValueError, match="passage_adapter"):
        _full(setup, passage_adapter=8)
    with pytest.raises(ValueError, match="passage_adapter"):
        _query_side(setup, passage_adapter=8, query_side_loss="approx")


def test_passage_adapter_resumes_exactly(setup: dict[str, str], tmp_path: Path) -> None:
    config = _query_side(setup, passage_adapter=16, adapter_lr=1e-2)
    train(config, tmp_path / "full")
    Trainer(config, tmp_path / "cut").run(stop_after_steps=2)
    Trainer(config, tmp_path / "cut").run(resume=True)
    a, b = (load_file(str(tmp_path / d / "passage_adapter.safetensors")) for d in ("full", "cut"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
