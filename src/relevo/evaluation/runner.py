"""Compare models on one split: fit each on the train rows, rank the whole catalog for every
evaluated person (their train items excluded), and measure against what they went on to like.

All models are fitted on the same train rows and scored on the same people in the same run,
so their figures compare; ``train_seconds`` of the hybrid includes fitting its bases. The
``auto`` row is the contender that selection chooses on a validation part carved from the
train rows alone (as ``relevo train`` chooses on the tenant's data), measured on the test rows
like the others: an honest figure, since the test rows played no part in the choice.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import msgspec

from relevo.domain.model_names import AUTO, MODEL_NAMES
from relevo.models.base import ItemFeatures, People
from relevo.models.batch import ranked
from relevo.models.ranking_metrics import evaluate_rankings
from relevo.training.fitting import fit_models
from relevo.training.selection import select
from relevo.training.splits import Split, matching_holdout


class ModelResult(msgspec.Struct):
    model: str
    metrics: dict[str, float]
    train_seconds: float
    chosen: str = ""  # for ``auto``: the contender selection chose


class Evaluation(msgspec.Struct):
    dataset: str
    protocol: str
    description: str
    k: int
    people: int
    results: list[ModelResult]


def evaluate(
    dataset: str,
    split: Split,
    items: ItemFeatures,
    names: Sequence[str],
    k: int = 10,
    params: Mapping[str, Mapping[str, object]] | None = None,
) -> Evaluation:
    if len(split.people) == 0:
        raise ValueError(f"the {split.protocol} split leaves no person to evaluate")
    contenders = [name for name in names if name != AUTO] or list(MODEL_NAMES)
    params = matching_holdout(params, split.protocol)
    fitted = fit_models(contenders, split.train, items, params).every()
    people = People.of(split.train, split.people)
    results = [
        ModelResult(
            name,
            evaluate_rankings(ranked(fit.model, people, k), split.relevant, split.train.n_items, k),
            round(fit.seconds, 3),
        )
        for name, fit in fitted.items()
        if name in contenders
    ]
    if AUTO in names:
        results.append(_auto(split, items, contenders, params, results))
    return Evaluation(dataset, split.protocol, split.description, k, len(split.people), results)


def _auto(
    split: Split,
    items: ItemFeatures,
    contenders: list[str],
    params: Mapping[str, Mapping[str, object]],
    results: list[ModelResult],
) -> ModelResult:
    """The row of the contender chosen on the train rows alone, with the choice's own time."""
    started = time.perf_counter()
    chosen = select(split.train, items, contenders, split.protocol, params).winner
    spent = round(time.perf_counter() - started, 3)
    found = next(result for result in results if result.model == chosen)
    return ModelResult(AUTO, found.metrics, spent, chosen)
