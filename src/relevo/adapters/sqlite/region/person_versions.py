"""People's state versions in a region file, and the memory of those read lately.

A version is bumped in the same transaction as any change to what ``person_state`` reads of a
person. A version read is remembered with the person's ``ChangeBoard`` count, taken before the
read: while the count holds, no commit has changed the person since, and the version is served
from memory without asking SQLite. A remembered version is trusted for ``REMEMBER_S``; those of
people who keep asking are read again in the background before then (``renew``), so that
their requests never wait on a read, and so that people read together (a precompute) do not
all fall to a read together a minute later.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence

from relevo.adapters.sqlite.change_board import ChangeBoard
from relevo.adapters.sqlite.database import Database
from relevo.adapters.sqlite.region.keyed_rows import rows_for_keys

REMEMBERED = 200_000
"""People whose version a partition remembers at most (then it forgets them all at once)."""
REMEMBER_S = 60.0
"""How long a remembered version is trusted without a read: the bound on a change whose writer
died between its commit and its signal (``ChangeBoard``)."""
RENEW_AHEAD_S = 20.0
"""How long before its trust runs out a version asked for lately is read again: several
sweeps of the background thread that calls ``renew``."""
_BUMP_VERSION = (
    "INSERT INTO person_versions VALUES (?, 1)"
    " ON CONFLICT (person) DO UPDATE SET version = version + 1"
)


def bump_versions(db: sqlite3.Connection, people: Iterable[str]) -> None:
    """Count one more change to each person's state (inside the transaction that makes it)."""
    db.executemany(_BUMP_VERSION, [(person,) for person in people])


class PersonVersions:
    """The versions of one region file's people: remembered, else read."""

    def __init__(self, database: Database, board: ChangeBoard) -> None:
        self._db = database
        self._board = board
        self._versions: dict[str, tuple[int, int, float]] = {}  # person: count, version, until
        self._asked: set[str] = set()  # people served a remembered version since ``renew``

    def count(self, person_key: str) -> int:
        """The person's change count, to take before reading their state (see ``remember``)."""
        return self._board.count(person_key)

    def known(self, person_key: str) -> int | None:
        """The version remembered for the person while their change count holds, else None."""
        known = self._known(person_key, self.count(person_key))
        if known is not None:
            self._asked.add(person_key)
        return known

    def _known(self, person_key: str, count: int) -> int | None:
        known = self._versions.get(person_key)
        if (
            known is not None
            and known[0] == count
            and time.monotonic() < known[2]
            and not self._db.writing  # a transaction reads what it wrote
        ):
            return known[1]
        return None

    def read(self, person_key: str) -> int:
        count = self.count(person_key)
        known = self._known(person_key, count)
        if known is not None:
            return known
        with self._db.reading() as db:
            row = db.execute(
                "SELECT version FROM person_versions WHERE person = ?", (person_key,)
            ).fetchone()
        version = 0 if row is None else row[0]
        self.remember(person_key, count, version)
        return version

    def read_many(self, person_keys: Sequence[str]) -> dict[str, int]:
        """``read`` of each person, with one read (a statement per ``CHUNK`` keys) for all
        those not remembered."""
        versions: dict[str, int] = {}
        counts: dict[str, int] = {}  # of those to read, taken before the read
        for person in person_keys:
            count = self.count(person)
            known = self._known(person, count)
            if known is None:
                counts[person] = count
            else:
                versions[person] = known
        return versions | self._read_and_remember(counts)

    def renew(self) -> int:
        """Read again, at once, the versions of people served from memory lately whose trust
        runs out within ``RENEW_AHEAD_S``; the number read. Call it from a background thread
        every few seconds."""
        asked, self._asked = self._asked, set()
        lapsing = time.monotonic() + RENEW_AHEAD_S
        due: dict[str, int] = {}
        for person in list(asked):  # a copy: the event loop may still add to it
            known = self._versions.get(person)
            if known is None:
                continue
            if known[2] < lapsing:
                due[person] = self.count(person)
            else:  # not yet: they stay among those asked
                self._asked.add(person)
        return len(self._read_and_remember(due))

    def _read_and_remember(self, counts: dict[str, int]) -> dict[str, int]:
        """The versions of these people, read at once, and remembered with their change
        counts (taken before the read)."""
        if not counts:
            return {}
        with self._db.reading() as db:
            read = dict(
                rows_for_keys(
                    db, "SELECT person, version FROM person_versions WHERE person IN", list(counts)
                )
            )
        versions = {person: read.get(person, 0) for person in counts}
        for person, count in counts.items():
            self.remember(person, count, versions[person])
        return versions

    def remember(self, person_key: str, count: int, version: int) -> None:
        """Keep a version read after the person's change count was ``count``."""
        if self._db.writing:  # not committed yet: it may still roll back
            return
        if len(self._versions) >= REMEMBERED:
            self._versions.clear()
        self._versions[person_key] = (count, version, time.monotonic() + REMEMBER_S)
