"""Prometheus metrics: what an operator watches, served at ``/metrics``.

Latency per endpoint, decisions by fallback, candidates removed per filter, the age of a
person's features when a decision reads them, cache hits and misses, and the lag from an
event's arrival to its derived state being committed. The figures are those of the process that answers ``/metrics``:
with several worker processes, each has its own (see docs/configuration.md).
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left
from collections import deque
from collections.abc import (
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    Sequence,
)
from functools import cache
from itertools import accumulate
from typing import Any
from weakref import ref

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString
from starlette.requests import Request
from starlette.responses import Response

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class _Series:
    """One series' numbers, kept per thread and summed when scraped: each thread adds to its
    own list, so an add needs no lock and cannot be lost."""

    __slots__ = ("_cells", "_size")

    def __init__(self, size: int) -> None:
        self._cells: dict[int, list[float]] = {}
        self._size = size

    def _cell(self) -> list[float]:
        cell = self._cells.get(threading.get_ident())
        if cell is None:
            cell = self._cells[threading.get_ident()] = [0.0] * self._size
        return cell

    def totals(self) -> list[float]:
        return [sum(column) for column in zip(*list(self._cells.values()), strict=True)] or [
            0.0
        ] * self._size


class _CountSeries(_Series):
    __slots__ = ()

    def inc(self, amount: float = 1.0) -> None:
        self._cell()[0] += amount


class _HistogramSeries(_Series):
    __slots__ = ("_bounds",)

    def __init__(self, bounds: tuple[float, ...]) -> None:
        super().__init__(len(bounds) + 2)  # a count per bucket (and +Inf), then the sum
        self._bounds = bounds

    def observe(self, value: float) -> None:
        cell = self._cell()
        cell[bisect_left(self._bounds, value)] += 1
        cell[-1] += value

    def add_in(self, bucket: int, count: int, total: float) -> None:
        """``count`` observations at once, all in ``bucket`` (an index of the bounds, or
        ``len(bounds)`` for +Inf), summing to ``total``."""
        cell = self._cell()
        cell[bucket] += count
        cell[-1] += total


class _DecisionMetric:
    """A labelled counter or histogram for the decision path, exposed through
    prometheus_client's registry as a custom collector.

    prometheus_client's own take a lock on every add and check themselves on every call: the
    five series a reused decision touches cost 9 µs of its 105 (in process, Online Retail).
    These cost about a microsecond. Scrapes read the same names and shapes.

    >>> from prometheus_client import CollectorRegistry, generate_latest
    >>> registry = CollectorRegistry()
    >>> seen = _DecisionMetric("demo_seconds", "A demo.", ["route"], (0.1, 1.0), registry)
    >>> seen.labels("/a").observe(0.5); seen.labels("/a").observe(2.0)
    >>> print(generate_latest(registry).decode().splitlines()[3:6])
    ['demo_seconds_bucket{le="1.0",route="/a"} 1.0', 'demo_seconds_bucket{le="+Inf",route="/a"} 2.0', 'demo_seconds_count{route="/a"} 2.0']
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: tuple[float, ...] | None = None,  # a histogram's, else a counter
        registry: Any = REGISTRY,
    ) -> None:
        self._name, self._documentation = name, documentation
        self._labelnames = list(labelnames)
        self._bounds = buckets
        self._children: dict[tuple[str, ...], Any] = {}
        self._lock = threading.Lock()
        registry.register(self)

    @property
    def buckets(self) -> tuple[float, ...] | None:
        return self._bounds

    def labels(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            with self._lock:
                child = self._children.setdefault(
                    values,
                    _CountSeries(1) if self._bounds is None else _HistogramSeries(self._bounds),
                )
        return child

    def collect(self) -> Iterator[Metric]:
        children = list(self._children.items())
        if self._bounds is None:
            counts = CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)
            for values, child in children:
                counts.add_metric(values, child.totals()[0])
            yield counts
            return
        family = HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)
        bounds = [floatToGoString(b) for b in (*self._bounds, math.inf)]
        for values, child in children:
            totals = child.totals()
            cumulative = list(accumulate(totals[:-1]))
            family.add_metric(
                values, list(zip(bounds, cumulative, strict=True)), sum_value=totals[-1]
            )
        yield family


