"""The tables of a region file, as migrations (applied in order, never edited once released),
and which of them hold derived state that a replay rebuilds."""

from __future__ import annotations

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

DERIVED_TABLES = (
    "type_counts",
    "item_stats",
    "recent_items",
    "person_days",
    "item_days",
    "person_event_attributes",
)
"""Views of the log: emptied by ``clear_derived`` and filled again by replaying the log."""
