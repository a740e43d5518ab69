"""Handing the C heap's free pages back to the system, which glibc does not do by itself."""

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


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
