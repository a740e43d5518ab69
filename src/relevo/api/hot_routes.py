"""The routes a page waits on (``POST /v1/recommend``, ``/v1/rank``, ``/v1/events``: the
operations marked ``hot`` in ``operation_table``), called by the server without Starlette's
middleware and router.

Under load, a reused decision spent as much of the event loop's time in that stack (error
and exception middleware, the router, the endpoint wrapper) as in the decision itself. These
routes run the same endpoint functions and the same problem handlers, and time themselves
into the same latency series, so a caller sees no difference; every other request goes
through the Starlette app as before.

The endpoints get a ``HotRequest``, not a Starlette ``Request``: only a failed request, whose
problem handler reads the URL and method, makes one: making a ``Request`` per answer showed
in recommend's throughput under load (docs/performance.md).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response

from relevo.api.metrics import Receive, Scope, Send
from relevo.api.problems import EXCEPTION_HANDLERS
from relevo.monitoring import REQUEST_SECONDS

App = Callable[[Scope, Receive, Send], Awaitable[None]]


class HotRequest:
    """What the hot endpoints read of a request (``http.Incoming``): its scope, its receive
    channel, and the Starlette app (the engine's holder)."""

    __slots__ = ("app", "receive", "scope")

    def __init__(self, scope: Scope, receive: Receive, app: App) -> None:
        self.scope = scope
        self.receive = receive
        self.app = app


Endpoint = Callable[[HotRequest], Awaitable[Response]]


class HotRoutes:
    """An ASGI app: ``routes`` by (method, path) called directly, anything else to ``app``."""

    def __init__(self, app: App, routes: Mapping[tuple[str, str], Endpoint]) -> None:
        self.app = app
        # Each route with its latency series (labels: path, method), looked up once.
        self._routes = {
            (method, path): (endpoint, REQUEST_SECONDS.labels(path, method))
            for (method, path), endpoint in routes.items()
        }

    @property
    def served(self) -> frozenset[tuple[str, str]]:
        """The (method, path) pairs answered here, past the router (the table's hot ones)."""
        return frozenset(self._routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = None
        if scope["type"] == "http":
            route = self._routes.get((scope["method"], scope["path"]))
        if route is None:
            await self.app(scope, receive, send)
            return
        endpoint, latency = route
        started = time.perf_counter()
        try:
            response = await endpoint(HotRequest(scope, receive, self.app))
        except Exception as error:
            scope["app"] = self.app  # what ``request.app`` gives a handler, as under Starlette
            response = await _handler(error)(Request(scope, receive), error)
        await response(scope, receive, send)
        latency.observe(time.perf_counter() - started)


def _handler(error: Exception) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The problem handler the Starlette app would use for ``error``: that of its nearest
    class (``Exception`` has one, so there always is one)."""
    return next(EXCEPTION_HANDLERS[k] for k in type(error).__mro__ if k in EXCEPTION_HANDLERS)
