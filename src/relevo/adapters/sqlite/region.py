"""One tenant's region partition: event log, quarantine and derived state in one file, so an
append, its derived state and its quarantined neighbours commit together or not at all."""

from __future__ import annotations

import functools
import math
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import msgspec

from relevo.adapters.sqlite.change_board import ChangeBoard
from relevo.adapters.sqlite.database import Database, to_datetime
from relevo.domain.decisions import Trace
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
    micros,
)
from relevo.domain.events import Event
from relevo.domain.people import PersonAttributes
from relevo.domain.person_state import PersonState, person_state
from relevo.domain.violations import Violation
from relevo.ports import (
    Activity,
    EncodedTrace,
    LoggedEvent,
    NewQuarantineRecord,
    Outcome,
    QuarantineRecord,
    decoded_trace,
)

MIGRATIONS = (
    """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        occurred_at_us INTEGER NOT NULL,
        received_at_us INTEGER NOT NULL,
        person TEXT NOT NULL,
        item_id TEXT,
        body BLOB NOT NULL
    );
    CREATE TABLE quarantine (
        quarantine_id INTEGER PRIMARY KEY,
        received_at_us INTEGER NOT NULL,
        source TEXT NOT NULL,
        mode TEXT NOT NULL,
        payload BLOB NOT NULL,
        reasons BLOB NOT NULL
    );
    CREATE TABLE type_counts (
        type TEXT PRIMARY KEY,
        n INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE item_stats (
        item_id TEXT NOT NULL,
        type TEXT NOT NULL,
        n INTEGER NOT NULL,
        last_at_us INTEGER NOT NULL,
        PRIMARY KEY (item_id, type)
    ) WITHOUT ROWID;
    CREATE TABLE recent_items (
        person TEXT PRIMARY KEY,
        entries BLOB NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE decisions (
        decision_id TEXT PRIMARY KEY,
        at_us INTEGER NOT NULL,
        person TEXT NOT NULL,
        placement TEXT NOT NULL,
        body BLOB NOT NULL
    );
    CREATE TABLE decision_outcomes (
        decision_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        type TEXT NOT NULL,
        item_id TEXT,
        occurred_at_us INTEGER NOT NULL,
        PRIMARY KEY (decision_id, event_id)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE person_attributes (
        person TEXT PRIMARY KEY,
        body BLOB NOT NULL,
        updated_at_us INTEGER NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE person_days (
        person TEXT NOT NULL,
        day INTEGER NOT NULL,
        body BLOB NOT NULL,
        PRIMARY KEY (person, day)
    ) WITHOUT ROWID;
    -- keyed by day first: trending reads only the latest days, of every item
    CREATE TABLE item_days (
        day INTEGER NOT NULL,
        item_id TEXT NOT NULL,
        milli INTEGER NOT NULL,
        PRIMARY KEY (day, item_id)
    ) WITHOUT ROWID;
    CREATE TABLE person_event_attributes (
        person TEXT NOT NULL,
        field TEXT NOT NULL,
        occurred_at_us INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (person, field)
    ) WITHOUT ROWID
    """,
    """
    -- bumped in the same transaction as any change to what person_state reads of a person
    CREATE TABLE person_versions (
        person TEXT PRIMARY KEY,
        version INTEGER NOT NULL
    ) WITHOUT ROWID
    """,
    """
    -- what the traces of many answers share, kept once (see ports.SharedTrace)
    CREATE TABLE decision_parts (
        part_id INTEGER PRIMARY KEY,
        body BLOB NOT NULL
    );
    ALTER TABLE decisions ADD COLUMN part_id INTEGER
    """,
)

_encode = msgspec.json.encode
TRACE_ROWS = 100


@functools.cache
def _insert_traces(rows: int) -> str:
    """The INSERT of ``rows`` traces (a full chunk's text is always the same, so SQLite's
    statement cache keeps it prepared)."""
    return (
        "INSERT OR IGNORE INTO decisions (decision_id, at_us, person, placement, part_id, body)"
        " VALUES " + ",".join(["(?, ?, ?, ?, ?, ?)"] * rows)
    )


_event_decoder = msgspec.json.Decoder(Event)
_recent_decoder = msgspec.json.Decoder(list[RecentItem])
_person_day_decoder = msgspec.json.Decoder(PersonDay)
_reasons_decoder = msgspec.json.Decoder(list[Violation])
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
_BUMP_VERSION = (
    "INSERT INTO person_versions VALUES (?, 1)"
    " ON CONFLICT (person) DO UPDATE SET version = version + 1"
)


class _Session(msgspec.Struct):
    session_id: str | None = None


