"""Popularity and trending: what many people want now, overall and in each region.

Both count weighted interactions with an exponential time decay towards the newest interaction
of the data, so an old best-seller fades. Popularity uses a long half-life; trending compares a
short half-life's count with the long one, so it rises for items whose recent rate beats their
usual one. They answer everyone alike (a person only picks the region), which makes them the
non-personalized fallback and a feature of the ranker. By category is the same list filtered
(``top``).
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np

from relevo.models.base import Artifact, Contribution, ItemFeatures, People, columns
from relevo.models.interactions import Interactions

DAY_US = 86_400 * 1_000_000


def decayed_counts(data: Interactions, half_life_days: float, mask: np.ndarray | None = None):
    """Sum of positive weights per item, each halved every ``half_life_days`` before the end."""
    if len(data) == 0:
        return np.zeros(data.n_items, dtype=np.float64)
    now = data.times.max()
    age_days = (now - data.times) / DAY_US
    weights = np.clip(data.weights, 0, None) * np.exp2(-age_days / half_life_days)
    if mask is not None:
        weights = weights * mask
    return np.bincount(data.items, weights=weights, minlength=data.n_items)


class PopularityModel:
    kind: ClassVar[str] = "popularity"

    def __init__(self, half_life_days: float = 30.0, region_share: float = 0.8) -> None:
        # region_share: how much a person's region outweighs the world
        self.params = {"half_life_days": half_life_days, "region_share": region_share}
        self.item_ids = np.empty(0, dtype=object)
        self.categories = np.empty(0, dtype=object)
        self.overall = np.empty(0, dtype=np.float32)
        self.regions: dict[str, np.ndarray] = {}

    def _counts(self, data: Interactions, mask: np.ndarray | None) -> np.ndarray:
        return decayed_counts(data, self.params["half_life_days"], mask)

    def fit(self, data: Interactions, items: ItemFeatures) -> None:
        self.item_ids = data.item_ids
        self.categories = items.categories
        self.overall = self._normalized(self._counts(data, None))
        self.regions = {}
        if data.person_regions is not None:
            row_regions = data.person_regions[data.people]
            for region in sorted(set(data.person_regions) - {""}):
                self.regions[region] = self._normalized(
                    self._counts(data, (row_regions == region).astype(np.float64))
                )

    @staticmethod
    def _normalized(counts: np.ndarray) -> np.ndarray:
        top = counts.max() if len(counts) else 0.0
        return (counts / top if top > 0 else counts).astype(np.float32)

    def vector(self, region: str | None) -> np.ndarray:
        """Scores of every item for someone in ``region`` (the world's, if it is unknown)."""
        local = self.regions.get(region or "")
        if local is None:
            return self.overall
        share = self.params["region_share"]
        return share * local + (1 - share) * self.overall

    def score(self, people: People, items: np.ndarray | None = None) -> np.ndarray:
        rows = np.vstack([self.vector(r) for r in people.regions]) if len(people) else None
        if rows is None:
            return np.zeros((0, self.overall.size if items is None else len(items)), np.float32)
        return columns(rows, items)

    def top(self, n: int, region: str | None = None, category: str | None = None) -> np.ndarray:
        """The ``n`` best item indices, in a region and a category if given."""
        scores = self.vector(region).copy()
        if category is not None:
            scores[self.categories != category] = -np.inf
        best = np.argsort(-scores, kind="stable")[:n]
        return best[np.isfinite(scores[best]) & (scores[best] > 0)]

    def explain(self, people: People, row: int, item: int) -> list[Contribution]:
        region = people.regions[row]
        name = f"region:{region}" if region in self.regions else "overall"
        return [Contribution("popularity", name, float(self.vector(region)[item]))]

    def save(self) -> Artifact:
        arrays = {
            "item_ids": self.item_ids.astype(str),
            "categories": self.categories.astype(str),
            "overall": self.overall,
        }
        arrays.update({f"region:{name}": v for name, v in self.regions.items()})
        return Artifact(self.kind, dict(self.params), arrays)

    @classmethod
    def load(cls, artifact: Artifact) -> Self:
        model = cls(**artifact.params)
        arrays = artifact.arrays
        model.item_ids = arrays["item_ids"].astype(object)
        model.categories = arrays["categories"].astype(object)
        model.overall = arrays["overall"]
        model.regions = {
            name.removeprefix("region:"): v for name, v in arrays.items() if name[:7] == "region:"
        }
        return model


class TrendingModel(PopularityModel):
    """Items whose recent rate beats their usual one: the short half-life's count over the long
    one's, shrunk towards zero for items with little data (``prior``)."""

    kind: ClassVar[str] = "trending"

    def __init__(
        self,
        half_life_days: float = 3.0,
        region_share: float = 0.8,
        baseline_days: float = 60.0,
        prior: float = 5.0,
    ) -> None:
        super().__init__(half_life_days, region_share)
        self.params.update(baseline_days=baseline_days, prior=prior)

    def _counts(self, data: Interactions, mask: np.ndarray | None) -> np.ndarray:
        p = self.params
        recent = decayed_counts(data, p["half_life_days"], mask)
        usual = decayed_counts(data, p["baseline_days"], mask)
        expected = usual * (p["half_life_days"] / p["baseline_days"])
        return np.clip(recent - expected, 0, None) * recent / (recent + p["prior"])
