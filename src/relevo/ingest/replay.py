"""Rebuilding derived state from the log, and giving quarantined events a second chance.

Both go through the code the live path uses (``derive`` and ``IngestService.ingest``), so a
rebuilt state equals the live one and a replayed event is judged by today's rules and schemas.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import groupby

import msgspec

from relevo.domain.derived import derive
from relevo.domain.events import IngestMode
from relevo.domain.tenants import Tenant
from relevo.ingest.pipeline import UNREPLAYABLE, IngestService, item_facets
from relevo.ports import Storage, iterate_log


class ReplayReport(msgspec.Struct):
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0


def rebuild_derived_state(
    storage: Storage, tenant: Tenant, recent_limit: int, weights: Mapping[str, float]
) -> dict[str, int]:
    """Drop and rebuild every region's derived state from its log; events replayed per region.

    ``weights`` are the tenant's interaction weights, as the live path folds with them; the
    catalog is read as it is now (see ``derive``). One write transaction per region: live
    ingest into that region waits, so the rebuilt state never misses an event appended meanwhile.
    """
    replayed: dict[str, int] = {}
    for region in tenant.regions:
        partition = storage.partition(tenant.tenant_id, region)
        count = 0
        with partition.transaction() as writer:
            writer.clear_derived()
            for batch in iterate_log(partition):
                events = [logged.event for logged in batch]
                facets = item_facets(storage, tenant.tenant_id, events, weights)
                writer.apply(derive(events, recent_limit, weights, facets), recent_limit)
                count += len(batch)
        replayed[region] = count
    return replayed


def replay_quarantine(storage: Storage, ingest: IngestService, tenant: Tenant) -> ReplayReport:
    """Send every quarantined event through the pipeline again, as of its original arrival.

    An event now accepted (or found to be a duplicate) leaves the quarantine; one still refused
    stays, and a copy with today's reasons replaces it. Replaying twice is harmless: dedupe.
    """
    report = ReplayReport()
    for region in tenant.regions:
        partition = storage.partition(tenant.tenant_id, region)
        pending = []  # read all first: refused events are re-quarantined with new ids
        after = 0
        while page := partition.quarantined(after, 1_000):
            after = page[-1].quarantine_id
            for record in page:
                if isinstance(record.payload, dict) and UNREPLAYABLE in record.payload:
                    report.rejected += 1  # nothing to replay: only a fingerprint was kept
                else:
                    pending.append(record)
        for (received_at, source, mode), group in groupby(
            pending, key=lambda r: (r.received_at, r.source, r.mode)
        ):
            group = list(group)
            results = ingest.ingest(
                tenant,
                [r.payload for r in group],
                source=source,
                mode=IngestMode(mode),
                received_at=received_at,
                pseudonymous=True,
            )
            for result in results:
                if result.status == "accepted":
                    report.accepted += 1
                elif result.status == "duplicate":
                    report.duplicate += 1
                else:
                    report.rejected += 1
            with partition.transaction() as writer:
                writer.release([r.quarantine_id for r in group])
    return report
