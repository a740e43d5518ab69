"""Catalog endpoints: ``/v1/items`` and ``/v1/items/{item_id}``."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from relevo.api.batches import take_batch
from relevo.api.http import authorize, engine, json_response, parse_json, query_int, read_body
from relevo.api.problems import Problem
from relevo.domain.tenants import Scope


async def put_item(request: Request) -> Response:
    _, tenant = authorize(request, Scope.ADMIN)
    body = parse_json(await read_body(request))
    if not isinstance(body, dict):
        raise Problem(422, "The body must be a JSON object (an item).")
    item = await asyncio.to_thread(
        engine(request).catalog.put, tenant, request.path_params["item_id"], body
    )
    return json_response(item)


async def post_items(request: Request) -> Response:
    _, tenant = authorize(request, Scope.ADMIN)
    catalog = engine(request).catalog
    return await take_batch(request, lambda records: catalog.upsert(tenant, records))


async def get_item(request: Request) -> Response:
    _, tenant = authorize(request, Scope.SERVE)
    item = engine(request).catalog.get(tenant, request.path_params["item_id"])
    if item is None:
        raise Problem(404, "No item with this id.")
    return json_response(item)


async def delete_item(request: Request) -> Response:
    _, tenant = authorize(request, Scope.ADMIN)
    if not engine(request).catalog.delete(tenant, request.path_params["item_id"]):
        raise Problem(404, "No item with this id.")
    return Response(status_code=204)


async def list_items(request: Request) -> Response:
    _, tenant = authorize(request, Scope.SERVE)
    limit = query_int(request, "limit", 100, 1, 1000)
    items = engine(request).catalog.page(tenant, request.query_params.get("after"), limit)
    after = items[-1].item_id if len(items) == limit else None
    return json_response({"items": items, "next_after": after})
