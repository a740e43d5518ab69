"""A model's ranking of people: what the candidates stage asks a model for, and keeps.

The person as the model sees them (``people_of``), one model run for one or many people
(``rankings``), and the ``Ranking`` it gives: items best first, with their scores and sources.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from relevo.decide.promoted import ServingModel
from relevo.domain.person_state import SeenItem
from relevo.models.abilities import Ranks
from relevo.models.base import People
from relevo.models.topk import top_k

POOL = 200  # ranked candidates kept for filtering, so filters rarely leave fewer than k


@dataclass(frozen=True, slots=True)
class Ranking:
    """A model's ranking of one person: items best first, their scores and sources, and the
    explanations found so far (filled as answers need them, kept while the ranking is kept).

    Only tuples and dicts of strings and floats inside: tens of thousands of rankings stay
    cached, and the garbage collector soon stops scanning such containers.
    """

    items: tuple[str, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)
    sources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    because: dict[str, str | None] = field(default_factory=dict)


def people_of(
    served: ServingModel, recent: list[SeenItem], region: str, weights: Mapping[str, float]
) -> People:
    """The person as the model sees them: their recent items, weighted by event type."""
    known = [(served.index[r.item_id], r) for r in recent if r.item_id in served.index]
    columns = [i for i, r in known if weights.get(r.type, 0) > 0]
    values = [weights[r.type] for i, r in known if weights.get(r.type, 0) > 0]
    history = sp.csr_matrix(
        (np.asarray(values, np.float32), ([0] * len(columns), columns)),
        shape=(1, len(served.index)),
    )
    history.sum_duplicates()
    sequence = np.asarray([i for i, _ in reversed(known)], dtype=np.int32)
    last = max((r.occurred_at_us for r in recent), default=0)
    return People(history, [sequence], [region], np.asarray([last], dtype=np.int64))


def stack(batch: list[People]) -> People:
    """Batches of one person, as one batch."""
    return People(
        sp.vstack([p.history for p in batch]).tocsr(),
        [p.sequences[0] for p in batch],
        [p.regions[0] for p in batch],
        np.concatenate([p.last_seen_us for p in batch]),
    )


def once(build: Callable[[], People]) -> Callable[[], People]:
    """``build``, called at most once (the person is built only if a model needs them)."""
    made: list[People] = []

    def get() -> People:
        if not made:
            made.append(build())
        return made[0]

    return get


def score(
    served: ServingModel,
    people: People,
    candidates: list[str] | None,
    sources: tuple[tuple[str, int], ...] = (),
) -> Ranking:
    """Run the model for one person: their best unseen items (or the caller's candidates)."""
    return rankings(served, people, candidates, sources)[0]


def rankings(
    served: ServingModel,
    people: People,
    candidates: list[str] | None = None,
    sources: tuple[tuple[str, int], ...] = (),
) -> list[Ranking]:
    """Run the model for a batch of people (one call, vectorized): each one's ranking.
    ``sources`` (a ranker's candidate counts per source) means nothing to other models."""
    model, index = served.model, served.index
    items = None
    if candidates is not None:
        items = np.asarray([index[c] for c in candidates if c in index], dtype=np.int64)
    proposals: dict[str, np.ndarray] = {}
    ranks = isinstance(model, Ranks)  # a Protocol check walks the class: once per run
    if ranks:
        scores, proposals = model.rank(people, items, dict(sources) or None)
    else:
        scores = model.score(people, items)
    if items is None:
        scores = scores.copy()
        seen = people.history.tocoo()
        scores[seen.row, seen.col] = -np.inf
    # A ranker's scores are relative, any finite one counts; for the other models a score of
    # zero means no evidence at all, and such items are left to the popular fill.
    floor = -np.inf if ranks else 0.0
    ids = model.item_ids if items is None else model.item_ids[items]
    return [
        _ranking(served, ids, row, floor, _proposed_by(served, proposals, person), candidates)
        for person, row in enumerate(scores)
    ]


def _proposed_by(
    served: ServingModel, proposals: Mapping[str, np.ndarray], person: int
) -> dict[str, list[str]] | None:
    """Which sources proposed each item to one person; None for a model without sources."""
    if not proposals:
        return None
    found: dict[str, list[str]] = {}
    for name, best in proposals.items():
        for i in best[person][best[person] >= 0]:
            found.setdefault(str(served.model.item_ids[i]), []).append(name)
    return found


Sources = tuple[str, ...]


def _one(shared: dict[Sources, Sources], found: Sources) -> Sources:
    """``found``, or the equal tuple already in ``shared``: the items of a ranking come from a
    few sets of sources, and a tuple per item was a third of a cached ranking's size."""
    return shared.setdefault(found, found)


def _ranking(
    served: ServingModel,
    ids: np.ndarray,
    row: np.ndarray,
    floor: float,
    proposed_by: dict[str, list[str]] | None,
    candidates: list[str] | None,
) -> Ranking:
    order = top_k(row, POOL)  # a partial sort: a catalog of 100,000 is not sorted whole
    order = order[order >= 0]  # -1 pads: a catalog under POOL, or fewer scores above -inf
    ranked = {str(ids[i]): float(row[i]) for i in order if np.isfinite(row[i]) and row[i] > floor}
    fixed = (served.record.name,)
    shared: dict[Sources, Sources] = {}  # each set of sources made once
    sources = {
        item: fixed if proposed_by is None else _one(shared, tuple(proposed_by.get(item, ())))
        for item in ranked
    }
    if candidates is not None:  # unknown to the model: after the known, in given order
        lowest = min(ranked.values(), default=0.0) - 1.0
        ranked.update((c, lowest) for c in candidates if c not in ranked)
    return Ranking(tuple(ranked), ranked, sources)
