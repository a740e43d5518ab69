"""The k best items per person from a dense score matrix: the last step of every model.

Sorting a whole catalog per person is wasted work when only k items are shown, so the k best are
found with a partial sort (``np.argpartition``) and only those k are sorted. Ties are broken by the
lower item index, so that the same scores give the same list on every run and every machine: a
model's offline metrics and its answers must not depend on the order a partition happened to
leave equal scores in.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def top_k(scores: np.ndarray, k: int, exclude: sp.csr_matrix | None = None) -> np.ndarray:
    """Indices of the ``k`` best-scored items per row, best first, padded with -1.

    ``exclude`` (same shape, any nonzero entry) names items never to return, typically what the
    person already has; a score of -inf means the same. Padding with -1 rather than returning
    excluded items keeps a short list honest: metrics count an empty slot as a miss.
    A 1-D ``scores`` is one person, and gives a 1-D answer.

    >>> top_k(np.array([[0.1, 0.9, 0.5, 0.9], [1.0, 2.0, 3.0, 4.0]]), 2).tolist()
    [[1, 3], [3, 2]]
    >>> top_k(np.array([0.1, 0.9, 0.5]), 3, exclude=sp.csr_matrix([[0, 1, 0]])).tolist()
    [2, 0, -1]
    """
    if scores.ndim == 1:
        return top_k(scores[np.newaxis, :], k, exclude)[0]
    if k < 0:
        raise ValueError(f"k must not be negative, got {k}")
    n_people, n_items = scores.shape
    ranked = np.full((n_people, k), -1, dtype=np.int64)
    width = min(k, n_items)
    if width == 0:
        return ranked
    # Lower is better from here on, so that excluded items can be +inf and ties resolve to the
    # lower index in both the partition repair and the final lexsort.
    cost = np.negative(scores, dtype=np.result_type(scores.dtype, np.float32))
    if exclude is not None:
        cost[exclude.nonzero()] = np.inf
    chosen = np.argpartition(cost, width - 1, axis=1)[:, :width]
    chosen_cost = np.take_along_axis(cost, chosen, axis=1)
    _repair_ties(cost, chosen, chosen_cost)
    order = np.lexsort((chosen, chosen_cost))
    best = np.take_along_axis(chosen, order, axis=1)
    best[np.take_along_axis(chosen_cost, order, axis=1) == np.inf] = -1
    ranked[:, :width] = best
    return ranked


def _repair_ties(cost: np.ndarray, chosen: np.ndarray, chosen_cost: np.ndarray) -> None:
    """Make the chosen set hold the lowest-index items among those tied with the k-th best.

    A partition picks an arbitrary subset of the items tied at the boundary; only rows where
    some tied item was left out are redone (cold people with all-equal scores are the usual
    case), so the common case costs one comparison pass.
    """
    width = chosen.shape[1]
    boundary = chosen_cost.max(axis=1, keepdims=True)
    left_out = (cost == boundary).sum(axis=1) > (chosen_cost == boundary).sum(axis=1)
    rows = np.flatnonzero(left_out & (boundary[:, 0] < np.inf))
    if len(rows) == 0:
        return
    sub = cost[rows]
    better = sub < boundary[rows]
    tied = sub == boundary[rows]
    room = width - better.sum(axis=1, keepdims=True)
    keep = better | (tied & (np.cumsum(tied, axis=1, dtype=np.int32) <= room))
    chosen[rows] = np.nonzero(keep)[1].reshape(len(rows), width)
    chosen_cost[rows] = np.take_along_axis(sub, chosen[rows], axis=1)
