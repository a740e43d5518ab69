"""One SQLite file: a connection with the right pragmas, its migrations, and transactions."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from relevo.domain.derived import from_micros as to_datetime

__all__ = ["Database", "Synchronous", "to_datetime"]

Synchronous = Literal["full", "normal"]
READ_MMAP_BYTES = 1 << 30


def _switch_to_wal(connection: sqlite3.Connection, seconds: float = 30.0) -> None:
    """Put the file in WAL mode, waiting out another connection that holds it (the switch does
    not go through SQLite's busy handler: two processes opening a new file at once would
    otherwise fail with "database is locked")."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class Database:
    """A SQLite file shared by the threads of one process.

    One writing connection, guarded by a lock; writes run in ``BEGIN IMMEDIATE`` transactions
    so that several processes on the same file serialize their writers instead of failing
    mid-way. Reads go through one connection per thread, so that in WAL mode they never wait
    for a writer (a decision must not queue behind a batch of traces being written); a read
    inside a transaction uses the writing connection, and sees what it wrote.
    ``synchronous=full`` makes every commit durable against power loss; ``normal`` only against
    a crash of the process (WAL mode), and is faster.
    """

    def __init__(self, path: Path, migrations: Sequence[str], synchronous: Synchronous) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.lock = threading.RLock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self.connection = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        _switch_to_wal(self.connection)
        self.connection.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self.connection.execute("PRAGMA foreign_keys=ON")
        # A 64 MiB page cache keeps the event-id index in memory as the log grows.
        self.connection.execute("PRAGMA cache_size=-65536")
        self._migrate(migrations)

    def _migrate(self, migrations: Sequence[str]) -> None:
        with self.transaction() as connection:
            (version,) = connection.execute("PRAGMA user_version").fetchone()
            for number, script in enumerate(migrations[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version={number}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.connection.execute("BEGIN IMMEDIATE")
            self._local.writing = True
            try:
                yield self.connection
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise
            finally:
                self._local.writing = False
            self.connection.execute("COMMIT")

    @property
    def writing(self) -> bool:
        """Whether this thread is inside a transaction (its reads see what it has not
        committed)."""
        return getattr(self._local, "writing", False)

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        if self.writing:
            yield self.connection
            return
        reader = getattr(self._local, "reader", None)
        if reader is None:
            reader = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            reader.execute("PRAGMA query_only=ON")
            reader.execute("PRAGMA cache_size=-16384")
            # Pages read through a memory map survive the cache reset that every commit by
            # another connection causes (a decision's point reads after a trace batch).
            reader.execute(f"PRAGMA mmap_size={READ_MMAP_BYTES}")
            with self.lock:
                self._readers.append(reader)
            self._local.reader = reader
        yield reader

    def data_version(self) -> int:
        """Changes whenever another connection commits to this file."""
        with self.lock:
            return self.connection.execute("PRAGMA data_version").fetchone()[0]

    def close(self) -> None:
        with self.lock:
            for reader in self._readers:
                reader.close()
            self._readers.clear()
            self.connection.close()
