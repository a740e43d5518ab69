"""Interactions: what models learn from, as columns of NumPy arrays in time order.

Events become interactions through per-type weights (a purchase says more than a view; a dismiss
or a return says "not this"). Every model, split and metric reads this one table, so the engine's
event log, a file given to ``relevo train --interactions`` and a test's hand-made case all look
the same to them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class Interactions:
    """One row per weighted event, sorted by time; people and items are indices into the id
    arrays, so models work on dense integer ids and answer in the caller's ids.

    >>> data = Interactions.from_rows(
    ...     [("u1", "a", 5.0, 10, "s1"), ("u1", "b", 1.0, 20, "s1"), ("u2", "a", 1.0, 15, None)]
    ... )
    >>> data.n_people, data.n_items, data.person_ids.tolist(), data.item_ids.tolist()
    (2, 2, ['u1', 'u2'], ['a', 'b'])
    >>> data.matrix().toarray().tolist()
    [[5.0, 1.0], [1.0, 0.0]]
    """

    people: np.ndarray  # int32, index into person_ids
    items: np.ndarray  # int32, index into item_ids
    weights: np.ndarray  # float32, signed
    times: np.ndarray  # int64, microseconds since the Unix epoch
    sessions: np.ndarray  # int32, index of the (person's) session, -1 when none
    person_ids: np.ndarray  # str
    item_ids: np.ndarray  # str
    person_regions: np.ndarray | None = None  # str per person: their home region, if known

    @property
    def n_people(self) -> int:
        return len(self.person_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.people)

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[tuple[str, str, float, int, str | None]],
        item_ids: Iterable[str] = (),
        regions: Mapping[str, str] | None = None,
    ) -> Interactions:
        """Build from (person, item, weight, time_us, session) rows in any order.

        ``item_ids`` adds items with no interactions (the catalog), so that models which can
        score them (content) know them; they come first, in the order given.
        """
        person_index: dict[str, int] = {}
        item_index: dict[str, int] = {item: i for i, item in enumerate(dict.fromkeys(item_ids))}
        session_index: dict[str, int] = {}
        people, items, weights, times, sessions = [], [], [], [], []
        for person, item, weight, time_us, session in rows:
            people.append(person_index.setdefault(person, len(person_index)))
            items.append(item_index.setdefault(item, len(item_index)))
            weights.append(weight)
            times.append(time_us)
            sessions.append(
                -1 if session is None else session_index.setdefault(session, len(session_index))
            )
        order = np.argsort(np.asarray(times, dtype=np.int64), kind="stable")
        return cls(
            people=np.asarray(people, dtype=np.int32)[order],
            items=np.asarray(items, dtype=np.int32)[order],
            weights=np.asarray(weights, dtype=np.float32)[order],
            times=np.asarray(times, dtype=np.int64)[order],
            sessions=np.asarray(sessions, dtype=np.int32)[order],
            person_ids=np.asarray(list(person_index), dtype=object),
            item_ids=np.asarray(list(item_index), dtype=object),
            person_regions=None
            if regions is None
            else np.asarray([regions.get(p, "") for p in person_index], dtype=object),
        )

    def select(self, mask: np.ndarray) -> Interactions:
        """The rows where ``mask`` is true, over the same people and items (indices kept)."""
        return Interactions(
            self.people[mask],
            self.items[mask],
            self.weights[mask],
            self.times[mask],
            self.sessions[mask],
            self.person_ids,
            self.item_ids,
            self.person_regions,
        )

    def region_of(self, person: int) -> str | None:
        return None if self.person_regions is None else self.person_regions[person]

    def matrix(self) -> sp.csr_matrix:
        """People x items of net weights; pairs whose net weight is not positive are dropped.

        A copy of one matrix built once per table: models, splits and batches of ``People``
        all ask for it, and the caller may change its copy."""
        return self._net.copy()

    def rows(self, people: np.ndarray) -> sp.csr_matrix:
        """The net-weight rows of these people (a new matrix: no copy of the whole)."""
        return self._net[people]

    @cached_property
    def _net(self) -> sp.csr_matrix:
        summed = sp.csr_matrix(
            (self.weights.astype(np.float32), (self.people, self.items)),
            shape=(self.n_people, self.n_items),
            dtype=np.float32,
        )
        summed.sum_duplicates()
        summed.data[summed.data < 0] = 0
        summed.eliminate_zeros()
        return summed

    @cached_property
    def by_person(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows grouped by person in time order (an index into the columns), where each
        person's rows start in it, and each person's latest time: what a batch of ``People``
        is cut from, computed once per table."""
        order = np.argsort(self.people, kind="stable")
        starts = np.searchsorted(self.people[order], np.arange(self.n_people + 1))
        last_seen = np.zeros(self.n_people, dtype=np.int64)
        np.maximum.at(last_seen, self.people, self.times)
        return order, starts, last_seen

    def positives(self) -> sp.csr_matrix:
        """The same pairs as ``matrix`` with weight 1: "this person liked this item"."""
        liked = self.matrix()
        liked.data[:] = 1.0
        return liked
