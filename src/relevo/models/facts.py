"""What the known interactions say of each item at one moment: the item features the hybrid's
ranker learns from, kept with it so that serving computes them as training did."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from relevo.models.base import ItemFeatures
from relevo.models.interactions import Interactions


@dataclass(frozen=True)
class Facts:
    """What the known interactions say of each item, at moment ``at`` (microseconds)."""

    at: int
    item_people: np.ndarray  # how many people like it
    item_last_us: np.ndarray  # when it was last interacted with
    item_first_us: np.ndarray  # when first
    categories: np.ndarray

    @classmethod
    def of(cls, known: Interactions, items: ItemFeatures, at: int) -> Facts:
        n = known.n_items
        last = np.zeros(n, dtype=np.int64)
        np.maximum.at(last, known.items, known.times)
        first = np.full(n, at, dtype=np.int64)
        np.minimum.at(first, known.items, known.times)
        people = np.diff(known.positives().tocsc().indptr).astype(np.float32)
        return cls(at, people, last, first, items.categories)

    @cached_property
    def category_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """Each item's category as a code, and which codes stand for no category: worked out
        once, not for each batch scored (over 100,000 items it cost more than all the bases'
        scores)."""
        codes, index = np.unique(self.categories, return_inverse=True)
        return index, codes == ""

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "at": np.asarray([self.at], dtype=np.int64),
            "item_people": self.item_people,
            "item_last_us": self.item_last_us,
            "item_first_us": self.item_first_us,
            "categories": self.categories.astype(str),
        }

    @classmethod
    def from_arrays(cls, a: Mapping[str, np.ndarray]) -> Facts:
        return cls(
            int(a["at"][0]),
            a["item_people"],
            a["item_last_us"],
            a["item_first_us"],
            a["categories"].astype(object),
        )
