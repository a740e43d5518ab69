"""Parameters of the bases chosen on the validation part, from a small grid each.

EASE's regularisation, item-kNN's neighbourhood and shrinkage and popularity's half-life
(all-time counts are a strong baseline on ratings, time-decayed ones on retail) depend on the
data; a grid of a few settings, each fitted on the validation part's train rows and measured on
its people, finds a good one for the tenant's own data. The hybrid then learns from the tuned
bases. A parameter the caller gave is kept as given, and the grid stops at ``BUDGET_S``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from relevo.models.base import ItemFeatures, People
from relevo.models.batch import ranked
from relevo.models.ranking_metrics import evaluate_rankings
from relevo.training.fitting import Fitted, build_model
from relevo.training.splits import Split

K = 10
BUDGET_S = 60.0  # the whole grid's time: a tenant's retrain stays bounded
GRIDS: dict[str, list[dict[str, float]]] = {
    "ease": [{"l2": 100.0}, {"l2": 250.0}, {"l2": 500.0}, {"l2": 1000.0}],
    "itemknn": [
        {"neighbors": 50, "shrink": 10.0},
        {"neighbors": 100, "shrink": 10.0},
        {"neighbors": 200, "shrink": 50.0},
    ],
    "popularity": [{"half_life_days": 30.0}, {"half_life_days": 100_000.0}],
}
"""The settings tried per base, the default among them; popularity's 100,000 days is all-time."""


@dataclass(frozen=True)
class Tuned:
    """Each tuned base's best setting, and the base fitted at it on the validation part's
    train rows (what a choice on the same part may use rather than fit again)."""

    settings: dict[str, dict[str, float]] = field(default_factory=dict)
    fitted: dict[str, Fitted] = field(default_factory=dict)


def tune(
    split: Split,
    items: ItemFeatures,
    names: list[str],
    given: Mapping[str, Mapping[str, object]],
    budget_s: float = BUDGET_S,
) -> Tuned:
    """The best setting of each named base with a grid and no parameter given, by NDCG@10 on
    ``split`` (the first tried wins a tie); a base whose every setting fails keeps its
    defaults, and settings not tried within ``budget_s`` are skipped."""
    deadline = time.perf_counter() + budget_s
    people = People.of(split.train, split.people)
    tuned = Tuned()
    for name in names:
        if name not in GRIDS or given.get(name):
            continue
        best: tuple[float, int, Fitted] | None = None
        for position, setting in enumerate(GRIDS[name]):
            if time.perf_counter() > deadline:
                break
            started = time.perf_counter()
            try:
                model = build_model(name, setting)
                model.fit(split.train, items)
                found = evaluate_rankings(
                    ranked(model, people, K), split.relevant, split.train.n_items, K
                )
            except Exception:  # a setting the data cannot take is simply not chosen
                continue
            score = (found[f"ndcg@{K}"], -position)
            if best is None or score > best[:2]:
                best = (*score, Fitted(model, time.perf_counter() - started))
        if best is not None:
            tuned.settings[name] = GRIDS[name][-best[1]]
            tuned.fitted[name] = best[2]
    return tuned
