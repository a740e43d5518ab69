"""Decision traces in a region file: each answer's trace (with the parts many traces share,
kept once) and the outcomes joined to it later."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence

from relevo.adapters.sqlite.database import to_datetime
from relevo.domain.decisions import Trace
from relevo.domain.derived import micros
from relevo.domain.events import Event
from relevo.ports import EncodedTrace, Outcome, decoded_trace

TRACE_ROWS = 100
"""Traces a multi-row INSERT writes at most."""


@functools.cache
def _insert_traces(rows: int) -> str:
    """The INSERT of ``rows`` traces (a full chunk's text is always the same, so SQLite's
    statement cache keeps it prepared)."""
    return (
        "INSERT OR IGNORE INTO decisions (decision_id, at_us, person, placement, part_id, body)"
        " VALUES " + ",".join(["(?, ?, ?, ?, ?, ?)"] * rows)
    )


def insert_traces(db: sqlite3.Connection, traces: Sequence[EncodedTrace]) -> None:
    """Multi-row INSERTs of up to ``TRACE_ROWS`` traces each: ``executemany`` would step
    once per trace, and each step hands the GIL to the request threads and back, which
    under load made answers wait on the trace writer (``benchmarks/traces.py`` compares the
    ways; figures in docs/performance.md). Shared parts are few (one per prepared decision),
    so they take ``executemany``."""
    parts = {
        t.shared.part_id: t.shared.body
        for t in traces
        if t.shared is not None and not t.shared.stored
    }
    db.executemany(
        "INSERT OR IGNORE INTO decision_parts (part_id, body) VALUES (?, ?)", parts.items()
    )
    for start in range(0, len(traces), TRACE_ROWS):
        chunk = traces[start : start + TRACE_ROWS]
        db.execute(
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


def join_outcomes(db: sqlite3.Connection, events: Sequence[Event]) -> None:
    db.executemany(
        "INSERT OR IGNORE INTO decision_outcomes"
        " (decision_id, event_id, type, item_id, occurred_at_us) VALUES (?, ?, ?, ?, ?)",
        [
            (e.decision_id, e.event_id, e.type, e.item_id, micros(e.occurred_at))
            for e in events
            if e.decision_id is not None
        ],
    )


def read_trace(db: sqlite3.Connection, decision_id: str) -> Trace | None:
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


def read_outcomes(db: sqlite3.Connection, decision_id: str) -> list[Outcome]:
    rows = db.execute(
        "SELECT event_id, type, item_id, occurred_at_us FROM decision_outcomes"
        " WHERE decision_id = ? ORDER BY occurred_at_us, event_id",
        (decision_id,),
    ).fetchall()
    return [Outcome(event_id, kind, item, to_datetime(at)) for event_id, kind, item, at in rows]
