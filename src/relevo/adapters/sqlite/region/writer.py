"""The writes of one transaction on a region file, and the people they changed (signalled on
the ``ChangeBoard`` once the transaction commits)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime

import msgspec

from relevo.adapters.sqlite.region import decision_traces, derived_state, event_log, quarantine
from relevo.adapters.sqlite.region.person_versions import bump_versions
from relevo.domain.derived import StateDelta, micros
from relevo.domain.events import Event
from relevo.domain.people import PersonAttributes
from relevo.ports import EncodedTrace, NewQuarantineRecord


class SqlitePartitionWriter:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self.changed: set[str] = set()
        """The people whose state this transaction changed (signalled after its commit)."""
        self.changed_everyone = False

    def append(self, events: Sequence[Event], received_at: datetime) -> list[bool]:
        return event_log.append_new(self._db, events, received_at)

    def apply(self, delta: StateDelta, recent_limit: int) -> None:
        derived_state.write_delta(self._db, delta, recent_limit)
        self._changed(derived_state.people_changed_by(delta))

    def clear_derived(self) -> None:
        derived_state.clear(self._db)
        self.changed_everyone = True

    def quarantine(self, records: Sequence[NewQuarantineRecord], at: datetime) -> None:
        quarantine.insert_quarantined(self._db, records, at)

    def release(self, quarantine_ids: Sequence[int]) -> None:
        quarantine.release_quarantined(self._db, quarantine_ids)

    def set_attributes(self, person_key: str, attributes: PersonAttributes, at: datetime) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO person_attributes VALUES (?, ?, ?)",
            (person_key, msgspec.json.encode(attributes), micros(at)),
        )
        self._changed((person_key,))

    def record_decisions(self, traces: Sequence[EncodedTrace]) -> None:
        decision_traces.insert_traces(self._db, traces)

    def join_outcomes(self, events: Sequence[Event]) -> None:
        decision_traces.join_outcomes(self._db, events)

    def _changed(self, people: Iterable[str]) -> None:
        """Bump the people's versions in this transaction, and signal them after it."""
        people = set(people)
        bump_versions(self._db, people)
        self.changed |= people
