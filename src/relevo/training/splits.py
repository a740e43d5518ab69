"""Ways to hide part of the interactions from a model, to check what it predicts against them.

Three protocols, because each answers a different question:

- ``random_split``: how well does the model fill in a person's tastes? The classic one, and the
  one most published figures use, but it lets a model learn from the future.
- ``temporal_split``: how would the model have done had it been trained at a past moment? The
  honest estimate for a deployed engine, where only the past is ever known.
- ``leave_last_out``: what does each person do next? The question sequential models answer.

All three then decide relevance the same way: an item is relevant to a person when their test
rows like it (net positive weight) and their train rows do not; items a person already has are
excluded from their rankings, so counting them would only reward a model for the impossible.
A person is evaluated when their train rows like something (there is a history to personalize
from) and something is relevant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np

from relevo.models.holdouts import cutoff_of_latest, latest_rows, random_rows
from relevo.models.interactions import Interactions

DAY_US = 86_400_000_000


@dataclass(frozen=True)
class Split:
    """What a model trains on, and what it is then asked to find, person by person.

    ``train`` keeps the id arrays of the whole data, so items seen only in the test rows stay
    known by index (a model may know them from the catalog) and rankings stay comparable.
    ``relevant[i]`` are the item indices relevant to person ``people[i]``.
    """

    train: Interactions
    people: np.ndarray
    relevant: list[np.ndarray]
    protocol: str
    description: str


def random_split(data: Interactions, ratio: float = 0.75, seed: int = 0) -> Split:
    """Per person, a random ``ratio`` share of their rows to train, the rest to test.

    The share is taken per person rather than over all rows, so that people with few rows are
    split as evenly as people with many. It is rounded down, except that a person with two rows
    or more keeps at least one in train, so everyone with a test row has a history too.
    The same seed gives the same split.

    >>> data = Interactions.from_rows([("u", item, 1.0, t, None) for t, item in enumerate("abcd")])
    >>> split = random_split(data, ratio=0.5, seed=1)
    >>> len(split.train), split.people.tolist(), [len(items) for items in split.relevant]
    (2, [0], [2])
    """
    if not 0 < ratio < 1:
        raise ValueError(f"ratio must be strictly between 0 and 1, got {ratio}")
    counts = np.bincount(data.people, minlength=data.n_people)
    test = ~random_rows(data, _kept(counts, ratio), seed)
    return _split(
        data,
        test,
        "random",
        f"a random {ratio:.0%} of each person's rows to train, the rest to test (seed {seed})",
    )


def temporal_split(
    data: Interactions, test_days: float | None = None, ratio: float | None = None
) -> Split:
    """Everything before a moment to train, everything at or after it to test.

    The moment is ``test_days`` days before the newest interaction, or else the point that
    leaves the first ``ratio`` of the time span (default 0.8) to train. Days suit a live engine
    ("retrain weekly, test on the next week"); a share of the span suits data sets of any age.

    >>> day = 86_400_000_000
    >>> rows = [("u", "a", 1.0, 0, None), ("u", "b", 1.0, 9 * day, None)]
    >>> data = Interactions.from_rows([*rows, ("u", "c", 1.0, 10 * day, None)])
    >>> split = temporal_split(data, test_days=1)
    >>> split.train.items.tolist(), split.relevant[0].tolist()
    ([0], [1, 2])
    """
    if len(data) == 0:
        raise ValueError("no interactions to split")
    if test_days is not None and ratio is not None:
        raise ValueError("give test_days or ratio, not both")
    newest = int(data.times.max())
    if test_days is not None:
        if test_days <= 0:
            raise ValueError(f"test_days must be positive, got {test_days}")
        cut = newest - test_days * DAY_US
        kept = f"the last {test_days:g} days"
    else:
        share = 0.8 if ratio is None else ratio
        if not 0 < share < 1:
            raise ValueError(f"ratio must be strictly between 0 and 1, got {share}")
        oldest = int(data.times.min())
        cut = oldest + share * (newest - oldest)
        kept = f"the last {1 - share:.0%} of the time span"
    return _from_moment(data, cut, kept)


def leave_last_out(data: Interactions) -> Split:
    """Each person's last row to test, for people with two rows or more.

    The last row is the latest in time and, among rows at the same time, the later one in the
    data, so the choice never depends on a sort's whims. People with one row keep it in train:
    they have nothing to test, but others learn from it.

    >>> data = Interactions.from_rows(
    ...     [("u", "a", 1.0, 1, None), ("u", "b", 1.0, 2, None), ("v", "a", 1.0, 3, None)]
    ... )
    >>> split = leave_last_out(data)
    >>> len(split.train), split.people.tolist(), split.relevant[0].tolist()
    (2, [0], [1])
    """
    counts = np.bincount(data.people, minlength=data.n_people)
    test = latest_rows(data, (counts >= 2).astype(np.int64))
    return _split(data, test, "leave_last_out", "each person's last row to test, the rest to train")


def _kept(counts: np.ndarray, ratio: float) -> np.ndarray:
    """Rows each person keeps to train: ``ratio`` of them rounded down, at least one of two."""
    keep = np.floor(ratio * counts).astype(np.int64)
    keep[counts >= 2] = np.maximum(keep[counts >= 2], 1)
    return keep


def _split(data: Interactions, test: np.ndarray, protocol: str, description: str) -> Split:
    """The split for a test mask over the rows: train rows, and who is evaluated on what."""
    train = data.select(~test)
    seen = train.positives()
    liked = data.select(test).positives()
    fresh = liked - liked.multiply(seen)
    fresh.eliminate_zeros()
    fresh.sort_indices()
    has_history = np.diff(seen.indptr) > 0
    has_relevant = np.diff(fresh.indptr) > 0
    people = np.flatnonzero(has_history & has_relevant)
    relevant = [fresh.indices[fresh.indptr[p] : fresh.indptr[p + 1]] for p in people]
    return Split(train, people, relevant, protocol, description)


HOLDOUT_OF = {"random": "random", "temporal": "time", "leave_last_out": "latest"}
"""The hybrid learns its ranker from rows held out the way a split holds out its test rows,
so that it learns the question the split asks."""


def matching_holdout(
    params: Mapping[str, Mapping[str, object]] | None, protocol: str
) -> dict[str, Mapping[str, object]]:
    """``params`` with the hybrid's ``holdout`` set to match ``protocol``, unless given.

    >>> matching_holdout({}, "random")["hybrid"]
    {'holdout': 'random'}
    """
    found = dict(params or {})
    found["hybrid"] = {"holdout": HOLDOUT_OF[protocol], **found.get("hybrid", {})}
    return found


VALIDATION_PEOPLE = 5_000
"""People a choice among models is measured on, at most: enough to tell models apart (the
standard error of a mean NDCG@10 is then a few thousandths), few enough that tuning and
choosing stay minutes long on 300,000 people and 100,000 items, where ranking everyone ranks
3e10 scores for each model and setting."""


def validation_split(data: Interactions, protocol: str, seed: int = 0) -> Split:
    """The part of ``data`` a choice among models is measured on, the rest fitted on: the last
    tenth of the events (``temporal``), a random tenth of each person's rows (``random``),
    or each person's last row (``leave_last_out``); measured on ``VALIDATION_PEOPLE`` of its
    people at most, drawn at random."""
    if protocol == "random":
        split = random_split(data, ratio=0.9, seed=seed)
    elif protocol == "leave_last_out":
        split = leave_last_out(data)
    else:
        split = latest_events_split(data, share=0.1)
    return at_most(split, VALIDATION_PEOPLE, seed)


def at_most(split: Split, people: int, seed: int) -> Split:
    """``split`` measured on ``people`` of its people at most, drawn at random (kept in order).

    >>> data = Interactions.from_rows([(u, i, 1.0, 0, None) for u in "uvw" for i in "ab"])
    >>> len(at_most(leave_last_out(data), 2, seed=0).people)
    2
    """
    if len(split.people) <= people:
        return split
    chosen = np.sort(np.random.default_rng(seed).choice(len(split.people), people, replace=False))
    return replace(
        split,
        people=split.people[chosen],
        relevant=[split.relevant[i] for i in chosen],
        description=f"{split.description}; {people:,} of its {len(split.people):,} people",
    )


def latest_events_split(data: Interactions, share: float) -> Split:
    """A temporal split whose moment is counted in events: the last ``share`` of them to test.
    A tenth of the time span would hold only the few events dated now after years of history
    (a live log after an import of old data), and measure models on those alone."""
    if len(data) == 0:
        raise ValueError("no interactions to split")
    return _from_moment(data, cutoff_of_latest(data, share), f"the last {share:.0%} of the events")


def _from_moment(data: Interactions, cut: float, kept: str) -> Split:
    """A temporal split: rows before ``cut`` (microseconds) to train, the rest to test."""
    moment = datetime.fromtimestamp(cut / 1e6, UTC).isoformat(timespec="seconds")
    return _split(
        data,
        data.times >= cut,
        "temporal",
        f"rows before {moment} to train, from then on ({kept}) to test",
    )
