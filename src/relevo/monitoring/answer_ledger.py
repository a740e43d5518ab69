"""What answers reused from a prepared decision add to the decision metrics, counted per answer
and added to the series in bulk."""

from __future__ import annotations

import math
import threading
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from relevo.monitoring.series import DecisionMetric

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
    each (its age per feature, its counts), a visible share of so cheap an answer. Noting one
    is a few additions; adding a person's answers to the series costs what adding one did.

    >>> from prometheus_client import CollectorRegistry, generate_latest
    >>> registry = CollectorRegistry()
    >>> ages = DecisionMetric("age_seconds", "Ages.", ["feature"], (1.0, 10.0), registry)
    >>> made = DecisionMetric("made", "Made.", ["fallback"], None, registry)
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

    def __init__(self, ages: DecisionMetric, pending: int = PENDING_MARKS) -> None:
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

    def pending(self) -> int:
        """Marks whose answers wait to be added: what the ledger holds in memory."""
        return len(self._pending)

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