_session_decoder = msgspec.json.Decoder(_Session)  # reads one field of a body, skips the rest
_DERIVED_TABLES = (
    "type_counts",
    "item_stats",
    "recent_items",
    "person_days",
    "item_days",
    "person_event_attributes",
)
REMEMBERED = 200_000
"""People whose version a partition remembers at most (then it forgets them all at once)."""
REMEMBER_S = 60.0
"""How long a remembered version is trusted without a read: the bound on a change whose writer
died between its commit and its signal (``ChangeBoard``)."""
_READ_HALF_LIVES = 20
"""Days older than this many half-lives weigh under a millionth: trending does not read them."""
_INSERT_EVENT = (
    "INSERT INTO events (event_id, type, occurred_at_us, received_at_us, person, item_id, body)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _in_chunks(db: sqlite3.Connection, query: str, keys: Sequence[str]) -> Iterator[Any]:
    """The rows of ``query`` (ending in ``IN``) for the keys, 500 at a time: SQLite caps the
    parameters of one statement."""
    keys = list(keys)
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        yield from db.execute(f"{query} ({','.join('?' * len(chunk))})", chunk)


class SqlitePartitionWriter:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self.changed: set[str] = set()
        """The people whose state this transaction changed (signalled after its commit)."""
        self.changed_everyone = False

    def append(self, events: Sequence[Event], received_at: datetime) -> list[bool]:
        """Insert the events not yet in the log. Optimistic: a batch of new events (the usual
        case) costs one executemany; only if the unique index finds a repeat are the ids looked
        up and the batch inserted again without the ones already logged."""
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
        db = self._db
        db.execute("SAVEPOINT append")
        try:
            db.executemany(_INSERT_EVENT, rows)
        except sqlite3.IntegrityError:
            db.execute("ROLLBACK TO append")
            logged = self._logged([row[0] for row in rows])
            db.executemany(_INSERT_EVENT, [row for row in rows if row[0] not in logged])
            fresh = [new and e.event_id not in logged for new, e in zip(fresh, events, strict=True)]
        db.execute("RELEASE append")
        return fresh

    def _logged(self, ids: list[str]) -> set[str]:
        return {
            row[0]
            for row in _in_chunks(self._db, "SELECT event_id FROM events WHERE event_id IN", ids)
        }

    def apply(self, delta: StateDelta, recent_limit: int) -> None:
        db = self._db
        db.executemany(
            "INSERT INTO type_counts VALUES (?, ?)"
            " ON CONFLICT (type) DO UPDATE SET n = n + excluded.n",
            delta.type_counts.items(),
        )
        db.executemany(
            "INSERT INTO item_stats VALUES (?, ?, ?, ?) ON CONFLICT (item_id, type) DO UPDATE"
            " SET n = n + excluded.n, last_at_us = max(last_at_us, excluded.last_at_us)",
            [(item, kind, s.count, s.last_at_us) for (item, kind), s in delta.item_stats.items()],
        )
        if delta.person_days:
            self._merge_person_days(delta.person_days)
        changed = {person for person, _ in delta.person_days}
        changed.update(person for person, _ in delta.attributes)
        changed.update(delta.recent)
        db.executemany(_BUMP_VERSION, [(person,) for person in changed])
        self.changed |= changed
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
        if not delta.recent:
            return
        current = {
            person: _recent_decoder.decode(entries)
            for person, entries in _in_chunks(
                db, "SELECT person, entries FROM recent_items WHERE person IN", list(delta.recent)
            )
        }
        db.executemany(
            "INSERT OR REPLACE INTO recent_items VALUES (?, ?)",
            [
                (person, _encode(merge_recent(current.get(person, ()), new, recent_limit)))
                for person, new in delta.recent.items()
            ],
        )

    def _merge_person_days(self, days: dict[tuple[str, int], PersonDay]) -> None:
        """Fold the delta's records into the stored ones, reading only those it touches."""
        merged = dict(days)
        keys = list(days)
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            values = ", ".join(["(?, ?)"] * len(chunk))
            for person, day, body in self._db.execute(
                "SELECT t.person, t.day, t.body FROM (VALUES"
                f" {values}) AS k JOIN person_days AS t ON t.person = k.column1"
                " AND t.day = k.column2",
                [part for key in chunk for part in key],
            ):
                held = _person_day_decoder.decode(body)
                held.merge(days[(person, day)])
                merged[(person, day)] = held
        self._db.executemany(
            "INSERT OR REPLACE INTO person_days VALUES (?, ?, ?)",
            [(person, day, _encode(record)) for (person, day), record in merged.items()],
        )

    def clear_derived(self) -> None:
        for table in _DERIVED_TABLES:
            self._db.execute(f"DELETE FROM {table}")
        self.changed_everyone = True

    def quarantine(self, records: Sequence[NewQuarantineRecord], at: datetime) -> None:
        stamp = micros(at)
        self._db.executemany(
            "INSERT INTO quarantine (received_at_us, source, mode, payload, reasons)"
            " VALUES (?, ?, ?, ?, ?)",
            [(stamp, r.source, r.mode, _encode(r.payload), _encode(r.reasons)) for r in records],
        )

    def release(self, quarantine_ids: Sequence[int]) -> None:
        self._db.executemany(
            "DELETE FROM quarantine WHERE quarantine_id = ?", [(i,) for i in quarantine_ids]
        )

    def set_attributes(self, person_key: str, attributes: PersonAttributes, at: datetime) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO person_attributes VALUES (?, ?, ?)",
            (person_key, _encode(attributes), micros(at)),
        )
        self._db.execute(_BUMP_VERSION, (person_key,))
        self.changed.add(person_key)

    def record_decisions(self, traces: Sequence[EncodedTrace]) -> None:
        """Multi-row INSERTs of up to ``TRACE_ROWS`` traces each: ``executemany`` would step
        once per trace, and each step hands the GIL to the request threads and back, which
        under load made answers wait on the trace writer. They cost the writer about half what
        one statement over a JSON array read back by ``json_each`` did, as little as a raw
        ``executemany`` (``benchmarks/traces.py``; figures in docs/performance.md). Shared
        parts are few (one per prepared decision), so they take ``executemany``."""
        parts = {
            t.shared.part_id: t.shared.body
            for t in traces
            if t.shared is not None and not t.shared.stored
        }
        self._db.executemany(
            "INSERT OR IGNORE INTO decision_parts (part_id, body) VALUES (?, ?)", parts.items()
        )
        for start in range(0, len(traces), TRACE_ROWS):
            chunk = traces[start : start + TRACE_ROWS]
            self._db.execute(
                _insert_traces(len(chunk)),
                [
                    value
                    for t in chunk
                    for value in (
                        t.decision_id,
                        t.at_us,
                        t.person,
                        t.placement,
                        None if t.shared is None else t.shared.part_id,
                        t.body,
                    )
                ],
            )

    def join_outcomes(self, events: Sequence[Event]) -> None:
        self._db.executemany(
            "INSERT OR IGNORE INTO decision_outcomes"
            " (decision_id, event_id, type, item_id, occurred_at_us) VALUES (?, ?, ?, ?, ?)",
            [
                (e.decision_id, e.event_id, e.type, e.item_id, micros(e.occurred_at))
                for e in events
                if e.decision_id is not None
            ],
        )


