"""People's attributes: ``/v1/people/{user_id}``.

Both routes need the ``serve`` scope: attributes are personal data, set and read by the
application's servers. An ``ingest`` key is shipped to browsers, where anyone can copy it, so it
may neither read nor overwrite them.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from relevo.api.http import authorize, engine, json_response, parse_json, read_body
from relevo.api.problems import Problem
from relevo.domain.tenants import Scope


async def put_person(request: Request) -> Response:
    _, tenant = authorize(request, Scope.SERVE)
    body = parse_json(await read_body(request))
    attributes = await asyncio.to_thread(
        engine(request).people.put, tenant, request.path_params["user_id"], body
    )
    return json_response(attributes)


async def get_person(request: Request) -> Response:
    _, tenant = authorize(request, Scope.SERVE)
    attributes = await asyncio.to_thread(
        engine(request).people.get, tenant, request.path_params["user_id"]
    )
    if attributes is None:
        raise Problem(404, "No attributes were set for this person.")
    return json_response(attributes)
