"""Ranking metrics with binary gain: an item is relevant to a person, or it is not.

They live in the model layer because the hybrid measures its bases with them while it fits;
offline evaluation builds on models, never the reverse.

Held-out interactions say which items a person went on to like, not by how much one beats
another, so every metric here counts hits; a graded gain would claim a precision the data lacks.
Each metric is a function of one ranked list and one relevant set, to read and to test, and
``evaluate_rankings`` computes all of them for thousands of people at once, through the very same
formulas applied to a people x k matrix of hits.

Conventions shared by every metric:

- k is the number of slots shown. A list shorter than k, or padded with -1, has empty slots, and
  an empty slot is a miss: a model is not rewarded for answering less.
- A ranked list holds distinct items (``relevo.models.topk.top_k`` gives such lists).
- A person with nothing relevant is not measured at all: recall, nDCG and AP would divide by
  zero, and scoring them 0 would charge every model for the split's choice. The splits only
  evaluate people with something relevant.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import numpy as np

Metric = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""Per-person values from ``hits`` (people x k, bool) and the number of relevant items each."""


def precision_at_k(ranked: Sequence[int] | np.ndarray, relevant: Collection[int], k: int) -> float:
    """Hits in the top k over k: the share of what was shown that was right.

    >>> precision_at_k([3, 1, 4, 2], {1, 2, 9}, k=3)  # one hit (1) in three slots
    0.3333333333333333
    """
    return _one(_precision, ranked, relevant, k)


def recall_at_k(ranked: Sequence[int] | np.ndarray, relevant: Collection[int], k: int) -> float:
    """Hits in the top k over all relevant items: the share of what was wanted that was found.

    Not capped at k, so with more relevant items than slots it cannot reach 1; that is the
    usual definition, and it keeps recall comparable across values of k.

    >>> recall_at_k([3, 1, 4, 2], {1, 2, 9}, k=3)  # found 1 of {1, 2, 9}
    0.3333333333333333
    """
    return _one(_recall, ranked, relevant, k)


def ndcg_at_k(ranked: Sequence[int] | np.ndarray, relevant: Collection[int], k: int) -> float:
    """DCG over the DCG of an ideal list, with gain 1/log2(rank + 1) per hit.

    The discount rewards putting hits first, as people look at the top of a list more. The ideal
    list has min(|relevant|, k) hits, so a perfect top k scores 1 whatever the number of relevant
    items (the definition of scikit-learn's ``ndcg_score`` and of most papers).

    >>> round(ndcg_at_k([3, 1, 4, 2], {1, 2, 9}, k=3), 4)  # (1/log2 3) / (1 + 1/log2 3 + 1/2)
    0.2961
    """
    return _one(_ndcg, ranked, relevant, k)


def average_precision_at_k(
    ranked: Sequence[int] | np.ndarray, relevant: Collection[int], k: int
) -> float:
    """Precision at the rank of each hit in the top k, summed, over min(|relevant|, k).

    The mean of this over people is MAP@k. Dividing by min(|relevant|, k) rather than by
    |relevant| lets a perfect top k score 1, as for nDCG; with k at least the catalog size it is
    scikit-learn's ``average_precision_score`` (for untied scores).

    >>> average_precision_at_k([3, 1, 4, 2], {1, 2, 9}, k=3)  # (1/2) / min(3, 3)
    0.16666666666666666
    """
    return _one(_average_precision, ranked, relevant, k)


def reciprocal_rank(ranked: Sequence[int] | np.ndarray, relevant: Collection[int], k: int) -> float:
    """1 / the rank of the first hit within the top k, else 0; the mean over people is MRR@k.

    It measures how far down a person must look before the first good answer, which is what
    counts where one answer is used (a search, a "next" slot).

    >>> reciprocal_rank([3, 1, 4, 2], {1, 2, 9}, k=3)  # first hit at rank 2
    0.5
    """
    return _one(_reciprocal_rank, ranked, relevant, k)


def hit_rate_at_k(ranked: Sequence[int] | np.ndarray, relevant: Collection[int], k: int) -> float:
    """1 when any of the top k is relevant, else 0: did the list help this person at all.

    >>> hit_rate_at_k([3, 1, 4, 2], {2, 9}, k=3), hit_rate_at_k([3, 1, 4, 2], {2, 9}, k=4)
    (0.0, 1.0)
    """
    return _one(_hit_rate, ranked, relevant, k)


