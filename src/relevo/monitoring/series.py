"""Labelled counters and histograms for the decision path, cheaper per add than
prometheus_client's own and scraped through its registry with the same names and shapes."""

from __future__ import annotations

import math
import threading
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from itertools import accumulate
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString


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


class DecisionMetric:
    """A labelled counter or histogram for the decision path, exposed through
    prometheus_client's registry as a custom collector.

    prometheus_client's own take a lock on every add and check themselves on every call,
    which a reused decision, touching five series, paid on each answer; these do neither.
    Scrapes read the same names and shapes.

    >>> from prometheus_client import CollectorRegistry, generate_latest
    >>> registry = CollectorRegistry()
    >>> seen = DecisionMetric("demo_seconds", "A demo.", ["route"], (0.1, 1.0), registry)
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
