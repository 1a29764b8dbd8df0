"""Contrastive retrieval losses, one module each; every one maps (query vectors of a batch,
the batch's examples) to a scalar loss."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from uniret.training.data import TrainExample
from uniret.training.distributed import gather_ids
from uniret.training.teacher import TeacherList

PassageVectors = Callable[[list[int]], tuple[torch.Tensor, int]]
"""Passage ids -> (vectors of every passage of the global batch, offset of this rank's rows)."""


PageOf = Callable[[Sequence[int]], Sequence[str] | np.ndarray]
"""Passage ids -> the id of each one's page."""


Reference = Callable[[Sequence[TrainExample], list[int]], tuple[torch.Tensor, torch.Tensor] | None]
"""(batch, passage ids) -> a reference model's vectors of the batch's queries and of every
passage of the global batch (the rows :data:`PassageVectors` gives), without gradients; None
when it has none for this batch (a teacher of another task)."""


def in_batch_softmax_loss(
    queries: torch.Tensor,
    passages: torch.Tensor,
    targets: torch.Tensor,
    scale: float = 1.0,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """DPR loss: ``-mean_i log softmax_{j ∉ M_i}(scale · q_i·p_j)[t_i]``.

    ``passages`` holds every passage of the batch (each query's positive, the other queries'
    positives, all hard negatives); ``targets[i]`` is the row of query i's positive;
    ``mask[i, j]`` true puts passage j in ``M_i``, out of query i's softmax (never its target).
    """
    scores = scale * queries @ passages.T
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    return F.cross_entropy(scores, targets)


def anchor_kl(
    scores: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """How far query i's scores over the batch moved from a reference model's:
    ``mean_i KL(softmax(r_i) ‖ softmax(s_i))``, over the passages j ∉ ``M_i`` (``mask[i, j]``
    true leaves passage j out of both distributions)."""
    if mask is not None:  # a finite floor: exp underflows to 0, and no -inf - -inf = nan
        scores = scores.masked_fill(mask, -1e4)
        reference = reference.masked_fill(mask, -1e4)
    return F.kl_div(
        F.log_softmax(scores.float(), -1),
        F.log_softmax(reference.float(), -1),
        log_target=True,
        reduction="batchmean",
    )


def gold_page_mask(
    batch: Sequence[TrainExample], rows: Sequence[int], targets: Sequence[int], page_of: PageOf
) -> torch.Tensor:
    """``mask[i, j]``: passage ``rows[j]`` belongs to one of query i's gold pages and is not its
    target. Those are not negatives: queries of a batch that share evidence pages would
    otherwise push away their own gold pages (most of a Climate-FEVER batch does)."""
    pages = np.asarray(page_of(rows), dtype=object)
    mask = np.zeros((len(batch), len(rows)), dtype=bool)
    for i, example in enumerate(batch):
        mask[i] = np.isin(pages, np.asarray(page_of(example.positives), dtype=object))
        mask[i, targets[i]] = False
    return torch.from_numpy(mask)


def batch_passages(
    batch: Sequence[TrainExample],
    rng: np.random.Generator,
    hard_negatives: int,
    corpus_size: int,
    *,
    random_positive: bool = False,
) -> list[int]:
    """The passage ids a batch is scored against: each query's positive (its first, or one
    drawn when ``random_positive``), then ``hard_negatives`` of each query's negatives, topped
    up with random corpus passages when it has fewer."""
    if random_positive:
        ids = [e.positives[int(rng.integers(len(e.positives)))] for e in batch]
    else:
        ids = [e.positives[0] for e in batch]
    for e in batch:
        pool = list(e.negatives)
        picks = [pool[i] for i in rng.permutation(len(pool))[:hard_negatives]]
        while len(picks) < hard_negatives:
            picks.append(int(rng.integers(corpus_size)))
        ids += picks
    return ids


class InBatchSoftmaxLoss(nn.Module):
    """DPR's loss: each query against every passage of the batch, one positive the target
    (its first, or with ``random_positive`` one drawn per step, so that every gold passage of
    a multi-evidence query is trained on); ``hard_negatives`` of each query's negatives join
    the batch (random passages fill in where it has too few). Passage vectors come from
    ``passages``: encoded by the trained passage tower (full mode, gathered across ranks) or
    rows of frozen vectors. With ``page_of``, a batch passage from one of a query's gold
    pages is not one of its negatives (:func:`gold_page_mask`).

    With ``anchor`` (a frozen copy of the starting model) and ``anchor_weight`` λ > 0:
    ``loss + λ · anchor_kl(s · Q·Pᵀ, s · Q̄·P̄ᵀ)``, the in-batch score distributions kept near
    the starting model's (:func:`anchor_kl`; ``Q̄``, ``P̄`` its vectors of the same queries
    and passages): what the base model knew about tasks outside the training mix is pulled
    on, not only the trained tasks' positives. ``teacher`` and ``teacher_weight`` add the same
    term towards another model's distributions (a task-specific teacher of the batch's task:
    distillation over the batch's passages), where it gives one."""

    def __init__(
        self,
        passages: PassageVectors,
        corpus_size: int,
        hard_negatives: int,
        scale: float,
        seed: int,
        rank: int = 0,
        random_positive: bool = False,
        page_of: PageOf | None = None,
        anchor: Reference | None = None,
        anchor_weight: float = 0.0,
        teacher: Reference | None = None,
        teacher_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.passages = passages
        self.corpus_size = corpus_size
        self.hard_negatives = hard_negatives
        self.scale = scale
        self.seed = seed
        self.rank = rank
        self.random_positive = random_positive
        self.page_of = page_of
        self.references = [
            (reference, weight)
            for reference, weight in ((anchor, anchor_weight), (teacher, teacher_weight))
            if reference is not None and weight
        ]

    def batch_passages(self, batch: Sequence[TrainExample], epoch: int, step: int) -> list[int]:
        """Each query's positive, then its hard negatives (deterministic per step)."""
        rng = np.random.default_rng([self.seed, epoch, step, self.rank])
        return batch_passages(
            batch, rng, self.hard_negatives, self.corpus_size, random_positive=self.random_positive
        )

    def forward(
        self, queries: torch.Tensor, batch: Sequence[TrainExample], epoch: int, step: int
    ) -> torch.Tensor:
        ids = self.batch_passages(batch, epoch, step)
        vectors, offset = self.passages(ids)
        targets = torch.arange(len(batch), device=queries.device) + offset
        mask = None
        if self.page_of is not None:
            # the rows of every rank when the passages were gathered across ranks
            rows = ids if len(vectors) == len(ids) else gather_ids(ids, queries.device)
            mask = gold_page_mask(batch, rows, targets.tolist(), self.page_of)
            mask = mask.to(queries.device)
        loss = in_batch_softmax_loss(queries, vectors, targets, self.scale, mask)
        for reference, weight in self.references:
            given = reference(batch, ids)
            if given is None:
                continue
            ref_queries, ref_passages = given
            drift = anchor_kl(
                self.scale * queries @ vectors.T, self.scale * ref_queries @ ref_passages.T, mask
            )
            loss = loss + weight * drift
        return loss


def page_siblings(page_of_passage: np.ndarray) -> Callable[[Sequence[int]], np.ndarray]:
    """A lookup ``passage ids -> every passage id of their pages``, from the page id of each
    passage (indexed by passage id; sorted once)."""
    order = np.argsort(page_of_passage, kind="stable")
    pages = page_of_passage[order]

    def siblings(ids: Sequence[int]) -> np.ndarray:
        found = []
        for page in set(page_of_passage[np.asarray(ids, dtype=np.int64)].tolist()):
            lo, hi = np.searchsorted(pages, page, "left"), np.searchsorted(pages, page, "right")
            found.append(order[lo:hi])
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)

    return siblings


class CorpusSoftmaxLoss(nn.Module):
    """Query side, exact: a softmax over every passage vector of the (frozen) corpus, all of a
    query's positives counted: ``-mean_i log (sum_{p in P_i} e^{s q_i·p} / sum_{p ∉ M_i}
    e^{s q_i·p})``. With ``siblings`` (:func:`page_siblings`), ``M_i`` holds the passages of
    query i's gold pages that are not among its positives: page-level evidence, not
    negatives; else ``M_i`` is empty. With ``adapter`` (a trained passage map), every ``p`` is
    the adapter's image of the frozen vector, recomputed each step so the map learns too."""

    def __init__(
        self,
        passages: torch.Tensor,
        scale: float,
        siblings: Callable[[Sequence[int]], np.ndarray] | None = None,
        adapter: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.register_buffer("corpus", passages, persistent=False)
        self.scale = scale
        self.siblings = siblings
        self.adapter = adapter

    def forward(
        self, queries: torch.Tensor, batch: Sequence[TrainExample], epoch: int, step: int
    ) -> torch.Tensor:
        corpus = self.corpus if self.adapter is None else self.adapter(self.corpus)
        scores = self.scale * queries @ corpus.T
        if self.siblings is not None:
            mask = torch.zeros(scores.shape, dtype=torch.bool)
            for i, example in enumerate(batch):
                mask[i, torch.from_numpy(self.siblings(example.positives))] = True
                mask[i, list(example.positives)] = False
            scores = scores.masked_fill(mask.to(scores.device), float("-inf"))
        positive = torch.full_like(scores, float("-inf"))
        for i, example in enumerate(batch):
            idx = torch.tensor(example.positives, device=scores.device)
            positive[i, idx] = scores[i, idx]
        return (torch.logsumexp(scores, -1) - torch.logsumexp(positive, -1)).mean()


class ApproxCorpusSoftmaxLoss(nn.Module):
    """Query side, approximate corpus softmax, for corpora too large to score whole each step.

    The terms that dominate the partition function are exact: ``C``, the union over the batch
    of every query's ``candidates`` nearest passages (searched in the corpus index with the
    current query vectors) and the batch's positives. The rest of the corpus is estimated from
    ``R``, ``samples`` uniform draws outside ``C``, each standing for ``(N - |C|) / |R|``
    passages:

    ``log Z_i ≈ logsumexp({s q_i·c : c ∈ C} ∪ {s q_i·r + log((N - |C|) / |R|) : r ∈ R})``,
    ``loss = mean_i [log Z_i - logsumexp_{p ∈ P_i} s q_i·p]``.

    Memory and time per step grow with ``candidates`` and ``samples``, not with ``N``.
    """

    def __init__(
        self,
        search: Callable[[np.ndarray, int], np.ndarray],
        rows: Callable[[np.ndarray], np.ndarray],
        corpus_size: int,
        candidates: int,
        samples: int,
        scale: float,
        seed: int,
        rank: int = 0,
    ) -> None:
        super().__init__()
        self.search = search
        self.rows = rows
        self.corpus_size = corpus_size
        self.candidates = candidates
        self.samples = samples
        self.scale = scale
        self.seed = seed
        self.rank = rank

    def forward(
        self, queries: torch.Tensor, batch: Sequence[TrainExample], epoch: int, step: int
    ) -> torch.Tensor:
        near = self.search(queries.detach().float().cpu().numpy(), self.candidates)
        positives = [np.asarray(e.positives, dtype=np.int64) for e in batch]
        exact = np.unique(np.concatenate([near[near >= 0].astype(np.int64), *positives]))
        rng = np.random.default_rng([self.seed, epoch, step, self.rank])
        drawn = rng.integers(self.corpus_size, size=self.samples)
        drawn = drawn[~np.isin(drawn, exact)]
        ids = np.concatenate([exact, drawn])
        vectors = torch.from_numpy(self.rows(ids)).to(queries)
        scores = self.scale * queries @ vectors.T
        weight = torch.zeros(len(ids), dtype=scores.dtype, device=scores.device)
        if len(drawn):
            weight[len(exact) :] = float(np.log((self.corpus_size - len(exact)) / len(drawn)))
        positive = torch.full_like(scores, float("-inf"))
        for i, pos in enumerate(positives):
            cols = torch.from_numpy(np.searchsorted(exact, pos)).to(scores.device)
            positive[i, cols] = scores[i, cols]
        return (torch.logsumexp(scores + weight, -1) - torch.logsumexp(positive, -1)).mean()


class DistillationLoss(nn.Module):
    """A contrastive loss plus distillation from a teacher's ranking (e.g. BM25 fused with the
    model being trained, on the training queries):

    ``loss + λ · mean_i KL(t_i ‖ s_i)``, over query i's teacher passages ``T_i`` (its top
    ``depth``), ``t_i = softmax(teacher scores / τ)``, ``s_i = softmax(scale · q_i·p : p ∈ T_i)``.

    The contrastive term ranks the gold passages first; the teacher adds an order over the rest
    of its list (with BM25 in the teacher, lexical matches the dense model misses). Queries
    without a teacher list add no distillation term. ``rows`` gives the vectors of passage ids,
    called once per batch with every listed passage: the frozen corpus vectors (query side) or
    the trained passage tower's encodings (full mode, so the passage side learns too)."""

    def __init__(
        self,
        base: nn.Module,
        teacher: Mapping[str, TeacherList],
        rows: Callable[[np.ndarray], torch.Tensor],
        weight: float,
        temperature: float,
        scale: float,
    ) -> None:
        super().__init__()
        self.base = base
        self.teacher = teacher
        self.rows = rows
        self.weight = weight
        self.temperature = temperature
        self.scale = scale

    def forward(
        self, queries: torch.Tensor, batch: Sequence[TrainExample], epoch: int, step: int
    ) -> torch.Tensor:
        loss = self.base(queries, batch, epoch, step)
        listed = [(i, self.teacher.get(example.id)) for i, example in enumerate(batch)]
        listed = [(i, t) for i, t in listed if t is not None and len(t.passages) >= 2]
        if not listed:
            return loss
        vectors = self.rows(np.concatenate([t.passages for _, t in listed])).to(queries)
        terms, start = [], 0
        for i, t in listed:
            own = vectors[start : start + len(t.passages)]
            start += len(t.passages)
            student = F.log_softmax(self.scale * own @ queries[i], dim=-1)
            target = F.log_softmax(
                torch.from_numpy(t.scores).to(queries) / self.temperature, dim=-1
            )
            terms.append(F.kl_div(student, target, log_target=True, reduction="sum"))
        return loss + self.weight * torch.stack(terms).mean()
