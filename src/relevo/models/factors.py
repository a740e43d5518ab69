"""Matrix factorization through ``implicit``: ALS (Hu, Koren and Volinsky) and BPR.

Both learn a vector per item; a person's vector is computed from their history when they are
scored (ALS: implicit's exact least-squares fold-in; BPR, which has none: the mean of the
liked items' vectors), so nobody needs to be in the training data to be scored, and a new
event changes the next answer.
"""

from __future__ import annotations

import warnings
from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from threadpoolctl import threadpool_limits

from relevo.models.base import (
    Artifact,
    Contribution,
    ItemFeatures,
    People,
    columns,
    history_contributions,
)
from relevo.models.interactions import Interactions


def _confidence(history: sp.csr_matrix) -> sp.csr_matrix:
    """Net weights as confidences, damped so 50 units bought are not 50x one."""
    scaled = history.astype(np.float32, copy=True)
    scaled.data = np.log1p(scaled.data)
    return scaled


FOLD_IN_THREADS = 1
"""Threads of the fold-in (one small solve per person): for the one person a request scores,
starting OpenMP's threads cost far more than the solve (docs/performance.md), and a batch's
solves are small next to its scores."""


class AlsModel:
    kind: ClassVar[str] = "als"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 2.0,
        iterations: int = 15,
        seed: int = 7,
    ) -> None:
        self.params = {
            "factors": factors,
            "regularization": regularization,
            "alpha": alpha,
            "iterations": iterations,
            "seed": seed,
        }
        self.item_ids = np.empty(0, dtype=object)
        self._als = self._new()

    def _new(self) -> AlternatingLeastSquares:
        p = self.params
        with threadpool_limits(1, "blas"):  # implicit runs its own threads, and checks
            return AlternatingLeastSquares(
                factors=p["factors"],
                regularization=p["regularization"],
                alpha=p["alpha"],
                iterations=p["iterations"],
                random_state=p["seed"],
            )

    def fit(self, data: Interactions, items: ItemFeatures) -> None:
        self.item_ids = data.item_ids
        self._als = self._new()  # every thread to fit, one to fold people in after
        with threadpool_limits(1, "blas"):  # implicit runs its own threads
            self._als.fit(_confidence(data.matrix()), show_progress=False)
        self._als.num_threads = FOLD_IN_THREADS

    def person_vectors(self, people: People) -> np.ndarray:
        return self._als.recalculate_user(np.arange(len(people)), _confidence(people.history))

    def score(self, people: People, items: np.ndarray | None = None) -> np.ndarray:
        factors = self._als.item_factors if items is None else self._als.item_factors[items]
        return (self.person_vectors(people) @ factors.T).astype(np.float32)

    def explain(self, people: People, row: int, item: int) -> list[Contribution]:
        history = _confidence(people.history[row])
        _, parts, _ = self._als.explain(0, history, item, N=len(history.indices) or 1)
        indices = np.asarray([i for i, _ in parts], dtype=np.int64)
        values = np.asarray([v for _, v in parts], dtype=np.float32)
        return history_contributions(indices, values, self.item_ids)

    def save(self) -> Artifact:
        arrays = {"item_ids": self.item_ids.astype(str), "item_factors": self._als.item_factors}
        return Artifact(self.kind, dict(self.params), arrays)

    @classmethod
    def load(cls, artifact: Artifact) -> Self:
        model = cls(**artifact.params)
        model.item_ids = artifact.arrays["item_ids"].astype(object)
        model._als.item_factors = artifact.arrays["item_factors"]
        model._als.user_factors = np.zeros((0, model.params["factors"]), dtype=np.float32)
        model._als.num_threads = FOLD_IN_THREADS
        return model


class BprModel:
    """BPR's item vectors carry a bias as their last entry; a person's vector is the weighted
    mean of their liked items' vectors, with 1 in that last place to add the item's bias."""

    kind: ClassVar[str] = "bpr"

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        iterations: int = 50,  # as good as 100 on Online Retail and MovieLens, in half the time
        seed: int = 7,
    ) -> None:
        self.params = {
            "factors": factors,
            "learning_rate": learning_rate,
            "regularization": regularization,
            "iterations": iterations,
            "seed": seed,
        }
        self.item_ids = np.empty(0, dtype=object)
        self.item_factors = np.empty((0, factors + 1), dtype=np.float32)

    def fit(self, data: Interactions, items: ItemFeatures) -> None:
        p = self.params
        self.item_ids = data.item_ids
        bpr = BayesianPersonalizedRanking(
            factors=p["factors"],
            learning_rate=p["learning_rate"],
            regularization=p["regularization"],
            iterations=p["iterations"],
            random_state=p["seed"],
        )
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            bpr.fit(data.positives(), show_progress=False)
        self.item_factors = np.asarray(bpr.item_factors, dtype=np.float32)

    def person_vectors(self, people: People) -> np.ndarray:
        history = _confidence(people.history)
        totals = np.asarray(history.sum(axis=1)).ravel()
        totals[totals == 0] = 1.0
        vectors = (history @ self.item_factors[:, :-1]) / totals[:, None]
        return np.hstack([vectors, np.ones((len(people), 1), dtype=np.float32)])

    def score(self, people: People, items: np.ndarray | None = None) -> np.ndarray:
        scores = (self.person_vectors(people) @ self.item_factors.T).astype(np.float32)
        return columns(scores, items)

    def explain(self, people: People, row: int, item: int) -> list[Contribution]:
        history = _confidence(people.history[row])
        target = self.item_factors[item, :-1]
        parts = (self.item_factors[history.indices, :-1] @ target) * history.data
        return history_contributions(
            history.indices, parts / max(history.data.sum(), 1e-9), self.item_ids
        )

    def save(self) -> Artifact:
        arrays = {"item_ids": self.item_ids.astype(str), "item_factors": self.item_factors}
        return Artifact(self.kind, dict(self.params), arrays)

    @classmethod
    def load(cls, artifact: Artifact) -> Self:
        model = cls(**artifact.params)
        model.item_ids = artifact.arrays["item_ids"].astype(object)
        model.item_factors = artifact.arrays["item_factors"]
        return model
