"""RFC 9457 problem details: every error the API returns, in one shape.

``errors`` lists each bad field as ``{"pointer", "field", "rule", "detail"}``; a pointer into a
batch starts with the record's index (``/3/user_id``).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from typing import Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

from relevo.decoding import InvalidInput
from relevo.domain.violations import Violation
from relevo.ports import StorageUnavailable

log = logging.getLogger("relevo.api")

PROBLEM_JSON = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid input",
    500: "Internal error",
    503: "Service unavailable",
}


class Problem(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        violations: list[Violation] | None = None,
        title: str | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.violations = violations or []
        self.title = title or _TITLES.get(status, "Error")
        self.extensions = extensions


def violation_entry(violation: Violation) -> dict[str, str]:
    return {
        "pointer": violation.pointer,
        "field": violation.field,
        "rule": violation.rule,
        "detail": violation.detail,
    }


def problem_response(
    problem: Problem, instance: str = "", headers: Mapping[str, str] | None = None
) -> Response:
    body: dict[str, Any] = {
        "type": f"/problems/{problem.status}",
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": instance,
    }
    if problem.violations:
        body["errors"] = [violation_entry(v) for v in problem.violations]
    body.update(problem.extensions)
    headers = dict(headers or {})
    if problem.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return Response(msgspec.json.encode(body), problem.status, headers, PROBLEM_JSON)


async def handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(exc, request.url.path)


async def handle_invalid_input(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidInput)
    detail = "; ".join(f"{v.field or '(body)'}: {v.detail}" for v in exc.violations)
    return problem_response(Problem(422, detail, exc.violations, exc.title), request.url.path)


async def handle_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    problem = Problem(exc.status_code, str(exc.detail))
    return problem_response(problem, request.url.path, exc.headers)  # a 405 lists Allow


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    """A 500, logged by route and exception type with its stack: never the request's path nor
    the exception's message, either of which can hold a person's raw id."""
    log.error(
        "unexpected %s on %s %s\n%s",
        type(exc).__name__,
        request.method,
        route_of(request),
        "".join(traceback.format_tb(exc.__traceback__)),
    )
    problem = Problem(500, "The server failed to handle this request; it has been logged.")
    return problem_response(problem, request.url.path)


def route_of(request: Request) -> str:
    """The route template a request matched (``/v1/people/{user_id}``), which logs may hold."""
    for route in getattr(request.app, "routes", ()):
        matched, _ = route.matches(request.scope)
        if matched is not Match.NONE:
            return route.path
    return "(no route)"


async def handle_storage_unavailable(request: Request, exc: Exception) -> Response:
    """A storage fault is the server's, and passes once its cause is fixed: 503 with when to
    try again, never a 500 (a write may be sent again as it was: events are deduplicated on
    their ids, and the other writes are idempotent)."""
    assert isinstance(exc, StorageUnavailable)
    detail = f"Storage cannot serve this request now ({exc.rule}); retry after Retry-After."
    problem = Problem(503, detail, store=exc.store, rule=exc.rule)
    return problem_response(problem, request.url.path, {"Retry-After": str(exc.retry_after_s)})


EXCEPTION_HANDLERS = {
    StorageUnavailable: handle_storage_unavailable,
    Problem: handle_problem,
    InvalidInput: handle_invalid_input,
    HTTPException: handle_http,
    Exception: handle_unexpected,
}
