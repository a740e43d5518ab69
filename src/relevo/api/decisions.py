"""``GET /v1/decisions/{decision_id}``: an answer's full trace and the outcomes joined to it."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from relevo.api.http import authorize, engine, json_response
from relevo.api.problems import Problem
from relevo.domain.tenants import Scope


async def get_decision(request: Request) -> Response:
    _, tenant = authorize(request, Scope.SERVE)
    # Off the event loop: the read may wait while the trace writer holds the region's file.
    found = await asyncio.to_thread(
        engine(request).decision_log.get, tenant, request.path_params["decision_id"]
    )
    if found is None:
        raise Problem(
            404, "Decision not found (traces are written asynchronously, within a second)."
        )
    trace, outcomes = found
    return json_response({"trace": trace, "outcomes": outcomes})
