"""Whether a SQLite file can take a write now, without leaving anything written (readiness).

Three checks, cheapest first, because no single one sees every fault:

- the file and its folder are writable for this process (``os.access``): a read-only file,
  folder or file system, or an immutable file (``chattr +i``), which even root cannot write;
  a rolled-back write would not see these, as it never reaches the disk;
- the file system has room (``os.statvfs``): a full disk fails only at commit, which a probe
  must not do;
- a write on the writing connection, rolled back: ``BEGIN IMMEDIATE`` takes the write lock
  (a connection SQLite opened read-only fails here), and a new table with a few pages in it
  must get pages from the file (a size limit is met here).

A file whose write lock another writer holds is taking writes, so it passes.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from relevo.ports import StorageUnavailable

MIN_FREE_BYTES = 8 << 20
"""Less free space than this on the data's file system fails readiness: a batch of events and
its derived state can take a few MiB of WAL."""
PROBE_WAIT_S = 0.2
"""How long a probe waits for this process's writer, or another process's write lock, before
taking it as busy (writes are going on) rather than delaying readiness."""


def access_fault(path: Path, name: str) -> StorageUnavailable | None:
    """A file or folder this process may not write, or a file system short of space."""
    if path.exists() and not os.access(path, os.W_OK):
        return StorageUnavailable(name, "read_only", f"{path.name} is not writable")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return StorageUnavailable(name, "read_only", f"the folder of {path.name} is not writable")
    space = os.statvfs(path.parent)
    free = space.f_bavail * space.f_frsize
    if free < MIN_FREE_BYTES:
        return StorageUnavailable(name, "disk_full", f"only {free} bytes free for {path.name}")
    return None


def probe_writable(
    path: Path,
    name: str,
    lock: threading.RLock,
    writer: Callable[[], sqlite3.Connection],
    busy_timeout_s: float,
) -> StorageUnavailable | None:
    """Why the file cannot take a write now, or None when it can. Raises the ``sqlite3.Error``
    of a failed write, for the caller to classify (and to drop a stuck connection)."""
    try:
        found = access_fault(path, name)
    except OSError as error:
        return StorageUnavailable(name, "io_error", str(error))
    if found is not None:
        return found
    if not lock.acquire(timeout=PROBE_WAIT_S):
        return None  # this process is writing to it
    try:
        _write_and_roll_back(writer(), busy_timeout_s)
    finally:
        lock.release()
    return None


def _write_and_roll_back(connection: sqlite3.Connection, busy_timeout_s: float) -> None:
    """Write pages in a transaction, then roll it back; the connection's busy timeout is
    shortened meanwhile, then restored."""
    connection.execute(f"PRAGMA busy_timeout={int(PROBE_WAIT_S * 1000)}")
    try:
        connection.execute("BEGIN IMMEDIATE")
        (page_size,) = connection.execute("PRAGMA page_size").fetchone()
        connection.execute("CREATE TABLE relevo_probe (body BLOB)")
        connection.execute("INSERT INTO relevo_probe VALUES (zeroblob(?))", (2 * page_size,))
    finally:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        connection.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
