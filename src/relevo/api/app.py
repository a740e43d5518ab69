"""The Starlette application over the route table, its problem handlers, and the engine it
serves (and closes)."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from relevo import __version__
from relevo.api.hot_routes import HotRoutes
from relevo.api.metrics import LatencyMiddleware
from relevo.api.openapi import openapi_document
from relevo.api.operation_table import OPERATIONS
from relevo.api.problems import EXCEPTION_HANDLERS
from relevo.bootstrap import Relevo
from relevo.config import placement_strategies
from relevo.decide.pools import IO_THREADS, started_pool
from relevo.decide.warmup import WarmUp
from relevo.monitoring import limit_sqlite_heap

SWITCH_INTERVAL_S = 0.0005
FULL_COLLECTION_EVERY = 100  # collections of the middle generation (Python's default: 10)


class RelevoApp(Starlette):
    """The Starlette app and the engine it serves, which endpoints reach through ``engine``:
    an attribute of the app, where ``app.state`` costs a failed lookup and then
    ``State.__getattr__`` each time, and a decision looks three times. The app owns the
    engine: its lifespan closes it when the server stops."""

    def __init__(self, relevo: Relevo, openapi_document: dict[str, Any], **options: Any) -> None:
        self.warm_up = WarmUp(relevo.warm_up)
        """Started with the server; readiness and the first decisions wait for it."""
        self.openapi_document = openapi_document
        """What ``GET /openapi.json`` answers."""
        super().__init__(lifespan=_lifespan, **options)
        self.relevo = relevo


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    """Warm the decision path in a thread as the server starts: the server answers (``/healthz``
    at once, ``/readyz`` with 503 until warm) while the models load. When it stops (SIGTERM
    or SIGINT to ``relevo serve``, once the requests in flight are answered), close the
    engine: the decision log writes the traces still queued, which a bare exit would lose."""
    assert isinstance(app, RelevoApp)
    # Blocking calls (``asyncio.to_thread``) run on a pool started whole (``pools``).
    asyncio.get_running_loop().set_default_executor(started_pool(IO_THREADS, "relevo-io"))
    app.warm_up.start()
    try:
        yield
    finally:
        app.warm_up.stop()
        await asyncio.to_thread(app.relevo.close)  # flushing the traces may wait on the disk


def create_app(relevo: Relevo) -> HotRoutes:
    """The app serving ``relevo`` (and closing it on shutdown), routed by ``OPERATIONS``: the
    hot operations directly, the others through Starlette."""
    limit_sqlite_heap(relevo.settings.sqlite_heap_limit_mb)
    settings = relevo.settings
    document = openapi_document(
        __version__,
        settings.max_batch_events,
        list(placement_strategies(settings)),
        datetime.now(UTC).year,
    )
    app = RelevoApp(
        relevo,
        document,
        # The hot operations too: HotRoutes passes on their other methods (405, with Allow).
        routes=routes_by_path([(op.method, op.path, op.endpoint) for op in OPERATIONS]),
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        middleware=[Middleware(LatencyMiddleware)],
    )
    hot = {(op.method, op.path): op.endpoint for op in OPERATIONS if op.hot}
    return HotRoutes(app, hot)  # type: ignore[arg-type]


Endpoint = Callable[[Request], Awaitable[Response]]


class WholeId(Convertor[str]):
    """An id in a path, taken whole: ids may hold "/" (sent as %2F, which the server decodes)
    and any other character, newlines included, which ``:path`` (``.*``) would not match."""

    def __init__(self, regex: str) -> None:
        self.regex = regex

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("id", WholeId(r"[\s\S]+"))
# An item id ending in "/similar" names that sub-resource, so that PUT /v1/items/x/similar is
# a 405 (Allow: GET), not an item called "x/similar".
register_url_convertor("item", WholeId(r"[\s\S]+(?<!/similar)"))


def routes_by_path(table: Sequence[tuple[str, str, Endpoint]]) -> list[Route]:
    """One route per path, each method to its own endpoint, so that a 405 lists every method
    the path has in ``Allow``: Starlette lists only those of the first route whose path matched.
    """
    by_path: dict[str, dict[str, Endpoint]] = {}
    for method, path, endpoint in table:
        by_path.setdefault(path, {})[method] = endpoint
    return [Route(path, _dispatch(ends), methods=list(ends)) for path, ends in by_path.items()]


def _dispatch(endpoints: dict[str, Endpoint]) -> Endpoint:
    """The endpoint of a path's only method, or one that picks by method (HEAD as GET)."""
    if len(endpoints) == 1:
        return next(iter(endpoints.values()))

    async def by_method(request: Request) -> Response:
        return await endpoints["GET" if request.method == "HEAD" else request.method](request)

    return by_method


def from_environment() -> HotRoutes:
    """The app over the engine configured by the environment (uvicorn's factory)."""
    from relevo.bootstrap import build

    # The event loop shares the GIL with background threads (trace writer, precompute,
    # reloads). At Python's default switch interval one of them could keep a request waiting
    # a whole interval at each hand-over, which showed in the tail latency (docs/performance.md).
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    # A full garbage collection stops every answer while it scans what the caches hold, which
    # is long when a fresh server first meets thousands of people. The refresher freezes what
    # survived its last sweep, so full collections have little to do and can be rarer.
    gc.set_threshold(*gc.get_threshold()[:2], FULL_COLLECTION_EVERY)
    return create_app(build())
