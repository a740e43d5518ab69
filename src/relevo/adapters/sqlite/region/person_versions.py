"""People's state versions in a region file, and the memory of those read lately.

A version is bumped in the same transaction as any change to what ``person_state`` reads of a
person. A version read is remembered with the person's ``ChangeBoard`` count, taken before the
read: while the count holds, no commit has changed the person since, and the version is served
from memory without asking SQLite.
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

    def count(self, person_key: str) -> int:
        """The person's change count, to take before reading their state (see ``remember``)."""
        return self._board.count(person_key)

    def known(self, person_key: str) -> int | None:
        """The version remembered for the person while their change count holds, else None."""
        return self._known(person_key, self.count(person_key))

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
        if not counts:
            return versions
        with self._db.reading() as db:
            read = dict(
                rows_for_keys(
                    db, "SELECT person, version FROM person_versions WHERE person IN", list(counts)
                )
            )
        for person, count in counts.items():
            versions[person] = read.get(person, 0)
            self.remember(person, count, versions[person])
        return versions

    def remember(self, person_key: str, count: int, version: int) -> None:
        """Keep a version read after the person's change count was ``count``."""
        if self._db.writing:  # not committed yet: it may still roll back
            return
        if len(self._versions) >= REMEMBERED:
            self._versions.clear()
        self._versions[person_key] = (count, version, time.monotonic() + REMEMBER_S)
