"""``POST /v1/events``: the ingest hot path. Kept to: authorize, split the body, ingest."""

from __future__ import annotations

from starlette.responses import Response

from relevo.api.batches import take_batch
from relevo.api.http import Incoming, authorize, engine
from relevo.domain.tenants import Scope


async def post_events(request: Incoming) -> Response:
    _, tenant = authorize(request, Scope.INGEST)
    ingest = engine(request).ingest
    return await take_batch(request, lambda records: ingest.ingest(tenant, records))
