"""What a decision knows about one person: the online features, read together at one moment.

Storage adapters read the rows of one person in one read context and hand them to
``person_state``, so every adapter assembles, decays and merges them the same way.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from relevo.domain.derived import (
    AFFINITY_HALF_LIFE_DAYS,
    DAY_US,
    PersonDay,
    RecentItem,
    add_decayed,
    best,
    decay_factor,
    recency,
)
from relevo.domain.people import PersonAttributes, merge_attributes

AFFINITY_KINDS = ("category", "tag")
TOP_AFFINITIES = 20
"""Affinities kept per kind: enough to rank and explain by, small enough to log in a trace."""


class Session(msgspec.Struct, frozen=True, gc=False):
    """One visit, as far as the person's recent items show it."""

    session_id: str
    first_at_us: int
    last_at_us: int
    item_ids: list[str]
    """Newest first."""


class PersonState(msgspec.Struct, frozen=True, gc=False):
    """A person's online features at one moment.

    ``updated_us`` says when each feature last changed (microseconds since the epoch), for
    reporting their age; a feature the person has none of is left out:

    - ``recent_items``: the ``occurred_at`` of the newest recent item;
    - ``counters``: the latest ``occurred_at`` of any of the person's events;
    - ``affinities``: the latest ``occurred_at`` of an event that moved one (an event of weight
      0, or on an item with neither category nor tags in the catalog, moves none);
    - ``attributes``: the later of the PUT's time and the latest event that set any.

    Exact times of events rather than of writes, so a replay gives the very same values.
    Not tracked by the garbage collector (``gc=False``), like the decisions that keep it.
    """

    recent: list[RecentItem] = []
    """Newest first, as ``RegionPartition.recent_items`` returns them."""
    sessions: list[Session] = []
    """Newest first; recent items without a session are in none."""
    affinities: dict[str, dict[str, float]] = {}
    """Kind (``category``, ``tag``) to key to decayed weight, best first, positive only."""
    counters: dict[str, int] = {}
    """Events per type, all time."""
    attributes: PersonAttributes | None = None
    """Effective attributes: per field, the later of the PUT record and the events that set it."""
    updated_us: dict[str, int] = {}
    version: int = 0
    """Grows whenever anything above changes (0: nothing stored): a decision worked out for
    the person stays valid while it is the same."""


def sessions_of(recent: Iterable[RecentItem]) -> list[Session]:
    """Group recent items by session, newest session first (ties by session id).

    A session shows only the items whose latest event fell in it: an item seen again in a later
    visit has moved to that visit.

    >>> recent = [RecentItem(5, "e3", "c", "view", "s2"), RecentItem(4, "e2", "b", "view"),
    ...           RecentItem(3, "e1", "a", "view", "s1"), RecentItem(2, "e0", "d", "view", "s2")]
    >>> [(s.session_id, s.first_at_us, s.last_at_us, s.item_ids) for s in sessions_of(recent)]
    [('s2', 2, 5, ['c', 'd']), ('s1', 3, 3, ['a'])]
    """
    grouped: dict[str, list[RecentItem]] = {}
    for entry in sorted(recent, key=recency, reverse=True):
        if entry.session_id is not None:
            grouped.setdefault(entry.session_id, []).append(entry)
    sessions = [
        Session(
            session_id,
            entries[-1].occurred_at_us,
            entries[0].occurred_at_us,
            [e.item_id for e in entries],
        )
        for session_id, entries in grouped.items()
    ]
    return sorted(sessions, key=lambda s: (s.last_at_us, s.session_id), reverse=True)


def shared_strings(recent: list[RecentItem]) -> list[RecentItem]:
    """The same items, with their item ids, types and session ids as shared (interned)
    strings. A read decodes a fresh copy of each, and the states kept in memory then held
    thousands of copies of the same few: a third of a state's size, on Online Retail.

    >>> read = [RecentItem(2, "e2", "".join(["i", "1"]), "view", "s"), RecentItem(1, "e1", "i1", "view", "s")]
    >>> shared = shared_strings(read)
    >>> shared == read, shared[0].item_id is shared[1].item_id is sys.intern("i1")
    (True, True)
    """
    intern = sys.intern
    return [
        RecentItem(
            r.occurred_at_us,
            r.event_id,
            intern(r.item_id),
            intern(r.type),
            None if r.session_id is None else intern(r.session_id),
        )
        for r in recent
    ]


def person_state(
    recent: list[RecentItem],
    days: Iterable[tuple[int, PersonDay]],
    put: tuple[PersonAttributes, int] | None,
    by_events: Mapping[str, tuple[int, Any]],
    now_us: int,
    half_life_days: float = AFFINITY_HALF_LIFE_DAYS,
    version: int = 0,
) -> PersonState:
    """Assemble a person's state from their stored records, decayed to the day of ``now_us``.

    ``days`` are the person's records by day; ``put`` is the PUT record and its time;
    ``by_events`` the attributes events set, field -> (occurred_at_us, value).
    """
    today = now_us // DAY_US
    scores: dict[str, dict[str, float]] = {kind: {} for kind in AFFINITY_KINDS}
    counters: Counter[str] = Counter()
    updated: dict[str, int] = {}
    for day, features in sorted(days, key=lambda pair: pair[0]):  # oldest first, as decayed
        counters.update(features.counts)
        updated["counters"] = max(
            updated.get("counters", features.counted_at_us), features.counted_at_us
        )
        if features.weighted_at_us is not None:
            at = features.weighted_at_us
            updated["affinities"] = max(updated.get("affinities", at), at)
            factor = decay_factor(today - day, half_life_days)
            add_decayed(scores["category"], features.categories, factor)
            add_decayed(scores["tag"], features.tags, factor)
    affinities = {
        kind: dict(best({k: round(v, 4) for k, v in found.items()}, TOP_AFFINITIES))
        for kind, found in scores.items()
    }
    recent = shared_strings(recent)
    if recent:
        updated["recent_items"] = recent[0].occurred_at_us
    put_attributes, put_at = put if put is not None else (None, 0)
    stamps = [at for at, _ in by_events.values()] + ([put_at] if put is not None else [])
    if stamps:
        updated["attributes"] = max(stamps)
    return PersonState(
        recent=recent,
        sessions=sessions_of(recent),
        affinities=affinities,
        counters=dict(sorted(counters.items())),
        attributes=merge_attributes(put_attributes, put_at, by_events),
        updated_us=dict(sorted(updated.items())),
        version=version,
    )