def catalog_coverage(ranked: np.ndarray | Sequence[Sequence[int]], n_items: int) -> float:
    """Distinct items in all the lists over the catalog size; -1 padding is not an item.

    Accuracy alone favors models that show everyone the same best-sellers; coverage tells how
    much of the catalog a model ever puts in front of anyone. It is a property of the lists,
    not of relevance, so every list counts, measured person or not.

    >>> catalog_coverage([[0, 1], [1, -1]], n_items=4)  # {0, 1} of 4 items
    0.5
    """
    items = np.asarray(ranked, dtype=np.int64).ravel()
    return len(np.unique(items[items >= 0])) / n_items


def evaluate_rankings(
    ranked: np.ndarray, relevant: Sequence[np.ndarray], n_items: int, k: int
) -> dict[str, float]:
    """Every metric at k, averaged over the people who have something relevant.

    ``ranked`` is people x (up to) k item indices with -1 padding, and ``relevant[i]`` the items
    relevant to the person of row ``i``. People with an empty relevant set are left out of the
    means (see the module's conventions) but their lists count for coverage.

    >>> scores = evaluate_rankings(
    ...     np.array([[3, 1, 4], [0, 2, -1]]), [np.array([1, 2, 9]), np.array([0])], n_items=10, k=3
    ... )
    >>> {name: round(value, 3) for name, value in scores.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'precision@3': 0.333, 'recall@3': 0.667, 'ndcg@3': 0.648, 'map@3': 0.583, 'mrr@3': 0.75,
     'hitrate@3': 1.0, 'coverage@3': 0.5}
    """
    if len(ranked) != len(relevant):
        raise ValueError(f"{len(ranked)} ranked lists for {len(relevant)} relevant sets")
    top = _pad(ranked, k)
    measured = np.array([len(items) > 0 for items in relevant], dtype=bool)
    if not measured.any():
        raise ValueError("no person has a relevant item: there is nothing to measure")
    hits, n_relevant = _hits(top[measured], [relevant[i] for i in np.flatnonzero(measured)])
    metrics: dict[str, Metric] = {
        "precision": _precision,
        "recall": _recall,
        "ndcg": _ndcg,
        "map": _average_precision,
        "mrr": _reciprocal_rank,
        "hitrate": _hit_rate,
    }
    result = {
        f"{name}@{k}": float(metric(hits, n_relevant).mean()) for name, metric in metrics.items()
    }
    result[f"coverage@{k}"] = catalog_coverage(top, n_items)
    return result


def _one(
    metric: Metric, ranked: Sequence[int] | np.ndarray, relevant: Collection[int], k: int
) -> float:
    """One person's value, through the same formula as ``evaluate_rankings``."""
    wanted = np.fromiter(relevant, dtype=np.int64, count=len(relevant))
    if len(wanted) == 0:
        raise ValueError("no relevant item: a person with nothing relevant is not measured")
    hits, n_relevant = _hits(_pad(np.asarray(ranked, dtype=np.int64)[np.newaxis], k), [wanted])
    return float(metric(hits, n_relevant)[0])


def _pad(ranked: np.ndarray | Sequence[Sequence[int]], k: int) -> np.ndarray:
    """The first k slots of each list, missing slots as -1."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    rows = np.asarray(ranked, dtype=np.int64)
    top = np.full((len(rows), k), -1, dtype=np.int64)
    width = min(k, rows.shape[1])
    top[:, :width] = rows[:, :width]
    return top


def _hits(top: np.ndarray, relevant: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Which slots hold a relevant item, and how many distinct items each person wants.

    (person, item) pairs become single integers, so one ``np.isin`` answers for everyone.
    """
    wanted = [np.asarray(items, dtype=np.int64).ravel() for items in relevant]
    every = np.concatenate(wanted)
    span = 1 + max(int(top.max(initial=0)), int(every.max(initial=0)))
    owner = np.repeat(np.arange(len(wanted)), [len(items) for items in wanted])
    pairs = np.unique(owner * span + every)
    n_relevant = np.bincount(pairs // span, minlength=len(wanted))
    slots = np.arange(len(top))[:, np.newaxis] * span + top
    return (top >= 0) & np.isin(slots, pairs), n_relevant


def _precision(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    return hits.sum(axis=1) / hits.shape[1]


def _recall(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    return hits.sum(axis=1) / n_relevant


def _ndcg(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    k = hits.shape[1]
    gains = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(gains)[np.minimum(n_relevant, k) - 1]
    return (hits @ gains) / ideal


def _average_precision(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    k = hits.shape[1]
    precision_at_rank = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return (precision_at_rank * hits).sum(axis=1) / np.minimum(n_relevant, k)


def _reciprocal_rank(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    return np.where(hits.any(axis=1), 1.0 / (hits.argmax(axis=1) + 1), 0.0)


def _hit_rate(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    return hits.any(axis=1).astype(np.float64)
