"""Derived state: what the event log implies, folded so that order and repeats do not matter.

Every piece is a commutative, idempotent-under-dedupe fold (sums, maxima, the N latest by a total
order), so a log replayed from scratch, or events that arrived late and out of order, yield the
very same state as the live path. The live path and ``relevo replay`` share this code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec

from relevo.domain.events import Event

NOT_ENGAGEMENT = frozenset({"impression", "dismiss", "return"})
"""Types that name an item without showing interest in it: kept out of a person's recent items."""


class RecentItem(msgspec.Struct, frozen=True, array_like=True, order=True):
    """A person's latest event on one item. Ordered by (occurred_at, event_id): a total order."""

    occurred_at_us: int
    event_id: str
    item_id: str
    type: str


@dataclass
class ItemStat:
    count: int = 0
    last_at_us: int = 0


@dataclass
class StateDelta:
    """What one batch of new events adds to the derived state."""

    type_counts: Counter[str] = field(default_factory=Counter)
    item_stats: dict[tuple[str, str], ItemStat] = field(default_factory=dict)
    recent: dict[str, list[RecentItem]] = field(default_factory=dict)


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


def derive(events: Iterable[Event], recent_limit: int) -> StateDelta:
    """Fold new (already deduplicated) events into a delta."""
    delta = StateDelta()
    type_counts, item_stats, recent = delta.type_counts, delta.item_stats, delta.recent
    for event in events:
        type_counts[event.type] += 1
        if event.item_id is None:
            continue
        at = micros(event.occurred_at)
        stat = item_stats.get((event.item_id, event.type))
        if stat is None:
            item_stats[(event.item_id, event.type)] = ItemStat(1, at)
        else:
            stat.count += 1
            stat.last_at_us = max(stat.last_at_us, at)
        if event.type not in NOT_ENGAGEMENT:
            recent.setdefault(event.person_key, []).append(
                RecentItem(at, event.event_id, event.item_id, event.type)
            )
    for person, entries in recent.items():
        recent[person] = merge_recent([], entries, recent_limit)
    return delta


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
        if held is None or entry > held:
            latest[entry.item_id] = entry
    return sorted(latest.values(), reverse=True)[:limit]


class DerivedState(msgspec.Struct, frozen=True):
    """A full snapshot of one partition's derived state, for comparison and inspection."""

    type_counts: dict[str, int]
    item_stats: dict[str, dict[str, tuple[int, int]]]
    recent: dict[str, list[RecentItem]]
