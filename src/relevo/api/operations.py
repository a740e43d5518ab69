"""Health, readiness and the quarantine listing."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from relevo.api.http import authorize, engine, json_response, query_int
from relevo.api.problems import Problem, problem_response
from relevo.domain.tenants import Scope
from relevo.domain.violations import Violation

READY_RETRY_S = 1
"""What a 503 from ``/readyz`` asks a balancer to wait before asking again."""


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready when the decision path is warm (the first decisions will not wait for a load) and
    every store takes a write; else 503, naming each store that cannot and why."""
    warm_up = request.app.warm_up
    if not warm_up.ready:
        reason = warm_up.failure or "loading the promoted models and catalogs"
        return not_ready("Warming up", [("decisions", "warming_up", reason)])
    faults = await asyncio.to_thread(engine(request).storage.unwritable)
    if faults:
        return not_ready(
            "Storage cannot take writes", [(f.store, f.rule, f.detail) for f in faults]
        )
    return json_response({"status": "ready"})


def not_ready(title: str, checks: list[tuple[str, str, str]]) -> Response:
    """A 503 problem listing the failed checks, with when to ask again."""
    detail = "; ".join(f"{store}: {detail}" for store, _, detail in checks)
    problem = Problem(
        503,
        detail,
        title=title,
        checks=[{"check": store, "rule": rule, "detail": d} for store, rule, d in checks],
    )
    return problem_response(problem, "/readyz", {"Retry-After": str(READY_RETRY_S)})


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