class CacheSizes:
    """``relevo_cache_entries{cache=...}`` and ``relevo_cache_max_entries{cache=...}``: how
    many entries each in-memory cache holds, and its bound, counted when ``/metrics`` is
    scraped (nothing is done per request).

    A cache is tracked through its owner, held weakly: an owner that is gone stops counting.
    Several owners of one cache (a pseudonymizer per tenant, a service per test) add up.

    >>> from prometheus_client import CollectorRegistry, generate_latest
    >>> registry = CollectorRegistry()
    >>> sizes = CacheSizes(registry)
    >>> class Owner:
    ...     def __init__(self) -> None:
    ...         self.kept = {1: "a", 2: "b"}
    >>> owner = Owner()
    >>> sizes.track("demo", owner, lambda o: len(o.kept), 10)
    >>> [line for line in generate_latest(registry).decode().splitlines() if "demo" in line]
    ['relevo_cache_entries{cache="demo"} 2.0', 'relevo_cache_max_entries{cache="demo"} 10.0']
    """

    def __init__(self, registry: Any = REGISTRY) -> None:
        self._tracked: dict[str, list[tuple[Callable[[], int | None], int]]] = {}
        self._lock = threading.Lock()
        registry.register(self)

    def track(self, name: str, owner: object, size: Callable[[Any], int], limit: int) -> None:
        """Count ``size(owner)`` as cache ``name``'s entries (bound ``limit``) while ``owner``
        lives."""
        held = ref(owner)

        def entries() -> int | None:
            found = held()
            return None if found is None else size(found)

        with self._lock:
            self._tracked.setdefault(name, []).append((entries, limit))

    def sizes(self) -> dict[str, tuple[int, int]]:
        """Each cache's entries and bound, summed over its owners alive now."""
        found: dict[str, tuple[int, int]] = {}
        with self._lock:
            for name, tracked in list(self._tracked.items()):
                alive = [(entries, limit, entries()) for entries, limit in tracked]
                alive = [(entries, limit, n) for entries, limit, n in alive if n is not None]
                self._tracked[name] = [(entries, limit) for entries, limit, _ in alive]
                if alive:
                    found[name] = (sum(n for *_, n in alive), sum(lim for _, lim, _ in alive))
                else:
                    del self._tracked[name]
        return found

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("relevo_cache_entries", "", labels=["cache"])
        yield GaugeMetricFamily("relevo_cache_max_entries", "", labels=["cache"])

    def collect(self) -> Iterator[Metric]:
        entries = GaugeMetricFamily(
            "relevo_cache_entries", "Entries held by each in-memory cache", labels=["cache"]
        )
        bounds = GaugeMetricFamily(
            "relevo_cache_max_entries",
            "The most entries each in-memory cache may hold (configured, see docs/operations.md)",
            labels=["cache"],
        )
        for name, (held, limit) in sorted(self.sizes().items()):
            entries.add_metric([name], held)
            bounds.add_metric([name], limit)
        yield entries
        yield bounds


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


def release_free_memory() -> bool:
    """Give the pages the C heap holds free back to the system (glibc's ``malloc_trim``);
    False where there is no such call. Caches that replace their entries leave freed memory
    scattered in the heap, which glibc keeps: in a soak, resident memory kept growing about
    10 MB a minute with every Python object count flat, and stayed level with a trim every 30 s
    (each 1.5 to 4 ms, on the refresher's thread)."""
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


PENDING_MARKS = 100_000  # at most this many marks wait for a scrape; older ones are added


class AnswerMarks:
    """What each answer reused from one prepared decision adds to the decision metrics: its
    counts (decisions by fallback, candidates removed per filter) and the age of each feature
    of the person at that moment; with the answers noted since they were last added.

    While no feature's age crosses a bucket bound (``until_us``), every answer puts each age in
    the same bucket, and the ages' sum follows from the answers' times: so the answers need not
    be kept, only counted, and added to the series at once."""

    __slots__ = ("answers", "buckets", "changed_us", "counts", "now_sum", "series", "until_us")

    def __init__(
        self, counts: tuple[tuple[Any, float], ...], ages: Sequence[tuple[Any, int]]
    ) -> None:
        self.counts = counts
        self.series = tuple(series for series, _ in ages)
        self.changed_us = tuple(at for _, at in ages)
        self.buckets: tuple[int, ...] = ()
        self.until_us: float = -1  # no bucket placed yet
        self.answers = 0
        self.now_sum = 0


