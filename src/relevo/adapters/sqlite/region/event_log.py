"""The event log of a region file: appending events once each, and reading them back in order."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

import msgspec

from relevo.adapters.sqlite.database import to_datetime
from relevo.adapters.sqlite.region.keyed_rows import rows_for_keys
from relevo.domain.derived import micros
from relevo.domain.events import Event
from relevo.ports import Activity, LoggedEvent

_encode = msgspec.json.encode
_event_decoder = msgspec.json.Decoder(Event)
_INSERT_EVENT = (
    "INSERT INTO events (event_id, type, occurred_at_us, received_at_us, person, item_id, body)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class _Session(msgspec.Struct):
    session_id: str | None = None


_session_decoder = msgspec.json.Decoder(_Session)  # reads one field of a body, skips the rest


def append_new(
    db: sqlite3.Connection, events: Sequence[Event], received_at: datetime
) -> list[bool]:
    """Insert the events not yet in the log; True for each one that was new. Optimistic: a
    batch of new events (the usual case) costs one executemany; only if the unique index finds
    a repeat are the ids looked up and the batch inserted again without the ones already
    logged."""
    received = micros(received_at)
    fresh: list[bool] = []
    rows: list[tuple] = []
    seen: set[str] = set()
    for event in events:
        new = event.event_id not in seen
        fresh.append(new)
        if new:
            seen.add(event.event_id)
            rows.append(
                (
                    event.event_id,
                    event.type,
                    micros(event.occurred_at),
                    received,
                    event.person_key,
                    event.item_id,
                    _encode(event),
                )
            )
    db.execute("SAVEPOINT append")
    try:
        db.executemany(_INSERT_EVENT, rows)
    except sqlite3.IntegrityError:
        db.execute("ROLLBACK TO append")
        logged = _logged(db, [row[0] for row in rows])
        db.executemany(_INSERT_EVENT, [row for row in rows if row[0] not in logged])
        fresh = [new and e.event_id not in logged for new, e in zip(fresh, events, strict=True)]
    db.execute("RELEASE append")
    return fresh


def _logged(db: sqlite3.Connection, ids: list[str]) -> set[str]:
    return {
        row[0] for row in rows_for_keys(db, "SELECT event_id FROM events WHERE event_id IN", ids)
    }


def read_events(db: sqlite3.Connection, after_seq: int, limit: int) -> list[LoggedEvent]:
    rows = db.execute(
        "SELECT seq, received_at_us, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
        (after_seq, limit),
    ).fetchall()
    return [
        LoggedEvent(seq, to_datetime(received), _event_decoder.decode(body))
        for seq, received, body in rows
    ]


def read_activity(db: sqlite3.Connection, after_seq: int, limit: int) -> list[Activity]:
    rows = db.execute(
        "SELECT seq, type, person, item_id, occurred_at_us, body FROM events"
        " WHERE seq > ? AND item_id IS NOT NULL ORDER BY seq LIMIT ?",
        (after_seq, limit),
    ).fetchall()
    session = _session_decoder.decode
    return [
        Activity(seq, kind, person, item, at, session(body).session_id)
        for seq, kind, person, item, at, body in rows
    ]


def read_recent_people(db: sqlite3.Connection, limit: int) -> list[str]:
    rows = db.execute(
        "SELECT person FROM events GROUP BY person ORDER BY max(seq) DESC LIMIT ?", (limit,)
    ).fetchall()
    return [person for (person,) in rows]


def count_events(db: sqlite3.Connection) -> int:
    return db.execute("SELECT count(*) FROM events").fetchone()[0]
