"""``POST /v1/events``: the ingest hot path. Kept to: authorize, split the body, ingest."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from relevo.api.batches import batch_response, split_records
from relevo.api.http import Incoming, authorize, engine, read_body
from relevo.domain.tenants import Scope


async def post_events(request: Incoming) -> Response:
    _, tenant = authorize(request, Scope.INGEST)
    relevo = engine(request)
    records, single = split_records(await read_body(request), relevo.settings.max_batch_events)
    results = await run_in_threadpool(relevo.ingest.ingest, tenant, records)
    return batch_response(results, single, request.scope["path"])
