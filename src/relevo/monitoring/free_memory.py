"""Keeping the C heap compact: fewer heaps for the server's threads, large arrays mapped apart,
and free pages handed back to the system, none of which glibc does by itself."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache


def release_free_memory() -> bool:
    """Give the pages the C heap holds free back to the system (glibc's ``malloc_trim``);
    False where there is no such call. Caches that replace their entries leave freed memory
    scattered in the heap, which glibc keeps: in a soak, resident memory kept growing with every
    Python object count flat, and stayed level once trimmed now and then. A trim takes long
    enough that it runs on the refresher's thread, never on the event loop."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameters (malloc.h)
M_ARENA_MAX = -8
ARENAS = 2
MMAP_THRESHOLD = 128 * 1024


def compact_heap() -> bool:
    """Ask glibc for at most ``ARENAS`` heaps and to map every block over ``MMAP_THRESHOLD``
    apart; False where there is no such call. Each thread that allocates under contention
    otherwise gets a heap of its own (up to 8 per core), and glibc raises the mapping threshold
    after each large free, so numpy's short-lived arrays land in those heaps and leave them
    fragmented: in a soak, resident memory kept rising with every cache level."""
    mallopt = _libc_call("mallopt")
    if mallopt is None:
        return False
    return bool(mallopt(M_ARENA_MAX, ARENAS)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def _malloc_trim() -> Callable[[int], int] | None:
    return _libc_call("malloc_trim")


@cache
def _libc_call(name: str) -> Callable[..., int] | None:
    try:
        import ctypes

        return getattr(ctypes.CDLL("libc.so.6"), name)
    except (OSError, AttributeError):
        return None
