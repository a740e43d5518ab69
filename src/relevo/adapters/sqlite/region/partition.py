"""One tenant's region partition: event log, quarantine and derived state in one file, so an
append, its derived state and its quarantined neighbours commit together or not at all."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from relevo.adapters.sqlite.change_board import ChangeBoard
from relevo.adapters.sqlite.database import Database
from relevo.adapters.sqlite.region import decision_traces, derived_state, event_log, quarantine
from relevo.adapters.sqlite.region.person_reads import (
    read_attributes,
    read_person_state,
    read_recent_items,
)
from relevo.adapters.sqlite.region.person_versions import PersonVersions
from relevo.adapters.sqlite.region.writer import SqlitePartitionWriter
from relevo.domain.decisions import Trace
from relevo.domain.derived import DerivedState, RecentItem
from relevo.domain.people import PersonAttributes
from relevo.domain.person_state import PersonState
from relevo.ports import Activity, LoggedEvent, Outcome, QuarantineRecord


class SqliteRegionPartition:
    """A region file, and its ``ChangeBoard``: people's versions read lately are remembered
    with their slot's count, and served from memory while the count holds."""

    def __init__(self, database: Database, board: ChangeBoard) -> None:
        self._db = database
        self._board = board
        self._versions = PersonVersions(database, board)

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
            return event_log.read_events(db, after_seq, limit)

    def activity(self, after_seq: int = 0, limit: int = 50_000) -> list[Activity]:
        with self._db.reading() as db:
            return event_log.read_activity(db, after_seq, limit)

    def recent_people(self, limit: int) -> list[str]:
        with self._db.reading() as db:
            return event_log.read_recent_people(db, limit)

    def count_events(self) -> int:
        with self._db.reading() as db:
            return event_log.count_events(db)

    def recent_items(self, person_key: str) -> list[RecentItem]:
        with self._db.reading() as db:
            return read_recent_items(db, person_key)

    def person_state(self, person_key: str, now_us: int) -> PersonState:
        count = self._versions.count(person_key)  # before the read: see ``ChangeBoard``
        with self._db.reading() as db:
            state = read_person_state(db, person_key, now_us)
        self._versions.remember(person_key, count, state.version)
        return state

    def person_version(self, person_key: str) -> int:
        return self._versions.read(person_key)

    def known_person_version(self, person_key: str) -> int | None:
        return self._versions.known(person_key)

    def person_versions(self, person_keys: Sequence[str]) -> dict[str, int]:
        return self._versions.read_many(person_keys)

    def renew_known_versions(self) -> int:
        return self._versions.renew()

    def attributes(self, person_keys: Sequence[str]) -> dict[str, PersonAttributes]:
        with self._db.reading() as db:
            return read_attributes(db, person_keys)

    def trending(self, now_us: int, half_life_days: float, limit: int) -> list[tuple[str, float]]:
        with self._db.reading() as db:
            return derived_state.read_trending(db, now_us, half_life_days, limit)

    def state(self) -> DerivedState:
        with self._db.reading() as db:
            return derived_state.read_all(db)

    def quarantined(self, after_id: int = 0, limit: int = 1_000) -> list[QuarantineRecord]:
        with self._db.reading() as db:
            return quarantine.read_quarantined(db, after_id, limit)

    def decision(self, decision_id: str) -> Trace | None:
        with self._db.reading() as db:
            return decision_traces.read_trace(db, decision_id)

    def outcomes(self, decision_id: str) -> list[Outcome]:
        with self._db.reading() as db:
            return decision_traces.read_outcomes(db, decision_id)

    def close(self) -> None:
        self._board.close()
