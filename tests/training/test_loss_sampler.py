from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch

from uniret.training.data import TrainExample
from uniret.training.loss import (
    ApproxCorpusSoftmaxLoss,
    CorpusSoftmaxLoss,
    DistillationLoss,
    InBatchSoftmaxLoss,
    anchor_kl,
    gold_page_mask,
    in_batch_softmax_loss,
    page_siblings,
)
from uniret.training.sampler import SamplerConfig, TaskSampling, epoch_batches, task_probabilities
from uniret.training.teacher import TeacherList


def test_loss_matches_hand_computation_2x3() -> None:
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # two queries
    p = torch.tensor(
        [[1.0, 1.0], [0.0, 1.0], [2.0, 0.0]]
    )  # positives of q0, q1, then a hard negative
    # scores: q0 -> [1, 0, 2]; q1 -> [2, 2, 0]; targets 0 and 1
    loss_q0 = -1 + math.log(math.e**1 + math.e**0 + math.e**2)
    loss_q1 = -2 + math.log(math.e**2 + math.e**2 + math.e**0)
    got = in_batch_softmax_loss(q, p, torch.tensor([0, 1]))
    assert got.item() == pytest.approx((loss_q0 + loss_q1) / 2, rel=1e-6)
    scaled = in_batch_softmax_loss(q, p, torch.tensor([0, 1]), scale=2.0)
    assert scaled.item() == pytest.approx(
        (-2 + math.log(math.e**2 + 1 + math.e**4) - 4 + math.log(2 * math.e**4 + 1)) / 2, rel=1e-6
    )


def _example(positives: tuple[int, ...], negatives: tuple[int, ...] = ()) -> TrainExample:
    return TrainExample("t", "x", "q", (), positives, negatives)


def test_corpus_softmax_counts_every_positive() -> None:
    corpus = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    q = torch.tensor([[1.0, 0.0]])  # scores 1, 0, 1
    loss = CorpusSoftmaxLoss(corpus, scale=1.0)(q, [_example((0, 2))], 0, 0)
    # -log((e^1 + e^1) / (e^1 + e^0 + e^1))
    assert loss.item() == pytest.approx(-math.log(2 * math.e / (2 * math.e + 1)), rel=1e-6)


def test_in_batch_loss_puts_positives_first_then_hard_negatives() -> None:
    rows = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]])
    asked: list[list[int]] = []

    def frozen(ids: list[int]) -> tuple[torch.Tensor, int]:
        asked.append(ids)
        return rows[torch.tensor(ids)], 0

    loss_fn = InBatchSoftmaxLoss(frozen, 4, hard_negatives=1, scale=1.0, seed=0)
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    batch = [_example((0,), (3,)), _example((1,), (2,))]
    loss = loss_fn(q, batch, epoch=0, step=0)
    assert asked == [[0, 1, 3, 2]]  # positives of q0, q1, then one negative each
    expected = in_batch_softmax_loss(q, rows[torch.tensor([0, 1, 3, 2])], torch.tensor([0, 1]))
    assert loss.item() == pytest.approx(expected.item())
    # too few negatives: random corpus passages fill in, the same ones for the same step
    short = InBatchSoftmaxLoss(frozen, 4, hard_negatives=3, scale=1.0, seed=0)
    assert short.batch_passages(batch, 1, 2) == short.batch_passages(batch, 1, 2)
    assert len(short.batch_passages(batch, 1, 2)) == 2 + 2 * 3


