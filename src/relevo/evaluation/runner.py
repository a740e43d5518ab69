"""Compare models on one split: fit each on the train rows, rank the whole catalog for every
evaluated person (their train items excluded), and measure against what they went on to like.

All models are fitted on the same train rows and scored on the same people in the same run,
so their figures compare; ``train_seconds`` of the hybrid includes fitting its bases.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec
import numpy as np

from relevo.evaluation.splits import Split
from relevo.models.base import ItemFeatures, Model, People
from relevo.models.ranking_metrics import evaluate_rankings
from relevo.models.topk import top_k
from relevo.training.fitting import fit_models

CHUNK = 512
HOLDOUT_OF = {"random": "random", "temporal": "time", "leave_last_out": "latest"}
"""The hybrid learns its ranker from rows held out the way the split holds out its test rows,
so that it learns the question the split asks."""


class ModelResult(msgspec.Struct):
    model: str
    metrics: dict[str, float]
    train_seconds: float


class Evaluation(msgspec.Struct):
    dataset: str
    protocol: str
    description: str
    k: int
    people: int
    results: list[ModelResult]


def rank(model: Model, people: People, k: int) -> np.ndarray:
    """Each person's top ``k`` unseen items, in chunks that bound memory."""
    ranked = []
    for start in range(0, len(people), CHUNK):
        chunk = people.part(start, start + CHUNK)
        ranked.append(top_k(model.score(chunk), k, exclude=chunk.history))
    return np.vstack(ranked) if ranked else np.empty((0, k), dtype=np.int64)


def evaluate(
    dataset: str,
    split: Split,
    items: ItemFeatures,
    names: Sequence[str],
    k: int = 10,
    params: Mapping[str, Mapping[str, float]] | None = None,
) -> Evaluation:
    if len(split.people) == 0:
        raise ValueError(f"the {split.protocol} split leaves no person to evaluate")
    params = dict(params or {})
    params["hybrid"] = {"holdout": HOLDOUT_OF[split.protocol], **params.get("hybrid", {})}
    fitted = fit_models(names, split.train, items, params).every()
    people = People.of(split.train, split.people)
    results = [
        ModelResult(
            name,
            evaluate_rankings(rank(fit.model, people, k), split.relevant, split.train.n_items, k),
            round(fit.seconds, 3),
        )
        for name, fit in fitted.items()
        if name in names
    ]
    return Evaluation(dataset, split.protocol, split.description, k, len(split.people), results)
