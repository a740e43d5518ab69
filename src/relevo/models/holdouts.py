"""Which rows to hold out of what a model learns from, person by person.

Evaluation hides rows to measure a model against them, and the hybrid hides rows to learn its
ranker from what the bases did not see (``held_rows``): both choose which rows of each person
to hold, at random or their latest (``random_rows``, ``latest_rows``), or every event from a
moment on (``cutoff_of_latest``). The hybrid holds ``held_counts`` of each person's rows, so
that a person with two rows or more keeps one on each side; evaluation's splits count their
own (``training/splits.py``: a person's only row is a test row there).
"""

from __future__ import annotations

import numpy as np

from relevo.domain.derived import from_micros
from relevo.domain.model_records import CannotTrain
from relevo.models.interactions import Interactions


def cutoff_of_latest(data: Interactions, share: float) -> int:
    """The time of the first event of the last ``share`` of them (``data`` not empty), counted
    in events, not in time: one event dated today after years of older history (a newcomer's
    first click) would otherwise put the whole history before the cut-off and nothing after.

    >>> data = Interactions.from_rows([("u", "a", 1.0, t, None) for t in (1, 2, 3, 4, 10**9)])
    >>> cutoff_of_latest(data, 0.4)
    4
    """
    at = min(len(data) - 1, max(0, int(len(data) * (1 - share))))
    return int(np.partition(data.times, at)[at])


def held_counts(counts: np.ndarray, share: float) -> np.ndarray:
    """Rows to hold of each person's ``counts``: ``share`` of them rounded down, but at least
    one and never all for a person with two rows or more; none for a person with one.

    >>> held_counts(np.array([1, 2, 4, 10]), 0.25).tolist()
    [0, 1, 1, 2]
    """
    if not 0 < share < 1:
        raise ValueError(f"the share held must be strictly between 0 and 1, got {share}")
    held = np.floor(share * counts + 1e-9).astype(np.int64)
    many = counts >= 2
    held[many] = np.clip(held[many], 1, counts[many] - 1)
    held[~many] = 0
    return held


def random_rows(data: Interactions, held: np.ndarray, seed: int) -> np.ndarray:
    """A mask of ``held[p]`` rows of each person ``p``, drawn at random (the same seed draws
    the same rows)."""
    order = np.lexsort((np.random.default_rng(seed).random(len(data)), data.people))
    return _first_of_each(data, order, held)


def latest_rows(data: Interactions, held: np.ndarray) -> np.ndarray:
    """A mask of each person's ``held[p]`` latest rows; among rows at the same time, the later
    in the data counts as later, so the choice never depends on a sort's whims."""
    order = np.lexsort((-np.arange(len(data)), -data.times, data.people))
    return _first_of_each(data, order, held)


def _first_of_each(data: Interactions, order: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Rows in ``order`` (grouped by person) that are among the first ``held`` of their person."""
    counts = np.bincount(data.people, minlength=data.n_people)
    owner = data.people[order]
    place = np.arange(len(data)) - (np.cumsum(counts) - counts)[owner]
    mask = np.zeros(len(data), dtype=bool)
    mask[order] = place < held[owner]
    return mask


HOLDOUTS = ("time", "random", "latest")
"""How the hybrid hides the rows its ranker learns from: ``time``, every event from a moment on
(how a deployed engine meets the future); ``random``, a random share of each person's rows (for
data whose times mean little, such as ratings entered in one sitting); ``latest``, each
person's latest share (what each does next, whenever that was)."""


LABEL_SHARE = {"time": 0.1, "random": 0.2, "latest": 0.2}
"""The share held out by default: the last 10% of the events, or 20% of each person's rows."""


def held_rows(
    data: Interactions, holdout: str, share: float, seed: int = 0
) -> tuple[np.ndarray, int, str]:
    """The rows hidden from the bases, whose likes label the ranker's examples; the moment
    its features are computed at; and how to name those rows in an error."""
    if not len(data):
        raise CannotTrain("no interactions to learn from")
    if holdout == "time":
        cutoff = cutoff_of_latest(data, share)
        return data.times >= cutoff, cutoff, f"the events from {_moment(cutoff)} on"
    held = held_counts(np.bincount(data.people, minlength=data.n_people), share)
    rows = random_rows(data, held, seed) if holdout == "random" else latest_rows(data, held)
    return rows, int(data.times.max()), f"each person's {holdout} {share:.0%} of rows"


def _moment(us: int) -> str:
    return from_micros(us).isoformat(timespec="seconds")