def test_passages_of_a_querys_gold_pages_are_not_its_negatives() -> None:
    """q0 and q1 share page A (passages 0 and 1); q1's negative 3 is on q0's other gold page
    B. q0's softmax leaves out passages 1 and 3, q1's leaves out passage 0, its own target
    stays; the loss is the hand-computed one over what is left."""
    pages = {0: "A", 1: "A", 2: "C", 3: "B", 4: "D"}
    page_of = lambda ids: [pages[i] for i in ids]  # noqa: E731
    batch = [_example((0, 3), (4,)), _example((1,), (3,))]
    mask = gold_page_mask(batch, [0, 1, 4, 3], [0, 1], page_of)
    assert mask.tolist() == [[False, True, False, True], [True, False, False, False]]
    rows = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.5, 0.5], [1.0, 1.0]])
    frozen = lambda ids: (rows[torch.tensor(ids)], 0)  # noqa: E731
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    masked = InBatchSoftmaxLoss(frozen, 5, hard_negatives=1, scale=1.0, seed=0, page_of=page_of)
    plain = InBatchSoftmaxLoss(frozen, 5, hard_negatives=1, scale=1.0, seed=0)
    assert masked.batch_passages(batch, 0, 0) == [0, 1, 4, 3]
    s0 = [1.0, 0.9, 1.0, 0.5]  # q0 . rows[0, 1, 4, 3]
    s1 = [0.0, 0.2, 2.0, 1.0]  # q1 . rows[0, 1, 4, 3]
    lse = lambda xs: math.log(sum(math.exp(x) for x in xs))  # noqa: E731
    want = ((lse([s0[0], s0[2]]) - s0[0]) + (lse([s1[1], s1[2], s1[3]]) - s1[1])) / 2
    assert masked(q, batch, 0, 0).item() == pytest.approx(want, rel=1e-6)
    assert plain(q, batch, 0, 0).item() == pytest.approx(
        ((lse(s0) - s0[0]) + (lse(s1) - s1[1])) / 2, rel=1e-6
    )


def test_anchor_kl_by_hand_and_masked_columns_left_out() -> None:
    reference = torch.tensor([[0.0, math.log(3.0)], [1.0, 1.0]])  # q0: [1/4, 3/4]; q1: [1/2, 1/2]
    scores = torch.tensor([[0.0, 0.0], [1.0, 1.0]])  # q0: [1/2, 1/2]; q1 unchanged
    want = (0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)) / 2
    assert anchor_kl(scores, reference).item() == pytest.approx(want, rel=1e-6)
    assert anchor_kl(reference, reference).item() == pytest.approx(0.0, abs=1e-7)
    # a masked column is out of both distributions, whatever its scores
    wide = torch.cat([scores, torch.tensor([[5.0], [-3.0]])], 1)
    wide_ref = torch.cat([reference, torch.tensor([[-2.0], [7.0]])], 1)
    mask = torch.tensor([[False, False, True], [False, False, True]])
    assert anchor_kl(wide, wide_ref, mask).item() == pytest.approx(want, rel=1e-6)
    assert anchor_kl(wide, wide_ref).item() > want


ROWS = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]])
"""Four frozen passage vectors; :func:`_in_batch` scores two queries against them."""


def _in_batch(q: torch.Tensor, **references: object) -> torch.Tensor:
    """The in-batch loss of queries ``q`` (positives 0 and 1, hard negatives 3 and 2: the
    batch's passages are rows 0, 1, 3, 2) at scale 2, with the given reference terms."""
    frozen = lambda ids: (ROWS[torch.tensor(ids)], 0)  # noqa: E731
    batch = [_example((0,), (3,)), _example((1,), (2,))]
    loss = InBatchSoftmaxLoss(frozen, 4, hard_negatives=1, scale=2.0, seed=0, **references)
    return loss(q, batch, 0, 0)


def test_in_batch_loss_adds_the_weighted_anchor_term() -> None:
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]], requires_grad=True)
    ref_q = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    moved = lambda b, ids: (ref_q, ROWS[torch.tensor(ids)])  # noqa: E731
    same = lambda b, ids: (q.detach(), ROWS[torch.tensor(ids)])  # noqa: E731
    plain = _in_batch(q)
    anchored = _in_batch(q, anchor=moved, anchor_weight=0.5)
    p = ROWS[torch.tensor([0, 1, 3, 2])]
    drift = anchor_kl(2.0 * q @ p.T, 2.0 * ref_q @ p.T)
    assert drift.item() > 0
    assert anchored.item() == pytest.approx(plain.item() + 0.5 * drift.item(), rel=1e-6)
    unmoved = _in_batch(q, anchor=same, anchor_weight=0.5)
    assert unmoved.item() == pytest.approx(plain.item(), rel=1e-6)
    anchored.backward()  # gradients reach the trained queries, none the reference
    assert q.grad is not None and torch.isfinite(q.grad).all()


