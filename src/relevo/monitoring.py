"""Prometheus metrics: what an operator watches, served at ``/metrics``.

Latency per endpoint, decisions by fallback, candidates removed per filter, the age of a
person's features when a decision reads them, cache hits and misses, and the lag from an
event's arrival to its derived state being committed. The figures are those of the process that answers ``/metrics``:
with several worker processes, each has its own (see docs/configuration.md).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)

REQUEST_SECONDS = Histogram(
    "relevo_request_seconds", "HTTP request latency", ["route", "method"], buckets=LATENCY_BUCKETS
)
DECISIONS = Counter("relevo_decisions", "Decisions by the fallback they took", ["fallback"])
FILTER_REMOVED = Counter(
    "relevo_filter_removed", "Candidates removed by each policy or business filter", ["filter"]
)
FEATURE_AGE_SECONDS = Histogram(
    "relevo_feature_age_seconds",
    "Age of each online feature of a person (since the event that last changed it) when a"
    " decision reads it",
    ["feature"],
    buckets=(1, 10, 60, 600, 3600, 86_400, 7 * 86_400, 30 * 86_400),
)
CACHE_LOOKUPS = Counter(
    "relevo_cache_lookups", "Cache lookups by cache and result", ["cache", "result"]
)
PRECOMPUTED = Counter(
    "relevo_precomputed_rankings", "Rankings computed ahead of a request, in the background"
)
EVENT_LAG_SECONDS = Histogram(
    "relevo_event_to_feature_lag_seconds",
    "From an event batch's arrival to its derived state being committed",
    buckets=LATENCY_BUCKETS,
)

_SERIES: dict[tuple[Any, tuple[str, ...]], Any] = {}


def series(metric: Counter | Histogram, *labels: str) -> Any:
    """The metric's series for these label values, looked up once: ``labels()`` costs more
    than the ``inc`` or ``observe`` that follows it, and decisions make several a request."""
    key = (metric, labels)
    found = _SERIES.get(key)
    if found is None:
        found = _SERIES[key] = metric.labels(*labels)
    return found


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
            series(REQUEST_SECONDS, *key).observe(time.perf_counter() - started)


async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