class SqliteRegionPartition:
    """A region file, and its ``ChangeBoard``: people's versions read lately are remembered
    with their slot's count, and served from memory while the count holds."""

    def __init__(self, database: Database, board: ChangeBoard) -> None:
        self._db = database
        self._board = board
        self._versions: dict[str, tuple[int, int, float]] = {}  # person: count, version, until

    @contextmanager
    def transaction(self) -> Iterator[SqlitePartitionWriter]:
        with self._db.transaction() as db:
            writer = SqlitePartitionWriter(db)
            yield writer
        if writer.changed_everyone:
            self._board.bump_all()
        else:
            self._board.bump(writer.changed)

    def events(self, after_seq: int = 0, limit: int = 10_000) -> list[LoggedEvent]:
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT seq, received_at_us, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [
            LoggedEvent(seq, to_datetime(received), _event_decoder.decode(body))
            for seq, received, body in rows
        ]

    def activity(self, after_seq: int = 0, limit: int = 50_000) -> list[Activity]:
        with self._db.reading() as db:
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

    def recent_people(self, limit: int) -> list[str]:
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT person FROM events GROUP BY person ORDER BY max(seq) DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [person for (person,) in rows]

    def recent_items(self, person_key: str) -> list[RecentItem]:
        with self._db.reading() as db:
            row = db.execute(
                "SELECT entries FROM recent_items WHERE person = ?", (person_key,)
            ).fetchone()
        return [] if row is None else _recent_decoder.decode(row[0])

    def latest_events(self, person_keys: Sequence[str]) -> dict[str, str]:
        with self._db.reading() as db:
            # Entries are [[occurred_at_us, event_id, ...], ...], newest first.
            return dict(
                _in_chunks(
                    db,
                    "SELECT person, entries ->> '$[0][1]' FROM recent_items"
                    " WHERE json_array_length(entries) > 0 AND person IN",
                    person_keys,
                )
            )

    def person_state(self, person_key: str, now_us: int) -> PersonState:
        """One statement, one row: a single statement reads one snapshot, and each statement
        (each step, even) hands the GIL to other threads and waits to get it back, which was
        most of a cached decision's time under load with four reads in a transaction."""
        count = self._board.count(person_key)  # before the read: see ``ChangeBoard``
        with self._db.reading() as db:
            recent, days, put, by_events, version = db.execute(
                _PERSON_STATE, (person_key,)
            ).fetchone()
        self._remember(person_key, count, version or 0)
        return person_state(
            [] if recent is None else _recent_decoder.decode(recent),
            _days_decoder.decode(days),
            None if put is None else _put_decoder.decode(put),
            {name: (at, value) for name, at, value in _set_by_events_decoder.decode(by_events)},
            now_us,
            version=version or 0,
        )

    def person_version(self, person_key: str) -> int:
        count = self._board.count(person_key)
        known = self._versions.get(person_key)
        if (
            known is not None
            and known[0] == count
            and time.monotonic() < known[2]
            and not self._db.writing  # a transaction reads what it wrote
        ):
            return known[1]
        with self._db.reading() as db:
            row = db.execute(
                "SELECT version FROM person_versions WHERE person = ?", (person_key,)
            ).fetchone()
        version = 0 if row is None else row[0]
        self._remember(person_key, count, version)
        return version

    def _remember(self, person_key: str, count: int, version: int) -> None:
        if self._db.writing:  # not committed yet: it may still roll back
            return
        if len(self._versions) >= REMEMBERED:
            self._versions.clear()
        self._versions[person_key] = (count, version, time.monotonic() + REMEMBER_S)

    def close(self) -> None:
        self._board.close()

    def trending(self, now_us: int, half_life_days: float, limit: int) -> list[tuple[str, float]]:
        today = now_us // DAY_US
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT item_id, day, milli FROM item_days WHERE day >= ?",
                (today - math.ceil(half_life_days * _READ_HALF_LIVES),),
            ).fetchall()
        return best(decayed(rows, today, half_life_days), limit)

    def attributes(self, person_keys: Sequence[str]) -> dict[str, PersonAttributes]:
        with self._db.reading() as db:
            return {
                person: _attributes_decoder.decode(body)
                for person, body in _in_chunks(
                    db, "SELECT person, body FROM person_attributes WHERE person IN", person_keys
                )
            }

    def count_events(self) -> int:
        with self._db.reading() as db:
            return db.execute("SELECT count(*) FROM events").fetchone()[0]

    def quarantined(self, after_id: int = 0, limit: int = 1_000) -> list[QuarantineRecord]:
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT quarantine_id, received_at_us, source, mode, payload, reasons FROM quarantine"
                " WHERE quarantine_id > ? ORDER BY quarantine_id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [
            QuarantineRecord(
                qid,
                to_datetime(received),
                source,
                mode,
                msgspec.json.decode(payload),
                _reasons_decoder.decode(reasons),
            )
            for qid, received, source, mode, payload, reasons in rows
        ]

    def state(self) -> DerivedState:
        with self._db.reading() as db:
            counts = dict(db.execute("SELECT type, n FROM type_counts").fetchall())
            stats: dict[str, dict[str, tuple[int, int]]] = {}
            for item, kind, n, last in db.execute("SELECT * FROM item_stats"):
                stats.setdefault(item, {})[kind] = (n, last)
            recent = {
                person: _recent_decoder.decode(entries)
                for person, entries in db.execute("SELECT person, entries FROM recent_items")
            }
            person_days: dict[str, dict[int, PersonDay]] = {}
            for person, day, body in db.execute("SELECT person, day, body FROM person_days"):
                person_days.setdefault(person, {})[day] = _person_day_decoder.decode(body)
            item_days = db.execute(
                "SELECT item_id, day, milli FROM item_days ORDER BY 1, 2"
            ).fetchall()
            by_events: dict[str, dict[str, EventAttribute]] = {}
            for person, name, at, event_id, value in db.execute(
                "SELECT * FROM person_event_attributes"
            ):
                by_events.setdefault(person, {})[name] = EventAttribute(
                    at, event_id, msgspec.json.decode(value)
                )
        return DerivedState(counts, stats, recent, person_days, item_days, by_events)

    def decision(self, decision_id: str) -> Trace | None:
        with self._db.reading() as db:
            row = db.execute(
                "SELECT d.body, d.part_id, p.body FROM decisions AS d"
                " LEFT JOIN decision_parts AS p USING (part_id) WHERE d.decision_id = ?",
                (decision_id,),
            ).fetchone()
        if row is None:
            return None
        body, part_id, shared = row
        if part_id is None:
            return decoded_trace(body)
        if shared is None:  # the part was never committed: the trace is incomplete
            return None
        return decoded_trace(body, shared)

    def outcomes(self, decision_id: str) -> list[Outcome]:
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT event_id, type, item_id, occurred_at_us FROM decision_outcomes"
                " WHERE decision_id = ? ORDER BY occurred_at_us, event_id",
                (decision_id,),
            ).fetchall()
        return [Outcome(event_id, kind, item, to_datetime(at)) for event_id, kind, item, at in rows]