def test_in_batch_loss_adds_a_teacher_term_where_the_teacher_gives_one() -> None:
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]], requires_grad=True)
    teacher_q = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    teacher_p = torch.tensor([[1.0, 1.0], [0.0, 1.0], [3.0, 0.0], [0.0, 2.0]])  # its own tower
    teacher = lambda b, ids: (teacher_q, teacher_p)  # noqa: E731
    absent = lambda b, ids: None  # noqa: E731
    plain = _in_batch(q)
    taught = _in_batch(q, teacher=teacher, teacher_weight=0.3)
    p = ROWS[torch.tensor([0, 1, 3, 2])]
    pull = anchor_kl(2.0 * q @ p.T, 2.0 * teacher_q @ teacher_p.T)
    assert pull.item() > 0
    assert taught.item() == pytest.approx(plain.item() + 0.3 * pull.item(), rel=1e-6)
    untaught = _in_batch(q, teacher=absent, teacher_weight=0.3)
    assert untaught.item() == pytest.approx(plain.item(), rel=1e-6)
    both = _in_batch(q, anchor=teacher, anchor_weight=1.0, teacher=teacher, teacher_weight=0.3)
    assert both.item() == pytest.approx(plain.item() + 1.3 * pull.item(), rel=1e-6)


TASKS = ["a"] * 600 + ["b"] * 300 + ["c"] * 100  # sizes 600 / 300 / 100


def test_batches_are_homogeneous_and_deterministic() -> None:
    cfg = SamplerConfig(batch_size=10, seed=3)
    batches = epoch_batches(TASKS, cfg, epoch=0)
    assert all(len({TASKS[i] for i in b}) == 1 for b in batches)
    assert batches == epoch_batches(TASKS, cfg, epoch=0)  # same seed + epoch
    assert batches != epoch_batches(TASKS, cfg, epoch=1)  # next epoch reshuffles
    # proportional: every example exactly once per epoch
    assert sorted(i for b in batches for i in b) == list(range(len(TASKS)))


@pytest.mark.parametrize(
    ("sampling", "expected"),
    [
        (TaskSampling.PROPORTIONAL, {"a": 0.6, "b": 0.3, "c": 0.1}),
        (TaskSampling.UNIFORM, {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}),
        # T=2: weights sqrt(600), sqrt(300), sqrt(100)
        (
            TaskSampling.TEMPERATURE,
            {
                t: w / (600**0.5 + 300**0.5 + 10)
                for t, w in (("a", 600**0.5), ("b", 300**0.5), ("c", 10.0))
            },
        ),
    ],
)
def test_sampling_ratios_hold(sampling: TaskSampling, expected: dict[str, float]) -> None:
    cfg = SamplerConfig(batch_size=5, sampling=sampling, temperature=2.0, seed=0)
    assert task_probabilities(Counter(TASKS), cfg) == pytest.approx(expected)
    counts: Counter[str] = Counter()
    for epoch in range(10):
        counts.update(TASKS[b[0]] for b in epoch_batches(TASKS, cfg, epoch))
    total = sum(counts.values())
    for task, p in expected.items():
        assert counts[task] / total == pytest.approx(p, abs=0.02)


def _exact_search(corpus: torch.Tensor):  # type: ignore[no-untyped-def]
    def search(queries, k):  # type: ignore[no-untyped-def]
        scores = torch.from_numpy(queries) @ corpus.T
        return scores.topk(min(k, len(corpus)), dim=-1).indices.numpy()

    return search


def _approx(corpus: torch.Tensor, candidates: int, samples: int, seed: int = 0):  # type: ignore[no-untyped-def]
    return ApproxCorpusSoftmaxLoss(
        _exact_search(corpus),
        lambda ids: corpus[torch.from_numpy(ids)].numpy(),
        len(corpus),
        candidates,
        samples,
        scale=20.0,
        seed=seed,
    )


def test_approx_corpus_softmax_is_exact_when_every_passage_is_a_candidate() -> None:
    torch.manual_seed(0)
    corpus = torch.nn.functional.normalize(torch.randn(300, 16), dim=-1)
    queries = torch.nn.functional.normalize(torch.randn(4, 16), dim=-1)
    batch = [TrainExample("t", str(i), "q", (), (i * 7, i * 7 + 1)) for i in range(4)]
    exact = CorpusSoftmaxLoss(corpus, 20.0)(queries, batch, 0, 0)
    approx = _approx(corpus, candidates=300, samples=64)(queries, batch, 0, 0)
    assert torch.allclose(exact, approx, atol=1e-5)