class AnswerLedger:
    """Adds what reused answers add to the decision metrics, noted per answer and added to the
    series before a scrape (``fold``), or when a feature's age moves to another bucket.

    Why: an answer reused from a prepared decision added to five to eight series, one call
    each (its age per feature, its counts): about 2.5 µs of the 33 µs it took in process
    (Online Retail, 4,372 people). Noting one is a few additions; adding a person's answers
    to the series costs what adding one did.

    >>> from prometheus_client import CollectorRegistry, generate_latest
    >>> registry = CollectorRegistry()
    >>> ages = _DecisionMetric("age_seconds", "Ages.", ["feature"], (1.0, 10.0), registry)
    >>> made = _DecisionMetric("made", "Made.", ["fallback"], None, registry)
    >>> ledger = AnswerLedger(ages)
    >>> marks = ledger.marks([(made.labels("none"), 1)], {"recent": 0, "counters": 5_000_000})
    >>> for at_s in (7, 8, 12):
    ...     ledger.note(marks, at_s * 1_000_000)
    >>> ledger.fold()
    >>> text = generate_latest(registry).decode().splitlines()
    >>> [line for line in text if '"recent"' in line or line.startswith("made_total")]
    ... # doctest: +NORMALIZE_WHITESPACE
    ['age_seconds_bucket{feature="recent",le="1.0"} 0.0',
     'age_seconds_bucket{feature="recent",le="10.0"} 2.0',
     'age_seconds_bucket{feature="recent",le="+Inf"} 3.0',
     'age_seconds_count{feature="recent"} 3.0', 'age_seconds_sum{feature="recent"} 27.0',
     'made_total{fallback="none"} 3.0']
    """

    def __init__(self, ages: _DecisionMetric, pending: int = PENDING_MARKS) -> None:
        assert ages.buckets is not None, "feature ages are a histogram"
        self._ages = ages
        self._bounds_us = tuple(round(bound * 1e6) for bound in ages.buckets)
        self._limit = pending
        self._pending: deque[AnswerMarks] = deque()  # marks with answers not yet added
        self._lock = threading.Lock()

    def marks(
        self, counts: Iterable[tuple[Any, float]], changed_us: Mapping[str, int]
    ) -> AnswerMarks:
        ages = [(self._ages.labels(name), at) for name, at in changed_us.items()]
        return AnswerMarks(tuple(counts), ages)

    def note(self, marks: AnswerMarks, now_us: int) -> None:
        with self._lock:
            if now_us > marks.until_us:
                self._add(marks)
                self._place(marks, now_us)
            if not marks.answers:
                self._pending.append(marks)
                if len(self._pending) > self._limit:
                    self._add(self._pending.popleft())
            marks.answers += 1
            marks.now_sum += now_us

    def fold(self) -> None:
        """Add every answer noted so far to the series."""
        with self._lock:
            while self._pending:
                self._add(self._pending.popleft())

    def _place(self, marks: AnswerMarks, now_us: int) -> None:
        """Each age's bucket at ``now_us``, and until when they all stay there."""
        bounds = self._bounds_us
        marks.buckets = tuple(bisect_left(bounds, now_us - at) for at in marks.changed_us)
        marks.until_us = min(
            (
                at + bounds[b]
                for b, at in zip(marks.buckets, marks.changed_us, strict=True)
                if b < len(bounds)
            ),
            default=math.inf,
        )

    def _add(self, marks: AnswerMarks) -> None:
        answers = marks.answers
        if not answers:
            return
        for series, amount in marks.counts:
            series.inc(amount * answers)
        for series, bucket, at in zip(marks.series, marks.buckets, marks.changed_us, strict=True):
            series.add_in(bucket, answers, (marks.now_sum - answers * at) / 1e6)
        marks.answers = marks.now_sum = 0


REQUEST_SECONDS = _DecisionMetric(
    "relevo_request_seconds", "HTTP request latency", ["route", "method"], LATENCY_BUCKETS
)
DECISIONS = _DecisionMetric("relevo_decisions", "Decisions by the fallback they took", ["fallback"])
FILTER_REMOVED = _DecisionMetric(
    "relevo_filter_removed", "Candidates removed by each policy or business filter", ["filter"]
)
FEATURE_AGE_SECONDS = _DecisionMetric(
    "relevo_feature_age_seconds",
    "Age of each online feature of a person (since the event that last changed it) when a"
    " decision reads it",
    ["feature"],
    (1, 10, 60, 600, 3600, 86_400, 7 * 86_400, 30 * 86_400),
)
CACHE_LOOKUPS = _DecisionMetric(
    "relevo_cache_lookups", "Cache lookups by cache and result", ["cache", "result"]
)
TRACES_DROPPED = Counter(
    "relevo_traces_dropped",
    "Decision traces lost: the writer's queue was full, or their write failed",
)
PRECOMPUTED = Counter(
    "relevo_precomputed_rankings", "Rankings computed ahead of a request, in the background"
)
ANSWERS = AnswerLedger(FEATURE_AGE_SECONDS)
CACHE_SIZES = CacheSizes()
SQLITE_HEAP = SqliteHeap()
CACHE_SIZES.track("answer_marks", ANSWERS, lambda ledger: len(ledger._pending), PENDING_MARKS)
EVENT_LAG_SECONDS = Histogram(
    "relevo_event_to_feature_lag_seconds",
    "From an event batch's arrival to its derived state being committed",
    buckets=LATENCY_BUCKETS,
)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class LatencyMiddleware:
    """A pure ASGI middleware (no per-request objects) timing each request by route pattern,
    so ``/v1/items/{item_id}`` is one series however many items there are."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            route = scope.get("route")
            key = (getattr(route, "path", "unmatched"), scope["method"])
            REQUEST_SECONDS.labels(*key).observe(time.perf_counter() - started)


async def metrics_endpoint(request: Request) -> Response:
    ANSWERS.fold()
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
