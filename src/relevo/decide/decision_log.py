"""The decision log: every answer's trace, written off the request path.

An answer must never wait on (or fail because of) its trace: ``record`` only appends the
encoded trace to a bounded queue, and one background thread writes what has queued up in
batches, one transaction per tenant and region. When the queue is full the trace is dropped and
counted (``dropped``), because a late or lost trace costs far less than a late answer. So is a
batch the storage refuses (a read-only file, a full disk): the writer logs the fault once, drops
and counts what it refuses, and writes again as soon as the store takes writes.

The queue is a ``deque`` and the writer is woken by an ``Event`` only when it sleeps: a
``queue.Queue`` takes a lock and notifies a condition on every answer, on the event loop's
time, with the GIL handed to the writer and back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable

from relevo.domain.decisions import Trace, decision_region
from relevo.domain.tenants import Tenant
from relevo.monitoring import TRACES_DROPPED
from relevo.ports import EncodedTrace, Outcome, Storage, StorageUnavailable

log = logging.getLogger("relevo.decide")

_STOP = None
"""Put on the queue by ``close``: the writer thread ends once everything before it is written."""

_Entry = tuple[str, str, EncodedTrace] | threading.Event | None
"""A trace to write (tenant id, region, trace); a flush marker, set once everything queued
before it is written; or ``_STOP``."""


class DecisionLog:
    """Writes traces asynchronously to their region partitions and reads them back."""

    def __init__(
        self, storage: Storage, capacity: int = 10_000, batch: int = 500, linger_s: float = 0.05
    ) -> None:
        self._storage = storage
        self._queue: deque[_Entry] = deque()
        self._capacity = capacity
        self._wake = threading.Event()  # set when something is queued for a sleeping writer
        self._batch = batch
        # A commit makes every reader of the file drop its page cache, and decisions read the
        # same files: waiting a moment to gather a batch turns a commit per few traces into a
        # few commits a second. A flush is never kept waiting, nor is a full batch.
        self._linger = linger_s
        self._lock = threading.Lock()
        self._closed = False
        self._failing: dict[tuple[str, str], int] = {}  # partition: traces lost in its fault
        self.dropped = 0
        """Traces that will never be written: queue full, log closed, or the write failed."""
        self._thread = threading.Thread(target=self._run, name="relevo-decision-log", daemon=True)
        self._thread.start()

    def record(self, tenant_id: str, region: str, trace: EncodedTrace) -> None:
        """Queue a trace for writing; never blocks, never raises (a full queue drops it)."""
        if self._closed or len(self._queue) >= self._capacity:
            self._drop(1)
            return
        self._queue.append((tenant_id, region, trace))
        if not self._wake.is_set():
            self._wake.set()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every trace queued before this call is written; False on timeout."""
        if self._closed:
            return True
        marker = threading.Event()
        self._queue.append(marker)
        self._wake.set()
        return marker.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the writer thread; later traces are dropped."""
        if self._closed:
            return
        self.flush(timeout)
        self._closed = True
        self._queue.append(_STOP)
        self._wake.set()
        self._thread.join(timeout)  # a stuck writer is a daemon thread: exit anyway

    def get(self, tenant: Tenant, decision_id: str) -> tuple[Trace, list[Outcome]] | None:
        """A decision's trace and the outcomes joined to it so far; None for an id this tenant
        cannot have made (malformed, or naming a region it has not), or one not written yet."""
        region = decision_region(decision_id)
        if region not in tenant.regions:
            return None
        partition = self._storage.partition(tenant.tenant_id, region)
        trace = partition.decision(decision_id)
        if trace is None:
            return None
        return trace, partition.outcomes(decision_id)

    def _drop(self, count: int) -> None:
        with self._lock:
            self.dropped += count
        TRACES_DROPPED.inc(count)

    def _run(self) -> None:
        """Take whatever has queued up (up to a batch), write it, release the flushes waiting."""
        queued = self._queue
        while True:
            while not queued:  # a wake may be left from entries already taken
                self._wake.wait()
                self._wake.clear()
            # Linger only to gather a batch: with a batch already waiting, sleeping would cap
            # the writer at a batch per linger, below what a server answers under load, and
            # the full queue would drop traces (docs/performance.md).
            if isinstance(queued[0], tuple) and len(queued) < self._batch:
                time.sleep(self._linger)
            entries = [queued.popleft() for _ in range(min(len(queued), self._batch))]
            self._write(e for e in entries if isinstance(e, tuple))
            for entry in entries:
                if isinstance(entry, threading.Event):
                    entry.set()
            if _STOP in entries:
                return

    def _write(self, entries: Iterable[tuple[str, str, EncodedTrace]]) -> None:
        groups: dict[tuple[str, str], list[EncodedTrace]] = {}
        for tenant_id, region, trace in entries:
            groups.setdefault((tenant_id, region), []).append(trace)
        for (tenant_id, region), traces in groups.items():
            try:
                with self._storage.partition(tenant_id, region).transaction() as writer:
                    writer.record_decisions(traces)
                for trace in traces:
                    if trace.shared is not None:
                        trace.shared.stored = True
            except StorageUnavailable as fault:
                self._lost_to_fault((tenant_id, region), fault, len(traces))
            except Exception:
                log.exception(
                    "lost %d decision traces of tenant %s in region %s",
                    len(traces),
                    tenant_id,
                    region,
                )
                self._drop(len(traces))
            else:
                self._resumed((tenant_id, region))

    def _lost_to_fault(self, key: tuple[str, str], fault: StorageUnavailable, count: int) -> None:
        """Drop and count traces a storage fault refused; say so once a fault, not once a
        batch (a batch every linger would flood the log while a disk is full)."""
        self._drop(count)
        if key not in self._failing:
            log.warning(
                "decision traces of tenant %s in region %s cannot be written (%s: %s);"
                " dropping them until the store takes writes again",
                *key,
                fault.rule,
                fault.detail,
            )
        self._failing[key] = self._failing.get(key, 0) + count

    def _resumed(self, key: tuple[str, str]) -> None:
        """Say that a partition takes traces again after a fault, and how many it lost."""
        if self._failing:
            lost = self._failing.pop(key, None)
            if lost is not None:
                log.warning(
                    "decision traces of tenant %s in region %s are written again;"
                    " %d were lost during the fault",
                    *key,
                    lost,
                )
