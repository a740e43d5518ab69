"""The web side of monitoring: the ``/metrics`` endpoint and the middleware timing each request,
kept in the API so that the metric definitions (``relevo.monitoring``) need no web framework."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from relevo.monitoring import ANSWERS, REQUEST_SECONDS

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
