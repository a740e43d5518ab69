"""One SQLite file: a connection with the right pragmas, its migrations, and transactions."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Literal, NoReturn

from relevo.adapters.sqlite.faults import KEEPS_CONNECTION, fault_of
from relevo.adapters.sqlite.probe import probe_writable
from relevo.domain.derived import from_micros as to_datetime
from relevo.ports import StorageUnavailable

log = logging.getLogger("relevo.storage")

__all__ = ["Database", "Synchronous", "to_datetime"]

Synchronous = Literal["full", "normal"]
READ_MMAP_BYTES = 1 << 30
BUSY_TIMEOUT_S = 30.0


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


def _roll_back(connection: sqlite3.Connection) -> bool:
    """Roll back what is open, if anything (SQLite has already rolled back after some faults);
    False when even that failed, and the connection cannot be trusted any more."""
    try:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
    except sqlite3.Error:
        return False
    return True


class _Reader:
    """A thread's reading connection, closed when the thread ends (its ``threading.local``
    lets go of this holder): a pool retires idle threads and starts new ones, and each would
    otherwise leave an open connection, its page cache and its memory map behind."""

    __slots__ = ("__weakref__", "_close", "connection", "generation")

    def __init__(self, connection: sqlite3.Connection, generation: int) -> None:
        self.connection = connection
        self.generation = generation
        self._close = weakref.finalize(self, connection.close)

    def close(self) -> None:
        """Close the connection now (once: a finalizer runs at most once)."""
        self._close()


class Database:
    """A SQLite file shared by the threads of one process.

    One writing connection, guarded by a lock; writes run in ``BEGIN IMMEDIATE`` transactions
    so that several processes on the same file serialize their writers instead of failing
    mid-way. Reads go through one connection per thread, so that in WAL mode they never wait
    for a writer (a decision must not queue behind a batch of traces being written); a read
    inside a transaction uses the writing connection, and sees what it wrote.
    ``synchronous=full`` makes every commit durable against power loss; ``normal`` only against
    a crash of the process (WAL mode), and is faster.

    A storage fault (see ``faults``) is raised as ``StorageUnavailable`` naming the store; after
    one that may leave a connection stuck (a file opened read-only stays read-only), the
    connections are dropped and opened again on next use, so writes resume once the cause is
    fixed, without a restart.
    """

    def __init__(
        self, path: Path, migrations: Sequence[str], synchronous: Synchronous, name: str = ""
    ) -> None:
        self.path = path
        self.name = name or path.name
        self._migrations = migrations
        self._synchronous = synchronous
        self.lock = threading.RLock()
        self._local = threading.local()
        self._writing_thread: int | None = None  # the thread inside ``transaction``, if any
        self._readers: weakref.WeakSet[_Reader] = weakref.WeakSet()
        self._writer: sqlite3.Connection | None = None
        self._generation = 0  # bumped when a fault drops the connections: readers reopen
        self._failing: str | None = None  # the rule of the fault met since the last commit
        with self.lock:
            self._open_writer()

    def _raise(self, error: BaseException, drop: Callable[[], None]) -> NoReturn:
        """Raise ``error`` as the storage fault it is (dropping the connections it may have
        left stuck), or as it is when it is not one."""
        fault = fault_of(self.name, error)
        if fault is None:
            raise error
        if fault.rule not in KEEPS_CONNECTION:
            drop()
        if self._failing is None:  # logged once a fault episode, not once a request
            log.warning("storage fault on %s (%s): %s", self.name, fault.rule, fault.detail)
            self._failing = fault.rule
        raise fault from error

    def _open_writer(self) -> sqlite3.Connection:
        """The writing connection: the open one, else a new one, migrated."""
        if self._writer is not None:
            return self._writer
        connection = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S
            )
            _switch_to_wal(connection)
            connection.execute(f"PRAGMA synchronous={self._synchronous.upper()}")
            connection.execute("PRAGMA foreign_keys=ON")
            # A 64 MiB page cache keeps the event-id index in memory as the log grows.
            connection.execute("PRAGMA cache_size=-65536")
            self._migrate(connection)
        except (sqlite3.Error, OSError) as error:
            if connection is not None:
                connection.close()
            self._raise(error, lambda: None)
        assert connection is not None  # _raise returns never
        self._writer = connection
        return connection

    def _migrate(self, connection: sqlite3.Connection) -> None:
        connection.execute("BEGIN IMMEDIATE")
        try:
            (version,) = connection.execute("PRAGMA user_version").fetchone()
            for number, script in enumerate(self._migrations[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version={number}")
            connection.execute("COMMIT")
        except BaseException:
            _roll_back(connection)
            raise

    def _drop(self) -> None:
        """Close the writing connection and mark every reader stale (each thread closes its
        own: another thread may be reading with it right now). Called holding the lock."""
        if self._writer is not None:
            with suppress(sqlite3.Error):
                self._writer.close()
            self._writer = None
        self._generation += 1

    @property
    def connection(self) -> sqlite3.Connection:
        """The writing connection, opened again if a fault dropped it."""
        with self.lock:
            return self._open_writer()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            connection = self._open_writer()
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                self._raise(error, self._drop)
            self._writing_thread = threading.get_ident()
            try:
                yield connection
                connection.execute("COMMIT")
                if self._failing is not None:
                    log.warning(
                        "storage %s takes writes again (after %s)", self.name, self._failing
                    )
                    self._failing = None
            except BaseException as error:
                if not _roll_back(connection):
                    self._drop()
                if isinstance(error, sqlite3.Error):  # the caller's own errors stay its own
                    self._raise(error, self._drop)
                raise
            finally:
                self._writing_thread = None

    @property
    def writing(self) -> bool:
        """Whether this thread is inside a transaction (its reads see what it has not
        committed). Set under the lock, so it names at most one thread: a plain attribute,
        where a thread-local one, unset in most threads, cost every version served from memory
        an ``AttributeError`` raised and caught."""
        return self._writing_thread == threading.get_ident()

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        if self.writing:
            yield self._open_writer()
            return
        reader = self._reader()
        try:
            yield reader
        except sqlite3.Error as error:
            self._raise(error, self._drop_readers)

    def _drop_readers(self) -> None:
        with self.lock:
            self._generation += 1

    def _reader(self) -> sqlite3.Connection:
        """This thread's reading connection, opened on first use and again after a fault."""
        held: _Reader | None = getattr(self._local, "reader", None)
        if held is not None and held.generation == self._generation:
            return held.connection
        if held is not None:
            held.close()
        try:
            reader = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S
            )
            reader.execute("PRAGMA query_only=ON")
            reader.execute("PRAGMA cache_size=-16384")
            # Pages read through a memory map survive the cache reset that every commit by
            # another connection causes (a decision's point reads after a trace batch).
            reader.execute(f"PRAGMA mmap_size={READ_MMAP_BYTES}")
        except sqlite3.Error as error:
            self._raise(error, lambda: None)
        held = _Reader(reader, self._generation)
        with self.lock:
            self._readers.add(held)
        self._local.reader = held
        return reader

    def data_version(self) -> int:
        """Changes whenever another connection commits to this file."""
        with self.lock:
            try:
                return self._open_writer().execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.Error as error:
                self._raise(error, self._drop)

    def probe(self) -> StorageUnavailable | None:
        """Why this file cannot take a write now, or None when it can (see ``probe``); a
        probe that meets a fault drops the connections it may have left stuck, like a write."""
        try:
            return probe_writable(
                self.path, self.name, self.lock, self._open_writer, BUSY_TIMEOUT_S
            )
        except StorageUnavailable as fault:
            return fault
        except sqlite3.Error as error:
            with self.lock:
                try:
                    self._raise(error, self._drop)
                except StorageUnavailable as fault:
                    return None if fault.rule == "busy" else fault

    def close(self) -> None:
        with self.lock:
            for reader in list(self._readers):
                reader.close()
            if self._writer is not None:
                self._writer.close()
                self._writer = None
