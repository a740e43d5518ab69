"""A board of change counts beside a region file, shared through a memory map by every process
that writes or reads the file, so a reader can tell that a person's state is unchanged without
asking SQLite.

Why: a decision reused for a person's unchanged state must still see, in the very next
request, an event taken by another worker or by ``relevo import``. Asking SQLite for the
person's version did that, but each call hands the GIL to the process's other threads and
waits to get it back, which under load was a large share of a reused decision. Reading a
count from shared memory needs neither SQLite nor the GIL's hand-over.

Each person hashes to one slot (crc32, the same in every process); a writer adds one to the
slots of the people it changed, after its commit and under an exclusive ``flock``, so that
two writers never lose an increment. A reader reads the count before it reads the state: an
unchanged count then means no commit has changed the person since (other people sharing the
slot only cost a needless read). A writer that dies between its commit and its bump leaves
the change unsignalled; readers bound what they remember in time for that case
(``REMEMBER_S`` in ``region.person_versions``).

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> board, other = ChangeBoard(folder / "r.changes"), ChangeBoard(folder / "r.changes")
>>> before = board.count("u:1")
>>> other.bump({"u:1"})
>>> board.count("u:1") == before + 1, board.count("u:2") == 0
(True, True)
>>> board.close(); other.close()
"""

from __future__ import annotations

import fcntl
import mmap
import os
import zlib
from collections.abc import Iterable
from pathlib import Path

SLOTS = 1 << 18
"""2 MiB per region file; with a million people, about four share each slot."""
_WRAP = (1 << 64) - 1


class ChangeBoard:
    def __init__(self, path: Path, slots: int = SLOTS) -> None:
        self._file = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        size = slots * 8
        if os.fstat(self._file).st_size < size:  # another process may do the same: same size
            os.ftruncate(self._file, size)
        self._map = mmap.mmap(self._file, size)
        self._counts = memoryview(self._map).cast("Q")
        self._mask = slots - 1

    def count(self, key: str) -> int:
        """How many commits have changed ``key``'s slot."""
        return self._counts[zlib.crc32(key.encode()) & self._mask]

    def bump(self, keys: Iterable[str]) -> None:
        """Signal that a commit changed these keys (call it after the commit)."""
        slots = {zlib.crc32(key.encode()) & self._mask for key in keys}
        if slots:
            self._bump(slots)

    def bump_all(self) -> None:
        """Signal that a commit may have changed every key (a replay of derived state)."""
        self._bump(range(self._mask + 1))

    def _bump(self, slots: Iterable[int]) -> None:
        counts = self._counts
        fcntl.flock(self._file, fcntl.LOCK_EX)
        try:
            for slot in slots:
                counts[slot] = (counts[slot] + 1) & _WRAP
        finally:
            fcntl.flock(self._file, fcntl.LOCK_UN)

    def close(self) -> None:
        self._counts.release()
        self._map.close()
        os.close(self._file)
