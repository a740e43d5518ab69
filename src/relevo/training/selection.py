"""Choosing the model that serves a placement asking for ``auto``: every contender fitted on
one part of the tenant's own data and measured on the rest, the best by NDCG@10, after the
bases' settings are tuned on the same part (``training/tuning.py``).

A learned ranker can lose to one of its own bases (a data set it was not made for, too few
people to learn from); measured side by side before anything serves, the loser is simply not
chosen, so what ``auto`` serves is never worse, on that measure, than any single contender.
The choice is recorded with every contender's metrics (``Selection``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from relevo.domain.model_records import CannotTrain
from relevo.models.base import ItemFeatures, People
from relevo.models.batch import ranked
from relevo.models.interactions import Interactions
from relevo.models.ranking_metrics import evaluate_rankings
from relevo.training.fitting import Fitted, fit_models, needed_models
from relevo.training.splits import Split, matching_holdout, validation_split
from relevo.training.tuning import tune

K = 10


@dataclass(frozen=True)
class Selection:
    """The contender chosen, every contender's metrics on the validation part, the bases'
    settings tuned on it, and the time all that took."""

    winner: str
    metrics: dict[str, dict[str, float]]
    protocol: str
    description: str  # how the validation part was carved
    tuned: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0


def select(
    split: Split,
    items: ItemFeatures,
    contenders: Sequence[str],
    params: Mapping[str, Mapping[str, object]] | None = None,
    fitted: Mapping[str, Fitted] | None = None,
) -> Selection:
    """Fit each contender (and a hybrid's bases, which contend too) on the validation split's
    train part (``validation_split``), rank for its people, and choose the best NDCG@10 (the
    first fitted, on a tie). Models in ``fitted`` (the tuned bases, fitted on that part
    already) are not fitted again. A contender that cannot be fitted there is left out;
    ``CannotTrain`` when none can be, or nobody can be measured."""
    if not len(split.people):
        raise CannotTrain(f"the validation part ({split.description}) leaves nobody to measure")
    started = time.perf_counter()
    fits = fit_models(
        contenders, split.train, items, matching_holdout(params, split.protocol), fitted
    )
    people = People.of(split.train, split.people)
    metrics = {  # every model fitted: a hybrid's bases contend too, at no extra cost
        name: evaluate_rankings(
            ranked(fit.model, people, K), split.relevant, split.train.n_items, K
        )
        for name, fit in fits.fitted.items()
    }
    if not metrics:
        reasons = "; ".join(f"{f.name}: {f.reason}" for f in fits.failed)
        raise CannotTrain(f"no contender could be fitted on the validation part ({reasons})")
    winner = max(metrics, key=lambda name: metrics[name][f"ndcg@{K}"])
    seconds = time.perf_counter() - started
    return Selection(winner, metrics, split.protocol, split.description, seconds=seconds)


def tuned_and_selected(
    data: Interactions,
    items: ItemFeatures,
    contenders: Sequence[str],
    protocol: str,
    params: Mapping[str, Mapping[str, object]],
) -> Selection:
    """On one validation part of ``data``: the bases' settings (``tune``; the ones given are
    kept), then the contender that measures best with them (``select``)."""
    started = time.perf_counter()
    try:
        split = validation_split(data, protocol)
    except ValueError as error:
        raise CannotTrain(f"no validation part: {error}") from None
    if not len(split.people):
        raise CannotTrain(f"the validation part ({split.description}) leaves nobody to measure")
    tuned = tune(split, items, needed_models(contenders), params)
    chosen = select(split, items, contenders, {**tuned.settings, **params}, tuned.fitted)
    return replace(chosen, tuned=tuned.settings, seconds=time.perf_counter() - started)
