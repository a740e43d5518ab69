"""Thread pools that start all their threads at once.

A ``ThreadPoolExecutor`` starts a thread when work finds none idle, so a serving process
kept adding threads whenever a burst came, minutes into its life, each taking its own
C-heap arena and its own SQLite connections: a step in resident memory at a moment no one
chose (docs/performance.md, the soak). Started whole, the pool's memory is there from the
start and the count of threads never changes.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

IO_THREADS = min(32, (os.cpu_count() or 1) + 4)
"""The event loop's pool for blocking calls: asyncio's own default size."""


def started_pool(workers: int, name: str) -> ThreadPoolExecutor:
    """A pool of ``workers`` threads, every one of them already running.

    >>> pool = started_pool(3, "demo")
    >>> sum(t.name.startswith("demo") for t in threading.enumerate())
    3
    >>> pool.shutdown()
    """
    pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
    # Each task waits for the others, so no thread is idle when the next is submitted and
    # the pool starts a new one each time; the caller does not wait.
    everyone = threading.Barrier(workers)
    for _ in range(workers):
        pool.submit(everyone.wait)
    return pool
