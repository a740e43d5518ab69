"""Derived state: what the event log implies, folded so that order and repeats do not matter.

Every piece is a commutative, idempotent-under-dedupe fold (sums, maxima, the N latest by a total
order), so a log replayed from scratch, or events that arrived late and out of order, yield the
very same state as the live path. The live path and ``relevo replay`` share this code.

Time decay is the one thing that is not a fold: a decayed score depends on when it is read. So
weights are stored as exact integer sums per day (thousandths of a weight, never floats, whose
sums would depend on the order of the terms) and decayed only when read (``decayed``).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import msgspec

from relevo.domain.events import Event
from relevo.domain.people import event_attributes

NOT_ENGAGEMENT = frozenset({"impression", "dismiss", "return"})
"""Types that name an item without showing interest in it: kept out of a person's recent items."""


class RecentItem(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """A person's latest event on one item, newest first by ``recency``."""

    occurred_at_us: int
    event_id: str
    item_id: str
    type: str
    session_id: str | None = None  # last, with a default: rows stored before it still decode


DAY_US = 86_400_000_000
AFFINITY_HALF_LIFE_DAYS = 30.0
"""How fast a person's taste for a category or tag fades: an event counts half after 30 days."""

Facets = Mapping[str, tuple[str | None, list[str]]]
"""Category and tags of catalog items, by item id (``Catalog.facets``)."""


@dataclass
class ItemStat:
    count: int = 0
    last_at_us: int = 0


class PersonDay(msgspec.Struct, array_like=True):
    """One person's features of one day: events by type, and affinities in thousandths of the
    interaction weight of the events, by category and by tag (a fold: integer sums and maxima).

    One record per person and day, rather than a row per category, tag and type: ingest then
    writes one record for all of a person's events of the day in a batch.
    """

    counted_at_us: int
    """The latest event of the day (every event is counted)."""
    counts: dict[str, int]
    weighted_at_us: int | None = None
    """The latest event of the day that moved an affinity; None if none did."""
    categories: dict[str, int] = {}
    tags: dict[str, int] = {}

    def merge(self, other: PersonDay) -> None:
        """Fold ``other`` (the same person and day) into this record."""
        self.counted_at_us = max(self.counted_at_us, other.counted_at_us)
        _sum_into(self.counts, other.counts)
        if other.weighted_at_us is not None:
            self.weighted_at_us = (
                other.weighted_at_us
                if self.weighted_at_us is None
                else max(self.weighted_at_us, other.weighted_at_us)
            )
            _sum_into(self.categories, other.categories)
            _sum_into(self.tags, other.tags)


def _sum_into(into: dict[str, int], add: Mapping[str, int]) -> None:
    for key, value in add.items():
        into[key] = into.get(key, 0) + value


class EventAttribute(NamedTuple):
    """A person's attribute as set by an event; the latest by (occurred_at, event_id) wins."""

    occurred_at_us: int
    event_id: str
    value: Any


@dataclass
class StateDelta:
    """What one batch of new events adds to the derived state.

    ``person_days`` is keyed by (person, day), ``item_days`` (thousandths of weight) by
    (item, day), ``attributes`` by (person, field).
    """

    type_counts: Counter[str] = field(default_factory=Counter)
    item_stats: dict[tuple[str, str], ItemStat] = field(default_factory=dict)
    recent: dict[str, list[RecentItem]] = field(default_factory=dict)
    person_days: dict[tuple[str, int], PersonDay] = field(default_factory=dict)
    item_days: Counter[tuple[str, int]] = field(default_factory=Counter)
    attributes: dict[tuple[str, str], EventAttribute] = field(default_factory=dict)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch, exact (integer arithmetic; naive means UTC).

    >>> micros(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC))
    1000005
    """
    return (moment - (_EPOCH if moment.tzinfo else _NAIVE_EPOCH)) // _MICROSECOND


def from_micros(us: int) -> datetime:
    """The UTC moment ``us`` microseconds after the Unix epoch (the inverse of ``micros``).

    >>> from_micros(micros(datetime(2026, 11, 21, 10, 0, tzinfo=UTC))).isoformat()
    '2026-11-21T10:00:00+00:00'
    """
    return _EPOCH + timedelta(microseconds=us)


def derive(
    events: Iterable[Event], recent_limit: int, weights: Mapping[str, float], facets: Facets
) -> StateDelta:
    """Fold new (already deduplicated) events into a delta.

    ``weights`` are the tenant's interaction weights: an event type of weight 0 (or none) adds
    nothing to affinities or item popularity. Affinities take an item's category and tags from
    ``facets``, the catalog as it is when the event is folded: a replay refolds every event with
    the catalog of replay time, so an item re-categorized since moves its past weight along.
    """
    delta = StateDelta()
    type_counts, item_stats, recent = delta.type_counts, delta.item_stats, delta.recent
    person_days, item_days, attributes = delta.person_days, delta.item_days, delta.attributes
    milli_of = {kind: round(weight * 1000) for kind, weight in weights.items()}
    tags_of: dict[str, tuple[str, ...]] = {}  # each item's tags, each once
    for event in events:
        kind, person, item = event.type, event.person_key, event.item_id
        type_counts[kind] += 1
        at = micros(event.occurred_at)
        day = at // DAY_US
        today = _count_day(person_days, person, day, at, kind)
        if event.properties and "person" in event.properties:
            _keep_attributes(attributes, person, event, at)
        if item is None:
            continue
        _count_item(item_stats, item, kind, at)
        if kind not in NOT_ENGAGEMENT:
            recent.setdefault(person, []).append(
                RecentItem(at, event.event_id, item, kind, event.session_id)
            )
        milli = milli_of.get(kind)
        if not milli:
            continue
        item_days[(item, day)] += milli
        facet = facets.get(item)
        if facet is not None and (facet[0] is not None or facet[1]):
            _add_affinities(today, item, facet, tags_of, milli, at)
    for person, entries in recent.items():
        recent[person] = merge_recent([], entries, recent_limit)
    return delta


def _count_day(
    person_days: dict[tuple[str, int], PersonDay], person: str, day: int, at: int, kind: str
) -> PersonDay:
    """The person's day, with this event counted in it."""
    today = person_days.get((person, day))
    if today is None:
        today = person_days[(person, day)] = PersonDay(at, {kind: 1})
    else:
        today.counts[kind] = today.counts.get(kind, 0) + 1
        if at > today.counted_at_us:
            today.counted_at_us = at
    return today


