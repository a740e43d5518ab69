"""How full each in-memory cache is, counted when ``/metrics`` is scraped."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any
from weakref import ref

from prometheus_client import REGISTRY
from prometheus_client.metrics_core import GaugeMetricFamily, Metric


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
