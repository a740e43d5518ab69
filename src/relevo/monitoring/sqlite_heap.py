"""SQLite's heap in this process: its soft limit, set at start, and its size, read at scrape
time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.metrics_core import GaugeMetricFamily, Metric


def _sqlite_memory_used() -> Callable[[], int] | None:
    """SQLite's ``sqlite3_memory_used`` (bytes of heap it holds: every connection's page
    cache, schema and statements), if the library Python's sqlite3 module is linked to exports
    it; None where it cannot be called."""
    try:
        import _sqlite3
        import ctypes

        library = ctypes.CDLL(_sqlite3.__file__)  # its own symbols, then its libsqlite3's
        used = library.sqlite3_memory_used
    except (ImportError, OSError, AttributeError):
        return None
    used.restype, used.argtypes = ctypes.c_int64, []
    return used


def limit_sqlite_heap(megabytes: int) -> None:
    """Set SQLite's soft heap limit for this process (0: none): past it, SQLite recycles the
    pages its connections cache rather than allocate more. Without it each connection's cache
    (``cache_size``) fills over time, and each thread has connections of its own."""
    import sqlite3

    probe = sqlite3.connect(":memory:")
    try:
        probe.execute(f"PRAGMA soft_heap_limit={int(megabytes) * 2**20}")
    finally:
        probe.close()


class SqliteHeap:
    """``relevo_sqlite_heap_bytes`` and ``relevo_sqlite_heap_limit_bytes``, read at scrape
    time (absent where SQLite's memory statistics cannot be read)."""

    def __init__(self, registry: Any = REGISTRY) -> None:
        self._used = _sqlite_memory_used()
        registry.register(self)

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        if self._used is None:
            return
        import sqlite3

        probe = sqlite3.connect(":memory:")
        try:
            (limit,) = probe.execute("PRAGMA soft_heap_limit").fetchone()
        finally:
            probe.close()
        yield GaugeMetricFamily(
            "relevo_sqlite_heap_bytes",
            "Heap memory SQLite holds in this process (page caches of every connection)",
            value=self._used(),
        )
        yield GaugeMetricFamily(
            "relevo_sqlite_heap_limit_bytes",
            "SQLite's soft heap limit in this process (0: none; RELEVO_SQLITE_HEAP_LIMIT_MB)",
            value=limit,
        )
