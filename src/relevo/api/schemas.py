"""Custom event types: ``/v1/schemas``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from relevo.api.http import authorize, engine, json_response, parse_json, read_body
from relevo.api.problems import Problem
from relevo.domain.tenants import Scope


async def post_schema(request: Request) -> Response:
    _, tenant = authorize(request, Scope.ADMIN)
    body = parse_json(await read_body(request))
    schema, created = engine(request).schemas.register(tenant.tenant_id, body)
    return json_response(schema, 201 if created else 200)


async def list_schemas(request: Request) -> Response:
    _, tenant = authorize(request, Scope.ADMIN)
    return json_response({"schemas": engine(request).schemas.list(tenant.tenant_id)})


async def get_schema(request: Request) -> Response:
    _, tenant = authorize(request, Scope.ADMIN)
    params = request.path_params
    schema = engine(request).schemas.get(tenant.tenant_id, params["type"], params["version"])
    if schema is None:
        raise Problem(404, "No schema with this type and version.")
    return json_response(schema)
