"""What a region file holds about one person, read for a decision: the whole state in one
statement, or the recent items or attributes alone."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import msgspec

from relevo.adapters.sqlite.region.derived_state import recent_decoder
from relevo.adapters.sqlite.region.keyed_rows import rows_for_keys
from relevo.domain.derived import PersonDay, RecentItem
from relevo.domain.people import PersonAttributes
from relevo.domain.person_state import PersonState, person_state

_attributes_decoder = msgspec.json.Decoder(PersonAttributes)
_days_decoder = msgspec.json.Decoder(list[tuple[int, PersonDay]])
_put_decoder = msgspec.json.Decoder(tuple[PersonAttributes, int])
_set_by_events_decoder = msgspec.json.Decoder(list[tuple[str, int, Any]])
_PERSON_STATE = """
SELECT
    (SELECT entries FROM recent_items WHERE person = ?1),
    (SELECT json_group_array(json_array(day, json(CAST(body AS TEXT))))
        FROM person_days WHERE person = ?1),
    (SELECT json_array(json(CAST(body AS TEXT)), updated_at_us)
        FROM person_attributes WHERE person = ?1),
    (SELECT json_group_array(json_array(field, occurred_at_us, json(CAST(value AS TEXT))))
        FROM person_event_attributes WHERE person = ?1),
    (SELECT version FROM person_versions WHERE person = ?1)
"""


def read_person_state(db: sqlite3.Connection, person_key: str, now_us: int) -> PersonState:
    """One statement, one row: a single statement reads one snapshot, and each statement
    (each step, even) hands the GIL to other threads and waits to get it back, which was
    most of a cached decision's time under load with four reads in a transaction."""
    recent, days, put, by_events, version = db.execute(_PERSON_STATE, (person_key,)).fetchone()
    return person_state(
        [] if recent is None else recent_decoder.decode(recent),
        _days_decoder.decode(days),
        None if put is None else _put_decoder.decode(put),
        {name: (at, value) for name, at, value in _set_by_events_decoder.decode(by_events)},
        now_us,
        version=version or 0,
    )


def read_recent_items(db: sqlite3.Connection, person_key: str) -> list[RecentItem]:
    row = db.execute("SELECT entries FROM recent_items WHERE person = ?", (person_key,)).fetchone()
    return [] if row is None else recent_decoder.decode(row[0])


def read_attributes(
    db: sqlite3.Connection, person_keys: Sequence[str]
) -> dict[str, PersonAttributes]:
    return {
        person: _attributes_decoder.decode(body)
        for person, body in rows_for_keys(
            db, "SELECT person, body FROM person_attributes WHERE person IN", person_keys
        )
    }
