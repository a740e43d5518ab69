"""Health, readiness and the quarantine listing."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from relevo.api.http import authorize, engine, json_response, query_int
from relevo.api.problems import Problem
from relevo.domain.tenants import Scope
from relevo.domain.violations import Violation


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        engine(request).tenancy.ping()
    except Exception as error:
        raise Problem(503, f"Storage is not reachable: {error}") from None
    return json_response({"status": "ready"})


async def list_quarantine(request: Request) -> Response:
    _, tenant = authorize(request, Scope.ADMIN)
    region = request.query_params.get("region", tenant.default_region)
    if region not in tenant.regions:
        rule = f"must be one of the tenant's regions {list(tenant.regions)}"
        raise Problem(
            422, f"Query parameter 'region' {rule}.", [Violation("/query/region", "enum", rule)]
        )
    after = query_int(request, "after", 0, 0, 2**62)
    limit = query_int(request, "limit", 100, 1, 1000)
    records = engine(request).ingest.quarantined(tenant, region, after, limit)
    return json_response({"records": records})
