"""Which errors of SQLite and of the file system are storage faults, and what each one means.

A fault is a cause outside the program (a read-only file, a full disk, an I/O error, a lock
held past the busy timeout): it becomes ``StorageUnavailable``, which callers answer with "try
again later". Anything else (a syntax error, a constraint, a misuse) is a bug, and stays the
error it is.

>>> fault_of("control", sqlite3.OperationalError("x")) is None  # no error code: not a fault
True
>>> fault_of("control", OSError(errno.ENOSPC, "No space left on device")).rule
'disk_full'
"""

from __future__ import annotations

import errno
import sqlite3

from relevo.ports import StorageUnavailable

_RULES = {
    sqlite3.SQLITE_PERM: "permission",
    sqlite3.SQLITE_BUSY: "busy",
    sqlite3.SQLITE_READONLY: "read_only",
    sqlite3.SQLITE_IOERR: "io_error",
    sqlite3.SQLITE_FULL: "disk_full",
    sqlite3.SQLITE_CANTOPEN: "cannot_open",
}
"""Primary result codes that are faults (an extended code's low byte is its primary code)."""

_OS_RULES = {
    errno.ENOSPC: "disk_full",
    errno.EDQUOT: "disk_full",
    errno.EROFS: "read_only",
    errno.EACCES: "permission",
    errno.EPERM: "permission",
}

KEEPS_CONNECTION = frozenset({"disk_full", "busy"})
"""Faults after which a connection is still sound: SQLite rolled the write back and takes the
next one once space is freed or the lock released. After any other fault the connection may be
stuck (a file opened read-only stays read-only), so it is dropped and opened again."""


def fault_of(store: str, error: BaseException) -> StorageUnavailable | None:
    """The storage fault ``error`` is, or None when it is not one (a bug, to raise as it is;
    a ``StorageUnavailable`` already raised, by another store, is not this store's fault)."""
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        rule = None if code is None else _RULES.get(code & 0xFF)
    elif isinstance(error, OSError):
        rule = _OS_RULES.get(error.errno or 0, "io_error")
    else:
        rule = None
    return None if rule is None else StorageUnavailable(store, rule, str(error))
