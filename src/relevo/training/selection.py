"""Choosing the model that serves a placement asking for ``auto``: every contender fitted on
one part of the tenant's own data and measured on the rest, the best by NDCG@10.

A learned ranker can lose to one of its own bases (a data set it was not made for, too few
people to learn from); measured side by side before anything serves, the loser is simply not
chosen, so what ``auto`` serves is never worse, on that measure, than any single contender.
The choice is recorded with every contender's metrics (``Selection``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from relevo.domain.model_records import CannotTrain
from relevo.models.base import ItemFeatures, People
from relevo.models.batch import ranked
from relevo.models.interactions import Interactions
from relevo.models.ranking_metrics import evaluate_rankings
from relevo.training.fitting import fit_models
from relevo.training.splits import matching_holdout, validation_split

K = 10


@dataclass(frozen=True)
class Selection:
    """The contender chosen and every contender's metrics on the validation part."""

    winner: str
    metrics: dict[str, dict[str, float]]
    description: str  # how the validation part was carved

    @property
    def score(self) -> float:
        return self.metrics[self.winner][f"ndcg@{K}"]


def select(
    data: Interactions,
    items: ItemFeatures,
    contenders: Sequence[str],
    protocol: str,
    params: Mapping[str, Mapping[str, object]] | None = None,
) -> Selection:
    """Fit each contender on the validation split's train part, rank for its people, and
    choose the best NDCG@10 (the first named, on a tie). A contender that cannot be fitted
    there is left out; ``CannotTrain`` when none can be, or nobody can be measured."""
    split = validation_split(data, protocol)
    if not len(split.people):
        raise CannotTrain(f"the validation part ({split.description}) leaves nobody to measure")
    fits = fit_models(contenders, split.train, items, matching_holdout(params, split.protocol))
    people = People.of(split.train, split.people)
    metrics = {
        name: evaluate_rankings(
            ranked(fits.fitted[name].model, people, K), split.relevant, split.train.n_items, K
        )
        for name in contenders
        if name in fits.fitted
    }
    if not metrics:
        reasons = "; ".join(f"{f.name}: {f.reason}" for f in fits.failed)
        raise CannotTrain(f"no contender could be fitted on the validation part ({reasons})")
    winner = max(metrics, key=lambda name: metrics[name][f"ndcg@{K}"])
    return Selection(winner, metrics, split.description)
