"""What a decision knows about one person: the online features, read together at one moment.

Storage adapters read the rows of one person in one read context and hand them to
``person_state``, so every adapter assembles, decays and merges them the same way.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
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
)
from relevo.domain.people import PersonAttributes, merge_attributes

AFFINITY_KINDS = ("category", "tag")
TOP_AFFINITIES = 20
"""Affinities kept per kind: enough to rank and explain by, small enough to log in a trace."""


class SeenItem(msgspec.Struct, frozen=True, gc=False):
    """A recent item as a decision reads it: the stored ``RecentItem`` without its event id,
    which only orders merges in storage; kept in memory for every asking person, a unique
    event id was the largest part of each item."""

    occurred_at_us: int
    item_id: str
    type: str
    session_id: str | None = None


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

    recent: list[SeenItem] = []
    """Newest first, as ``RegionPartition.recent_items`` returns them."""
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

    @property
    def sessions(self) -> list[Session]:
        """Newest first; recent items without a session are in none. Derived when read (by
        a decision's trace), not kept with each state."""
        return sessions_of(self.recent)


def sessions_of(recent: Sequence[SeenItem]) -> list[Session]:
    """Group recent items, newest first as a state keeps them, by session: newest session
    first (ties by session id), each session's items newest first.

    A session shows only the items whose latest event fell in it: an item seen again in a later
    visit has moved to that visit.

    >>> recent = [SeenItem(5, "c", "view", "s2"), SeenItem(4, "b", "view"),
    ...           SeenItem(3, "a", "view", "s1"), SeenItem(2, "d", "view", "s2")]
    >>> [(s.session_id, s.first_at_us, s.last_at_us, s.item_ids) for s in sessions_of(recent)]
    [('s2', 2, 5, ['c', 'd']), ('s1', 3, 3, ['a'])]
    """
    grouped: dict[str, list[SeenItem]] = {}
    for entry in recent:
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


def seen_items(recent: list[RecentItem]) -> list[SeenItem]:
    """Stored recent items as a decision reads them: without event ids, and with item ids,
    types and session ids as shared (interned) strings. A read decodes a fresh copy of each,
    and the states kept in memory then held thousands of copies of the same few.

    >>> read = [RecentItem(2, "e2", "".join(["i", "1"]), "view", "s"), RecentItem(1, "e1", "i1", "view", "s")]
    >>> seen = seen_items(read)
    >>> seen[0], seen[0].item_id is seen[1].item_id is sys.intern("i1")
    (SeenItem(occurred_at_us=2, item_id='i1', type='view', session_id='s'), True)
    """
    intern = sys.intern
    return [
        SeenItem(
            r.occurred_at_us,
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
    if recent:
        updated["recent_items"] = recent[0].occurred_at_us
    put_attributes, put_at = put if put is not None else (None, 0)
    stamps = [at for at, _ in by_events.values()] + ([put_at] if put is not None else [])
    if stamps:
        updated["attributes"] = max(stamps)
    return PersonState(
        recent=seen_items(recent),
        affinities=affinities,
        counters=dict(sorted(counters.items())),
        attributes=merge_attributes(put_attributes, put_at, by_events),
        updated_us=dict(sorted(updated.items())),
        version=version,
    )
