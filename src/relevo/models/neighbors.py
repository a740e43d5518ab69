"""Item-to-item neighbours (cosine over co-occurrence), RP3beta's random walks, and EASE, their
closed-form cousin.

All three learn an item x item weight matrix ``W`` and score a person as ``history @ W``, so a
person seen a second ago is scored as well as one seen at training, and the part each history
item plays in a score is one entry of ``W`` ("because you bought X"). Item-kNN also answers
"similar items". Each keeps only the strongest weights per item, which bounds the artifact and
the cost of a score.
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from relevo.models.base import (
    Artifact,
    Contribution,
    ItemFeatures,
    People,
    dense,
    history_contributions,
    sparse_arrays,
    sparse_from,
)
from relevo.models.interactions import Interactions


def keep_strongest(weights: sp.csr_matrix, per_row: int) -> sp.csr_matrix:
    """Keep the ``per_row`` largest entries (by magnitude) of each row.

    >>> m = sp.csr_matrix(np.array([[0.25, -0.75, 0.5], [0.0, 0.5, 0.0]], dtype=np.float32))
    >>> keep_strongest(m, 1).toarray().tolist()
    [[0.0, -0.75, 0.0], [0.0, 0.5, 0.0]]
    """
    weights = weights.tocsr()
    weights.sum_duplicates()
    counts = np.diff(weights.indptr)
    if counts.max(initial=0) <= per_row:
        return weights
    keep = np.ones(weights.nnz, dtype=bool)
    for row in np.flatnonzero(counts > per_row):
        start, end = weights.indptr[row], weights.indptr[row + 1]
        weakest = np.argpartition(np.abs(weights.data[start:end]), end - start - per_row)
        keep[start + weakest[: end - start - per_row]] = False
    rows = np.repeat(np.arange(weights.shape[0]), counts)[keep]
    return sp.csr_matrix(
        (weights.data[keep], (rows, weights.indices[keep])), shape=weights.shape, dtype=np.float32
    )


def most_liked(counts: np.ndarray, min_count: int, most: int) -> np.ndarray:
    """Indices of the items liked by ``min_count`` people or more, at most the ``most`` liked
    of them (the first index on a tie), in index order.

    >>> most_liked(np.array([5, 1, 3, 3, 9]), min_count=2, most=3).tolist()
    [0, 2, 4]
    """
    eligible = np.flatnonzero(counts >= min_count)
    if len(eligible) > most:
        eligible = np.sort(eligible[np.argsort(-counts[eligible], kind="stable")[:most]])
    return eligible


def _inverse_of_positive_definite(matrix: np.ndarray, block: int = 1024) -> np.ndarray:
    """The inverse of a symmetric positive definite matrix through its Cholesky factor, in
    place and in the matrix's own precision: half the work of a general inverse, and no second
    copy of the matrix (10,000 items: 400 MB in float32). The Gram matrix plus a ridge is
    always such a matrix, and the ridge keeps it well enough conditioned for float32.

    >>> m = np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]], dtype=np.float32)
    >>> inverse = _inverse_of_positive_definite(m.copy(), block=2)
    >>> np.allclose(inverse, np.linalg.inv(m), rtol=1e-5), inverse.dtype
    (True, dtype('float32'))
    >>> np.shares_memory(_inverse_of_positive_definite(m, block=2), m)
    True
    """
    potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (matrix,))
    # LAPACK works on columns: a symmetric matrix's transpose is itself, and a view of a
    # C-ordered matrix in that order, so nothing is copied
    factor, info = potrf(matrix.T, lower=False, overwrite_a=True)
    if info == 0:
        upper, info = potri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"the Gram matrix is not positive definite (LAPACK {info})")
    for start in range(0, len(upper), block):  # the lower triangle from the upper, in place
        end = min(start + block, len(upper))
        upper[start:end, :start] = upper[:start, start:end].T
        diagonal = upper[start:end, start:end]
        diagonal[...] = np.triu(diagonal) + np.triu(diagonal, 1).T
    return upper.T  # symmetric now: the same values, in the caller's order


def _strongest_of_dense_rows(weights: np.ndarray, keep: int, block: int = 1024) -> sp.csr_matrix:
    """Dense ``weights`` as a sparse matrix of each row's ``keep`` largest entries by magnitude,
    a block of rows at a time: no second dense copy of the whole matrix is made. Unlike
    ``keep_strongest`` (sparse rows, exactly ``keep`` each), entries tied with the last one
    kept are kept too.

    >>> _strongest_of_dense_rows(np.array([[0.25, -0.75, 0.5], [0.0, 0.5, 0.1]]), 1, block=1).toarray()
    array([[ 0.  , -0.75,  0.  ],
           [ 0.  ,  0.5 ,  0.  ]])
    """
    n = weights.shape[1]
    parts = []
    for start in range(0, len(weights), block):
        rows = weights[start : start + block]
        if keep < n:
            magnitude = np.abs(rows)
            floor = np.partition(magnitude, n - keep, axis=1)[:, n - keep]
            rows = np.where(magnitude < floor[:, None], 0, rows)
        parts.append(sp.csr_matrix(rows))
    return sp.vstack(parts, format="csr")


class ItemToItemModel:
    """``W`` holds, for each item (row), its neighbours and their weights; a score sums the
    rows of the person's history items, weighted by how much the person liked each."""

    kind: ClassVar[str] = "itemknn"

    def __init__(self, **params: float) -> None:
        self.params = params
        self.item_ids = np.empty(0, dtype=object)
        self.weights = sp.csr_matrix((0, 0), dtype=np.float32)
        self._csc: tuple[sp.csr_matrix, sp.csc_matrix] | None = None

    def _strength(self, weights: np.ndarray) -> np.ndarray:
        """How much each liked item counts in a score, from the person's net weight on it."""
        return np.log1p(weights).astype(np.float32)  # 5 purchases are not 5x one

    def _history(self, people: People) -> sp.csr_matrix:
        history = people.history.copy()
        history.data = self._strength(history.data)
        return history

    def _row(self, people: People, row: int) -> tuple[np.ndarray, np.ndarray]:
        """One person's history items and their strengths, without building a matrix (an
        explanation is asked per shown item, on the serving path)."""
        history = people.history
        start, end = history.indptr[row], history.indptr[row + 1]
        return history.indices[start:end], self._strength(history.data[start:end])

    def score(self, people: People, items: np.ndarray | None = None) -> np.ndarray:
        weights = self.weights if items is None else self.weights[:, items]
        return dense(self._history(people) @ weights)

    def explain(self, people: People, row: int, item: int) -> list[Contribution]:
        indices, strengths = self._row(people, row)
        by_target = self._by_target()
        start, end = by_target.indptr[item], by_target.indptr[item + 1]
        sources, weights = by_target.indices[start:end], by_target.data[start:end]
        found = np.searchsorted(sources, indices)
        inside = found < len(sources)
        hit = np.zeros(len(found), dtype=bool)
        hit[inside] = sources[found[inside]] == indices[inside]
        parts = np.zeros(len(found), dtype=np.float32)
        parts[hit] = weights[found[hit]] * strengths[hit]
        return history_contributions(indices, parts, self.item_ids)

    def _by_target(self) -> sp.csc_matrix:
        """The weights by column (target item), indices sorted, built once per weights: an
        explanation reads one column, which a row-major matrix only gives by a costly index."""
        if self._csc is None or self._csc[0] is not self.weights:
            by_target = self.weights.tocsc()
            by_target.sort_indices()
            self._csc = (self.weights, by_target)
        return self._csc[1]

    def similar(self, item: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` nearest neighbours of an item index, with their weights."""
        row = self.weights[item]
        order = np.argsort(-row.data, kind="stable")[:n]
        return row.indices[order], row.data[order]

    def save(self) -> Artifact:
        arrays = {"item_ids": self.item_ids.astype(str), **sparse_arrays(self.weights)}
        return Artifact(self.kind, dict(self.params), arrays)

    @classmethod
    def load(cls, artifact: Artifact) -> Self:
        model = cls(**artifact.params)
        model.item_ids = artifact.arrays["item_ids"].astype(object)
        n = len(model.item_ids)
        model.weights = sparse_from(artifact.arrays, (n, n))
        return model


class ItemKnnModel(ItemToItemModel):
    """Cosine similarity of items over the people who liked them, with a shrinkage term so two
    items seen together once by two people do not look like twins."""

    kind: ClassVar[str] = "itemknn"

    def __init__(self, neighbors: int = 100, shrink: float = 10.0) -> None:
        super().__init__(neighbors=neighbors, shrink=shrink)

    def fit(self, data: Interactions, items: ItemFeatures) -> None:
        self.item_ids = data.item_ids
        liked = data.positives().tocsc()
        together = (liked.T @ liked).tocsr().astype(np.float32)
        norms = np.sqrt(together.diagonal())
        together.setdiag(0)
        together.eliminate_zeros()
        rows = np.repeat(np.arange(together.shape[0]), np.diff(together.indptr))
        together.data /= norms[rows] * norms[together.indices] + self.params["shrink"]
        self.weights = keep_strongest(together, int(self.params["neighbors"]))


class Rp3BetaModel(ItemToItemModel):
    """RP3beta (Paudel et al., 2017): the probability of a three-step random walk from an item
    to the people who liked it and on to their other items, each step's probabilities raised to
    ``alpha``, and divided by the target's popularity to the power ``beta``, so that a walk does
    not always end on the best sellers. A graph model: cheap, sparse, and strong where EASE's
    dense inverse would not fit."""

    kind: ClassVar[str] = "rp3beta"

    def __init__(self, neighbors: int = 100, alpha: float = 1.0, beta: float = 0.3) -> None:
        super().__init__(neighbors=neighbors, alpha=alpha, beta=beta)

    def fit(self, data: Interactions, items: ItemFeatures) -> None:
        self.item_ids = data.item_ids
        liked = data.positives()
        alpha, beta = float(self.params["alpha"]), float(self.params["beta"])
        to_items = _rows_summing_to_one(liked, alpha)  # person -> item
        to_people = _rows_summing_to_one(liked.T.tocsr(), alpha)  # item -> person
        walks = (to_people @ to_items).tocsr().astype(np.float32)
        popularity = np.diff(liked.tocsc().indptr).astype(np.float32)
        walks.data /= np.power(np.maximum(popularity, 1.0), beta)[walks.indices]
        walks.setdiag(0)
        walks.eliminate_zeros()
        self.weights = keep_strongest(walks, int(self.params["neighbors"]))

    def _strength(self, weights: np.ndarray) -> np.ndarray:
        return np.ones_like(weights, dtype=np.float32)  # walks start from what was liked


def _rows_summing_to_one(matrix: sp.csr_matrix, power: float) -> sp.csr_matrix:
    """Each row divided by its sum (a transition matrix), each entry then raised to ``power``.

    >>> _rows_summing_to_one(sp.csr_matrix(np.array([[1.0, 3.0], [0.0, 2.0]])), 1.0).toarray()
    array([[0.25, 0.75],
           [0.  , 1.  ]])
    """
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    sums[sums == 0] = 1.0
    found = sp.diags(1.0 / sums) @ matrix
    found = found.tocsr()
    found.data = np.power(found.data, power)
    return found


class EaseModel(ItemToItemModel):
    """EASE (Steck, 2019): the item x item weights that best rebuild each person's history from
    the rest of it, with a zero diagonal, in closed form from the inverse of the regularized
    Gram matrix. Only items with at least ``min_count`` people are modelled (an item liked once
    teaches nothing and costs a row of the inverse), and of those the ``max_items`` most liked:
    the Gram matrix is dense, so its memory grows with the square of the items modelled (10,000
    items: 400 MB, in float32), and the rest are left to the other models. ``keep`` weights are kept per
    item."""

    kind: ClassVar[str] = "ease"

    def __init__(
        self, l2: float = 250.0, min_count: int = 2, keep: int = 1000, max_items: int = 10_000
    ) -> None:
        super().__init__(l2=l2, min_count=min_count, keep=keep, max_items=max_items)

    def fit(self, data: Interactions, items: ItemFeatures) -> None:
        self.item_ids = data.item_ids
        liked = data.positives().tocsc()
        modelled = most_liked(
            np.diff(liked.indptr), self.params["min_count"], self.params["max_items"]
        )
        n = data.n_items
        if not len(modelled):  # no item liked by enough people: no weights to learn
            self.weights = sp.csr_matrix((n, n), dtype=np.float32)
            return
        sub = liked[:, modelled]
        gram = (sub.T @ sub).toarray().astype(np.float32, copy=False)
        gram[np.diag_indices_from(gram)] += self.params["l2"]
        weights = _inverse_of_positive_definite(gram)
        weights /= -np.diag(weights)  # column j divided by -P[j, j], in place
        np.fill_diagonal(weights, 0.0)
        coo = _strongest_of_dense_rows(weights, int(self.params["keep"])).tocoo()
        self.weights = sp.csr_matrix(
            (coo.data, (modelled[coo.row], modelled[coo.col])), shape=(n, n), dtype=np.float32
        )

    def _strength(self, weights: np.ndarray) -> np.ndarray:
        return np.ones_like(weights, dtype=np.float32)  # EASE is fitted on binary histories
