"""Compare models on one split: fit each on the train rows, rank the whole catalog for every
evaluated person (their train items excluded), and measure against what they went on to like.

All models are fitted on the same train rows and scored on the same people in the same run,
so their figures compare; ``train_seconds`` of the hybrid includes fitting its bases. The
``auto`` row is the contender that selection chooses on a validation part carved from the
train rows alone (as ``relevo train`` chooses on the tenant's data), measured on the test rows
like the others: an honest figure, since the test rows played no part in the choice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from relevo.domain.model_names import AUTO, MODEL_NAMES
from relevo.models.base import ItemFeatures, Model, People
from relevo.models.batch import ranked
from relevo.models.ranking_metrics import evaluate_rankings
from relevo.training.fitting import fit_models
from relevo.training.selection import tuned_and_selected
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
    tuned: dict[str, dict[str, float]] = {}  # with ``auto``: the bases' settings chosen


def evaluate(
    dataset: str,
    split: Split,
    items: ItemFeatures,
    names: Sequence[str],
    k: int = 10,
    params: Mapping[str, Mapping[str, object]] | None = None,
) -> Evaluation:
    """Every named model's metrics on ``split``. With ``auto``, the bases' settings are first
    tuned on a validation part of the train rows, every model is fitted with them, and the
    ``auto`` row is the contender chosen on that part."""
    if len(split.people) == 0:
        raise ValueError(f"the {split.protocol} split leaves no person to evaluate")
    contenders = [name for name in names if name != AUTO] or list(MODEL_NAMES)
    params = matching_holdout(params, split.protocol)
    chosen = None
    if AUTO in names:
        chosen = tuned_and_selected(split.train, items, contenders, split.protocol, params)
        params = {**chosen.tuned, **params}
    fitted = fit_models(contenders, split.train, items, params).every()
    people = People.of(split.train, split.people)

    def measured(model: Model) -> dict[str, float]:
        return evaluate_rankings(ranked(model, people, k), split.relevant, split.train.n_items, k)

    results = [
        ModelResult(name, measured(fit.model), round(fit.seconds, 3))
        for name, fit in fitted.items()
        if name in contenders
    ]
    if chosen is not None:  # the winner may be a hybrid's base, with no row of its own
        found = measured(fitted[chosen.winner].model)
        results.append(ModelResult(AUTO, found, round(chosen.seconds, 3), chosen.winner))
    return Evaluation(
        dataset, split.protocol, split.description, k, len(split.people), results,
        {} if chosen is None else chosen.tuned,
    )  # fmt: skip