def _keep_attributes(
    attributes: dict[tuple[str, str], EventAttribute], person: str, event: Event, at: int
) -> None:
    """The person attributes the event sets, each kept if newer than the one held."""
    for name, value in event_attributes(event.properties["person"]).items():
        held = attributes.get((person, name))
        if held is None or (at, event.event_id) > held[:2]:
            attributes[(person, name)] = EventAttribute(at, event.event_id, value)


def _count_item(item_stats: dict[tuple[str, str], ItemStat], item: str, kind: str, at: int) -> None:
    stat = item_stats.get((item, kind))
    if stat is None:
        item_stats[(item, kind)] = ItemStat(1, at)
    else:
        stat.count += 1
        stat.last_at_us = max(stat.last_at_us, at)


def _add_affinities(
    today: PersonDay,
    item: str,
    facet: tuple[str | None, list[str]],
    tags_of: dict[str, tuple[str, ...]],
    milli: int,
    at: int,
) -> None:
    """The event's weight added to the person's day under the item's category and tags."""
    category, tags = facet
    if category is not None:
        today.categories[category] = today.categories.get(category, 0) + milli
    unique = tags_of.get(item)
    if unique is None:
        unique = tags_of[item] = tuple(dict.fromkeys(tags))
    held_tags = today.tags
    for tag in unique:
        held_tags[tag] = held_tags.get(tag, 0) + milli
    if today.weighted_at_us is None or at > today.weighted_at_us:
        today.weighted_at_us = at


