"""The decision log: every answer's trace, written off the request path.

An answer must never wait on (or fail because of) its trace: ``record`` only puts the trace on
a bounded queue, and one background thread writes what has queued up in batches, one
transaction per tenant and region. When the queue is full the trace is dropped and counted
(``dropped``), because a late or lost trace costs far less than a late answer.

The server writes through a separate process (``ProcessWriter``): writing in a thread of the
serving process took 40% of its throughput and most of its p99 (benchmarks/serve.py), as the
SQLite work shared the GIL with every answer. The thread then only encodes a batch and hands
it over a pipe; the commit happens in the other process before the thread goes on, so
``flush`` still means "written".
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import queue
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Protocol

import msgspec

from relevo.domain.decisions import Trace, decision_region
from relevo.domain.tenants import Tenant
from relevo.ports import Outcome, Storage

log = logging.getLogger("relevo.decide")

_STOP = None
"""Put on the queue by ``close``: the writer thread ends once everything before it is written."""

_Entry = tuple[str, str, Trace] | threading.Event | None  # a Row, a flush marker or _STOP
"""A trace to write (tenant id, region, trace); a flush marker, set once everything queued
before it is written; or ``_STOP``."""


Row = tuple[str, str, Trace]
"""A trace to write, with its tenant id and region."""


class TraceWriter(Protocol):
    def write(self, rows: Sequence[Row]) -> int:
        """Write the rows, returning how many were lost."""
        ...

    def close(self) -> None: ...


class InProcessWriter:
    """Writes in the calling thread: for commands and tests, where nothing is served."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def write(self, rows: Sequence[Row]) -> int:
        return write_rows(self._storage, rows)

    def close(self) -> None:
        return None


class ProcessWriter:
    """Writes in a child process with its own storage, started on first use (commands that
    never decide never start it). If the child dies, the batch in hand is lost and counted,
    and the next batch starts a new child."""

    def __init__(self, open_storage: Callable[[], Storage]) -> None:
        self._open_storage = open_storage
        self._child: multiprocessing.process.BaseProcess | None = None
        self._pipe: Connection | None = None

    def write(self, rows: Sequence[Row]) -> int:
        try:
            pipe = self._connected()
            pipe.send_bytes(_encode_rows(list(rows)))
            return int(pipe.recv_bytes())
        except (OSError, EOFError, ValueError):
            log.exception("the trace writer process failed; starting another")
            self.close()
            return len(rows)

    def close(self) -> None:
        pipe, child, self._pipe, self._child = self._pipe, self._child, None, None
        if pipe is not None:
            with contextlib.suppress(OSError):  # the child may be gone already
                pipe.send_bytes(b"")
            pipe.close()
        if child is not None:
            child.join(5)
            if child.is_alive():
                child.terminate()

    def _connected(self) -> Connection:
        if self._pipe is None or self._child is None or not self._child.is_alive():
            context = multiprocessing.get_context("spawn")  # safe beside running threads
            ours, theirs = context.Pipe()
            child = context.Process(
                target=serve_writes,
                args=(theirs, self._open_storage),
                name="relevo-trace-writer",
                daemon=True,
            )
            child.start()
            theirs.close()
            self._pipe, self._child = ours, child
        return self._pipe


def serve_writes(pipe: Connection, open_storage: Callable[[], Storage]) -> None:
    """The writer process: write each batch received, answer how many were lost; an empty
    message ends it."""
    storage = open_storage()
    decode = msgspec.json.Decoder(list[Row]).decode
    try:
        while message := pipe.recv_bytes():
            pipe.send_bytes(str(write_rows(storage, decode(message))).encode())
    except EOFError:  # the serving process is gone
        pass
    finally:
        storage.close()


def write_rows(storage: Storage, rows: Sequence[Row]) -> int:
    """One transaction per tenant and region; how many traces were lost."""
    groups: dict[tuple[str, str], list[Trace]] = {}
    for tenant_id, region, trace in rows:
        groups.setdefault((tenant_id, region), []).append(trace)
    lost = 0
    for (tenant_id, region), traces in groups.items():
        try:
            with storage.partition(tenant_id, region).transaction() as writer:
                writer.record_decisions(traces)
        except Exception:
            log.exception(
                "lost %d decision traces of tenant %s in region %s", len(traces), tenant_id, region
            )
            lost += len(traces)
    return lost


def _encode_rows(rows: list[Row]) -> bytes:
    """One trace at a time (one call for the whole batch would hold the GIL for milliseconds,
    and answers would wait that long)."""
    return b"[%b]" % b",".join(msgspec.json.encode(row) for row in rows)


class DecisionLog:
    """Writes traces asynchronously to their region partitions and reads them back."""

    def __init__(
        self,
        storage: Storage,
        capacity: int = 10_000,
        batch: int = 500,
        linger_s: float = 0.05,
        writer: TraceWriter | None = None,
    ) -> None:
        self._storage = storage
        self._writer = writer or InProcessWriter(storage)
        self._queue: queue.Queue[_Entry] = queue.Queue(capacity)
        self._batch = batch
        # A commit makes every reader of the file drop its page cache, and decisions read the
        # same files: waiting a moment to gather a batch turns a commit per few traces into a
        # few commits a second. A flush is never kept waiting.
        self._linger = linger_s
        self._lock = threading.Lock()
        self._closed = False
        self.dropped = 0
        """Traces that will never be written: queue full, log closed, or the write failed."""
        self._thread = threading.Thread(target=self._run, name="relevo-decision-log", daemon=True)
        self._thread.start()

    def record(self, tenant_id: str, region: str, trace: Trace) -> None:
        """Queue a trace for writing; never blocks, never raises (a full queue drops it)."""
        if not self._closed:
            try:
                self._queue.put_nowait((tenant_id, region, trace))
                return
            except queue.Full:
                pass
        self._drop(1)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every trace queued before this call is written; False on timeout."""
        if self._closed:
            return True
        marker = threading.Event()
        try:
            self._queue.put(marker, timeout=timeout)
        except queue.Full:
            return False
        return marker.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the writer thread; later traces are dropped."""
        if self._closed:
            return
        self.flush(timeout)
        self._closed = True
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:  # the writer is stuck; it is a daemon thread, so exit anyway
            return
        self._thread.join(timeout)
        self._writer.close()

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

    def _run(self) -> None:
        """Take whatever has queued up (up to a batch), write it, release the flushes waiting."""
        while True:
            entries = [self._queue.get()]
            if isinstance(entries[0], tuple):
                time.sleep(self._linger)
            while len(entries) < self._batch:
                try:
                    entries.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write([e for e in entries if isinstance(e, tuple)])
            for entry in entries:
                if isinstance(entry, threading.Event):
                    entry.set()
            if _STOP in entries:
                return

    def _write(self, rows: list[Row]) -> None:
        if rows:
            lost = self._writer.write(rows)
            if lost:
                self._drop(lost)
