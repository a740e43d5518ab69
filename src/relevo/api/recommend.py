"""``POST /v1/recommend``, ``POST /v1/rank`` and ``GET /v1/items/{id}/similar``: the decision
hot path. Kept to: authorize, decode, decide (on the event loop; a model run alone goes to a
thread), encode."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from relevo.api.http import (
    Incoming,
    authorize,
    engine,
    json_response,
    malformed_body,
    query_int,
    read_body,
)
from relevo.api.problems import Problem
from relevo.decoding import MALFORMED_RULES, InvalidInput, decode
from relevo.domain.decisions import DecisionRequest
from relevo.domain.tenants import Scope
from relevo.domain.violations import Violation


async def _decide(request: Incoming, ranking: bool) -> Response:
    _, tenant = authorize(request, Scope.SERVE)
    body = await read_body(request)
    asked, problems = decode(body, DecisionRequest)
    if asked is not None and ranking and asked.candidates is None:
        problems = [Violation("/candidates", "required", "is required: the items to rank")]
    if asked is not None and not ranking and asked.candidates is not None:
        problems = [Violation("/candidates", "rank_only", "belongs to POST /v1/rank")]
    if asked is None or problems:
        if problems[0].rule in MALFORMED_RULES:
            raise malformed_body(problems)
        raise Problem(422, "The request breaks the decision contract.", problems)
    await request.app.warm_up.settled()  # the models load in a thread, not on the loop
    decision = await engine(request).decisions.decide_async(tenant, asked)
    return json_response(decision)


async def post_recommend(request: Incoming) -> Response:
    return await _decide(request, ranking=False)


async def post_rank(request: Incoming) -> Response:
    return await _decide(request, ranking=True)


async def get_similar(request: Request) -> Response:
    _, tenant = authorize(request, Scope.SERVE)
    k = query_int(request, "k", 10, 1, 100)
    await request.app.warm_up.settled()
    try:
        found = await asyncio.to_thread(
            engine(request).decisions.similar, tenant, request.path_params["item_id"], k
        )
    except InvalidInput as error:
        raise Problem(404, error.violations[0].detail, error.violations) from None
    return json_response(found)
