"""The quarantine of a region file: events that failed validation, kept with their reasons
until they are fixed and replayed (then released)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

import msgspec

from relevo.adapters.sqlite.database import to_datetime
from relevo.domain.derived import micros
from relevo.domain.violations import Violation
from relevo.ports import NewQuarantineRecord, QuarantineRecord

_encode = msgspec.json.encode
_reasons_decoder = msgspec.json.Decoder(list[Violation])


def insert_quarantined(
    db: sqlite3.Connection, records: Sequence[NewQuarantineRecord], at: datetime
) -> None:
    stamp = micros(at)
    db.executemany(
        "INSERT INTO quarantine (received_at_us, source, mode, payload, reasons)"
        " VALUES (?, ?, ?, ?, ?)",
        [(stamp, r.source, r.mode, _encode(r.payload), _encode(r.reasons)) for r in records],
    )


def release_quarantined(db: sqlite3.Connection, quarantine_ids: Sequence[int]) -> None:
    db.executemany("DELETE FROM quarantine WHERE quarantine_id = ?", [(i,) for i in quarantine_ids])


def read_quarantined(db: sqlite3.Connection, after_id: int, limit: int) -> list[QuarantineRecord]:
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
