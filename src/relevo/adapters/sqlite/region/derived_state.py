"""Derived state in a region file: the views of the log that ingest keeps current (counts,
item stats, people's recent items and days, items' days, attributes set by events), written
from a ``StateDelta`` and read back whole or as trending."""

from __future__ import annotations

import math
import sqlite3

import msgspec

from relevo.adapters.sqlite.region.keyed_rows import CHUNK, rows_for_keys
from relevo.adapters.sqlite.region.tables import DERIVED_TABLES
from relevo.domain.derived import (
    DAY_US,
    DerivedState,
    EventAttribute,
    PersonDay,
    RecentItem,
    StateDelta,
    best,
    decayed,
    merge_recent,
)

_encode = msgspec.json.encode
recent_decoder = msgspec.json.Decoder(list[RecentItem])
_person_day_decoder = msgspec.json.Decoder(PersonDay)
_READ_HALF_LIVES = 20
"""Days older than this many half-lives weigh under a millionth: trending does not read them."""


def people_changed_by(delta: StateDelta) -> set[str]:
    """The people whose state (what ``person_state`` reads) the delta changes."""
    changed = {person for person, _ in delta.person_days}
    changed.update(person for person, _ in delta.attributes)
    changed.update(delta.recent)
    return changed


def write_delta(db: sqlite3.Connection, delta: StateDelta, recent_limit: int) -> None:
    db.executemany(
        "INSERT INTO type_counts VALUES (?, ?) ON CONFLICT (type) DO UPDATE SET n = n + excluded.n",
        delta.type_counts.items(),
    )
    db.executemany(
        "INSERT INTO item_stats VALUES (?, ?, ?, ?) ON CONFLICT (item_id, type) DO UPDATE"
        " SET n = n + excluded.n, last_at_us = max(last_at_us, excluded.last_at_us)",
        [(item, kind, s.count, s.last_at_us) for (item, kind), s in delta.item_stats.items()],
    )
    if delta.person_days:
        _merge_person_days(db, delta.person_days)
    db.executemany(
        "INSERT INTO item_days VALUES (?, ?, ?)"
        " ON CONFLICT (day, item_id) DO UPDATE SET milli = milli + excluded.milli",
        [(day, item, milli) for (item, day), milli in delta.item_days.items()],
    )
    if delta.attributes:
        db.executemany(
            "INSERT INTO person_event_attributes VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (person, field) DO UPDATE SET occurred_at_us ="
            " excluded.occurred_at_us, event_id = excluded.event_id, value = excluded.value"
            " WHERE (excluded.occurred_at_us, excluded.event_id) > (occurred_at_us, event_id)",
            [
                (person, name, a.occurred_at_us, a.event_id, _encode(a.value))
                for (person, name), a in delta.attributes.items()
            ],
        )
    if delta.recent:
        _merge_recent(db, delta.recent, recent_limit)


def _merge_recent(
    db: sqlite3.Connection, recent: dict[str, list[RecentItem]], recent_limit: int
) -> None:
    current = {
        person: recent_decoder.decode(entries)
        for person, entries in rows_for_keys(
            db, "SELECT person, entries FROM recent_items WHERE person IN", list(recent)
        )
    }
    db.executemany(
        "INSERT OR REPLACE INTO recent_items VALUES (?, ?)",
        [
            (person, _encode(merge_recent(current.get(person, ()), new, recent_limit)))
            for person, new in recent.items()
        ],
    )


def _merge_person_days(db: sqlite3.Connection, days: dict[tuple[str, int], PersonDay]) -> None:
    """Fold the delta's records into the stored ones, reading only those it touches."""
    merged = dict(days)
    keys = list(days)
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        values = ", ".join(["(?, ?)"] * len(chunk))
        for person, day, body in db.execute(
            "SELECT t.person, t.day, t.body FROM (VALUES"
            f" {values}) AS k JOIN person_days AS t ON t.person = k.column1"
            " AND t.day = k.column2",
            [part for key in chunk for part in key],
        ):
            held = _person_day_decoder.decode(body)
            held.merge(days[(person, day)])
            merged[(person, day)] = held
    db.executemany(
        "INSERT OR REPLACE INTO person_days VALUES (?, ?, ?)",
        [(person, day, _encode(record)) for (person, day), record in merged.items()],
    )


def clear(db: sqlite3.Connection) -> None:
    for table in DERIVED_TABLES:
        db.execute(f"DELETE FROM {table}")


def read_trending(
    db: sqlite3.Connection, now_us: int, half_life_days: float, limit: int
) -> list[tuple[str, float]]:
    today = now_us // DAY_US
    rows = db.execute(
        "SELECT item_id, day, milli FROM item_days WHERE day >= ?",
        (today - math.ceil(half_life_days * _READ_HALF_LIVES),),
    ).fetchall()
    return best(decayed(rows, today, half_life_days), limit)


def read_all(db: sqlite3.Connection) -> DerivedState:
    counts = dict(db.execute("SELECT type, n FROM type_counts").fetchall())
    stats: dict[str, dict[str, tuple[int, int]]] = {}
    for item, kind, n, last in db.execute("SELECT * FROM item_stats"):
        stats.setdefault(item, {})[kind] = (n, last)
    recent = {
        person: recent_decoder.decode(entries)
        for person, entries in db.execute("SELECT person, entries FROM recent_items")
    }
    person_days: dict[str, dict[int, PersonDay]] = {}
    for person, day, body in db.execute("SELECT person, day, body FROM person_days"):
        person_days.setdefault(person, {})[day] = _person_day_decoder.decode(body)
    item_days = db.execute("SELECT item_id, day, milli FROM item_days ORDER BY 1, 2").fetchall()
    by_events: dict[str, dict[str, EventAttribute]] = {}
    for person, name, at, event_id, value in db.execute("SELECT * FROM person_event_attributes"):
        by_events.setdefault(person, {})[name] = EventAttribute(
            at, event_id, msgspec.json.decode(value)
        )
    return DerivedState(counts, stats, recent, person_days, item_days, by_events)
