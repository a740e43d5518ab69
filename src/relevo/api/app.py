"""The Starlette application: routes, problem handlers, and the engine it serves."""

from __future__ import annotations

import gc
import sys
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from relevo import __version__
from relevo.api import decisions, events, items, operations, people, recommend, schemas
from relevo.api.hot_routes import HotRoutes
from relevo.api.http import json_response
from relevo.api.openapi import DOCS_HTML, openapi_document
from relevo.api.problems import EXCEPTION_HANDLERS
from relevo.bootstrap import Relevo
from relevo.monitoring import LatencyMiddleware, limit_sqlite_heap, metrics_endpoint

SWITCH_INTERVAL_S = 0.0005
FULL_COLLECTION_EVERY = 100  # collections of the middle generation (Python's default: 10)


class RelevoApp(Starlette):
    """The Starlette app and the engine it serves, which endpoints reach through ``engine``:
    an attribute of the app, where ``app.state`` took 0.6-1.1 µs a lookup (a miss, then
    ``State.__getattr__``) and a decision looks three times."""

    def __init__(self, relevo: Relevo, **options: Any) -> None:
        super().__init__(**options)
        self.relevo = relevo


def create_app(relevo: Relevo) -> HotRoutes:
    limit_sqlite_heap(relevo.settings.sqlite_heap_limit_mb)
    document = openapi_document(__version__, relevo.settings.max_batch_events)

    async def openapi(request: Request) -> Response:
        return json_response(document)

    async def docs(request: Request) -> Response:
        return HTMLResponse(DOCS_HTML)

    app = RelevoApp(
        relevo,
        routes=[
            # Served by HotRoutes; here for the rest (405 to other methods, the same app).
            Route("/v1/recommend", recommend.post_recommend, methods=["POST"]),
            Route("/v1/rank", recommend.post_rank, methods=["POST"]),
            Route("/v1/events", events.post_events, methods=["POST"]),
            Route("/v1/items", items.post_items, methods=["POST"]),
            Route("/v1/items", items.list_items, methods=["GET"]),
            Route("/v1/items/{item_id}", items.put_item, methods=["PUT"]),
            Route("/v1/items/{item_id}", items.get_item, methods=["GET"]),
            Route("/v1/items/{item_id}", items.delete_item, methods=["DELETE"]),
            Route("/v1/people/{user_id}", people.put_person, methods=["PUT"]),
            Route("/v1/people/{user_id}", people.get_person, methods=["GET"]),
            Route("/v1/items/{item_id}/similar", recommend.get_similar, methods=["GET"]),
            Route("/v1/schemas", schemas.post_schema, methods=["POST"]),
            Route("/v1/schemas", schemas.list_schemas, methods=["GET"]),
            Route("/v1/schemas/{type}/{version}", schemas.get_schema, methods=["GET"]),
            Route("/v1/quarantine", operations.list_quarantine, methods=["GET"]),
            Route("/v1/decisions/{decision_id}", decisions.get_decision, methods=["GET"]),
            Route("/healthz", operations.healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/readyz", operations.readyz, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
            Route("/docs", docs, methods=["GET"]),
        ],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        middleware=[Middleware(LatencyMiddleware)],
    )
    return HotRoutes(
        app,
        {
            ("POST", "/v1/recommend"): recommend.post_recommend,
            ("POST", "/v1/rank"): recommend.post_rank,
            ("POST", "/v1/events"): events.post_events,
        },
    )


def from_environment() -> HotRoutes:
    """The app over the engine configured by the environment (uvicorn's factory)."""
    from relevo.bootstrap import build

    # The event loop shares the GIL with background threads (trace writer, precompute,
    # reloads). At Python's default 5 ms switch interval one of them could keep a request
    # waiting 5 ms at each hand-over, which was most of the p99 at 1,000 req/s.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    # A full garbage collection stops every answer while it scans what the caches hold (20-30
    # ms when a fresh server first meets thousands of people). The refresher freezes what
    # survived every 5 s, so full collections have little to do and can be 10x rarer.
    gc.set_threshold(*gc.get_threshold()[:2], FULL_COLLECTION_EVERY)
    return create_app(build())