def test_approx_corpus_softmax_estimates_the_tail_and_has_gradients() -> None:
    torch.manual_seed(1)
    corpus = torch.nn.functional.normalize(torch.randn(5000, 32), dim=-1)
    queries = torch.nn.functional.normalize(torch.randn(8, 32), dim=-1).requires_grad_()
    batch = [TrainExample("t", str(i), "q", (), (i,)) for i in range(8)]
    exact = CorpusSoftmaxLoss(corpus, 20.0)(queries, batch, 0, 0)
    top_only = _approx(corpus, candidates=20, samples=0)(queries, batch, 0, 0)
    estimates = [_approx(corpus, 20, 2000, seed)(queries, batch, 0, 0) for seed in range(5)]
    mean = torch.stack(estimates).mean()
    # the top candidates alone under-count the partition function; the samples correct it
    assert top_only < exact - 0.5
    assert abs(mean.item() - exact.item()) < 0.05 * exact.item()
    estimates[0].backward()
    assert queries.grad is not None and queries.grad.abs().sum() > 0


def test_random_positive_draws_every_gold_passage() -> None:
    frozen = lambda ids: (torch.eye(8)[ids], 0)  # noqa: E731
    batch = [_example((1, 2, 3))]
    first = InBatchSoftmaxLoss(frozen, 8, hard_negatives=0, scale=1.0, seed=0)
    drawn = InBatchSoftmaxLoss(frozen, 8, hard_negatives=0, scale=1.0, seed=0, random_positive=True)
    assert {first.batch_passages(batch, 0, s)[0] for s in range(30)} == {1}
    assert {drawn.batch_passages(batch, 0, s)[0] for s in range(30)} == {1, 2, 3}


def test_distillation_adds_the_kl_to_the_teachers_softmax_by_hand() -> None:
    corpus = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    q = torch.tensor([[1.0, 0.0]])  # student scores over the teacher's list [2, 1]: 1, 0
    teacher = {"x": TeacherList(np.array([2, 1]), np.array([1.0, 0.5], dtype=np.float32))}
    base = CorpusSoftmaxLoss(corpus, scale=1.0)
    loss = DistillationLoss(
        base, teacher, lambda ids: corpus[torch.from_numpy(ids)], 2.0, 0.5, 1.0
    )(q, [_example((0,))], 0, 0)
    t = [math.exp(2) / (math.exp(2) + math.exp(1)), math.exp(1) / (math.exp(2) + math.exp(1))]
    s = [math.e / (math.e + 1), 1 / (math.e + 1)]
    kl = sum(ti * math.log(ti / si) for ti, si in zip(t, s, strict=True))
    expected = base(q, [_example((0,))], 0, 0).item() + 2.0 * kl
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # a query the teacher did not rank adds nothing
    alone = DistillationLoss(base, {}, lambda ids: corpus[torch.from_numpy(ids)], 2.0, 0.5, 1.0)
    assert alone(q, [_example((0,))], 0, 0).item() == pytest.approx(
        base(q, [_example((0,))], 0, 0).item()
    )


def test_corpus_softmax_leaves_other_passages_of_gold_pages_out() -> None:
    corpus = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]])
    pages = np.array(["a", "b", "a", "c"], dtype=object)  # passages 0 and 2 share page a
    q = torch.tensor([[1.0, 0.0]])  # scores 1, 0, 1, 2
    siblings = page_siblings(pages)
    assert sorted(siblings([0]).tolist()) == [0, 2]
    masked = CorpusSoftmaxLoss(corpus, scale=1.0, siblings=siblings)(q, [_example((0,))], 0, 0)
    # passage 2 (page a, not a positive) is out of the denominator: e^1 / (e^1 + e^0 + e^2)
    assert masked.item() == pytest.approx(-math.log(math.e / (math.e + 1 + math.e**2)), rel=1e-6)
    plain = CorpusSoftmaxLoss(corpus, scale=1.0)(q, [_example((0,))], 0, 0)
    assert plain.item() == pytest.approx(-math.log(math.e / (2 * math.e + 1 + math.e**2)))
