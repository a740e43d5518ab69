"""The session model: what people do next, from item-to-item transitions in their sequences.

For each person's interactions in time order, every item is followed by the next ``window``
items, nearer ones counting more; rows are normalized to transition shares. A person is scored
from their latest items, the newest weighing most, so it answers "what comes after what you
just did" where the other models answer "what suits you".
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from relevo.models.base import ItemFeatures, People
from relevo.models.interactions import Interactions
from relevo.models.neighbors import ItemToItemModel, keep_strongest


class SessionModel(ItemToItemModel):
    """Its item x item weights are transition shares, and a person's "history" is their latest
    items weighted by recency, so scoring, explaining and saving are item-to-item's own."""

    kind: ClassVar[str] = "session"

    def __init__(
        self, window: int = 3, recent: int = 5, decay: float = 0.5, keep: int = 200
    ) -> None:
        super().__init__(window=window, recent=recent, decay=decay, keep=keep)

    def fit(self, data: Interactions, items: ItemFeatures) -> None:
        self.item_ids = data.item_ids
        positive = data.weights > 0
        order = np.lexsort((data.times[positive], data.people[positive]))
        people = data.people[positive][order]
        sequence = data.items[positive][order]
        sources, targets, weights = [], [], []
        for step in range(1, self.params["window"] + 1):
            same = people[step:] == people[:-step]
            moved = sequence[step:] != sequence[:-step]
            keep = same & moved
            sources.append(sequence[:-step][keep])
            targets.append(sequence[step:][keep])
            weights.append(np.full(keep.sum(), 1.0 / step, dtype=np.float32))
        n = data.n_items
        counts = sp.csr_matrix(
            (np.concatenate(weights), (np.concatenate(sources), np.concatenate(targets))),
            shape=(n, n),
            dtype=np.float32,
        )
        self.weights = normalize(keep_strongest(counts, self.params["keep"]), norm="l1")

    def _history(self, people: People) -> sp.csr_matrix:
        """Each person's last items, weighted ``decay`` ** age (the newest has age 0)."""
        rows, cols, values = [], [], []
        for row in range(len(people)):
            items, strengths = self._row(people, row)
            rows.extend([row] * len(items))
            cols.extend(items.tolist())
            values.extend(strengths.tolist())
        return sp.csr_matrix(
            (np.asarray(values, dtype=np.float32), (rows, cols)),
            shape=(len(people), self.weights.shape[0]),
        )

    def _row(self, people: People, row: int) -> tuple[np.ndarray, np.ndarray]:
        latest = people.sequences[row][::-1][: self.params["recent"]]
        items, position = np.unique(latest, return_inverse=True)  # an item seen twice counts twice
        strengths = np.zeros(len(items), dtype=np.float32)
        np.add.at(strengths, position, self.params["decay"] ** np.arange(len(latest)))
        return items.astype(np.int64), strengths