def decayed(
    rows: Iterable[tuple[str, int, int]],
    day: int,
    half_life_days: float = AFFINITY_HALF_LIFE_DAYS,
) -> dict[str, float]:
    """Scores by key from (key, day, thousandths of weight) rows, decayed to ``day``.

    Each day's weight is summed exactly first, then halved every ``half_life_days``; the days
    are added oldest first, so the same rows always give the same floats.

    >>> decayed([("shoes", 10, 2000), ("hats", 0, 1000), ("shoes", 10, 1000)], 10, 10)
    {'hats': 0.5, 'shoes': 3.0}
    >>> decayed([("shoes", 12, 1000), ("shoes", 9, -500)], 10, 1)  # day 12: ahead of the clock
    {'shoes': 0.75}
    """
    by_day: dict[int, Counter[str]] = {}
    for key, at_day, milli in rows:
        by_day.setdefault(at_day, Counter())[key] += milli
    scores: dict[str, float] = {}
    for at_day in sorted(by_day):
        add_decayed(scores, by_day[at_day], decay_factor(day - at_day, half_life_days))
    return scores


def decay_factor(age_days: int, half_life_days: float) -> float:
    """What one unit of weight ``age_days`` old is worth now. A day ahead of now (an event a
    few minutes ahead of the clock) counts in full, never more.

    >>> decay_factor(60, 30), decay_factor(-1, 30)
    (0.25, 1.0)
    """
    return 0.5 ** (max(0, age_days) / half_life_days)


def add_decayed(scores: dict[str, float], milli: Mapping[str, int], factor: float) -> None:
    """Add one day's exact sums (thousandths), decayed by ``factor``, to ``scores``.

    Callers add days oldest first: float sums depend on the order of their terms.
    """
    for key, value in milli.items():
        scores[key] = scores.get(key, 0.0) + value / 1000 * factor


def best(scores: Mapping[str, float], limit: int) -> list[tuple[str, float]]:
    """The ``limit`` positive scores, best first (ties by key, so the order is stable).

    >>> best({"a": 1.0, "b": 2.0, "c": -1.0, "d": 1.0}, 2)
    [('b', 2.0), ('a', 1.0)]
    """
    return heapq.nsmallest(
        limit,
        ((key, score) for key, score in scores.items() if score > 0),
        key=lambda pair: (-pair[1], pair[0]),
    )


def recency(entry: RecentItem) -> tuple[int, str, str, str, str]:
    """The total order of recent items: (occurred_at, event_id), which no two events share;
    the other fields only make the order total over any values whatsoever (a session of None
    cannot be compared, hence no ``order=True`` on the struct)."""
    return entry.occurred_at_us, entry.event_id, entry.item_id, entry.type, entry.session_id or ""


def merge_recent(
    current: Iterable[RecentItem], new: Iterable[RecentItem], limit: int
) -> list[RecentItem]:
    """The ``limit`` most recent distinct items of both lists, newest first.

    >>> a = RecentItem(1, "e1", "x", "view"); b = RecentItem(3, "e2", "y", "view")
    >>> c = RecentItem(2, "e3", "x", "click")
    >>> [r.item_id for r in merge_recent([a], [b, c], 5)]
    ['y', 'x']
    >>> merge_recent([a, b], [c], 1) == merge_recent([c], [b, a], 1)
    True
    """
    latest: dict[str, RecentItem] = {}
    for entry in (*current, *new):
        held = latest.get(entry.item_id)
        if held is None or recency(entry) > recency(held):
            latest[entry.item_id] = entry
    return sorted(latest.values(), key=recency, reverse=True)[:limit]


class DerivedState(msgspec.Struct, frozen=True):
    """A full snapshot of one partition's derived state, for comparison and inspection."""

    type_counts: dict[str, int]
    item_stats: dict[str, dict[str, tuple[int, int]]]
    recent: dict[str, list[RecentItem]]
    person_days: dict[str, dict[int, PersonDay]]
    """Person -> day -> their features of the day."""
    item_days: list[tuple[str, int, int]]
    """(item, day, milli) rows, sorted."""
    event_attributes: dict[str, dict[str, EventAttribute]]
    """Attributes set by events: person -> field -> the latest setting."""
