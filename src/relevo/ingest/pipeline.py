"""The ingest pipeline: validate -> pseudonymize -> route to a region -> dedupe and append ->
update derived state -> acknowledge. Refused events go to quarantine in the same transaction,
so nothing sent is ever silently dropped, and an acknowledgement means "durable".

HTTP, bulk import and quarantine replay all come through ``IngestService.ingest``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from relevo.decoding import InvalidInput, decode, parse
from relevo.domain.derived import Facets, derive
from relevo.domain.events import (
    DEFAULT_WEIGHTS,
    Event,
    IngestMode,
    TimePolicy,
    check_event,
)
from relevo.domain.pseudonyms import Pseudonymizer, pseudonymized
from relevo.domain.tenants import Tenant
from relevo.domain.violations import Violation
from relevo.ingest.event_types import SchemaService
from relevo.monitoring import CACHE_SIZES, EVENT_LAG_SECONDS
from relevo.ports import NewQuarantineRecord, QuarantineRecord, Storage

Status = Literal["accepted", "duplicate", "rejected"]
UNREPLAYABLE = "unreplayable"
"""Key of a quarantined payload that was not a JSON object: only its fingerprint is kept, so it
can never be replayed; the sender must send it again."""
REMEMBERED_HOMES = 200_000  # people whose home region is remembered (RELEVO_CACHE_ID_ENTRIES)


class EventResult(msgspec.Struct, frozen=True, omit_defaults=True):
    index: int
    event_id: str | None
    status: Status
    reasons: list[Violation] = []


@dataclass(frozen=True, slots=True)
class IngestLimits:
    max_event_bytes: int = 64 * 1024
    recent_items_limit: int = 50


@dataclass(slots=True)
class _Refused:
    index: int
    event_id: str | None
    payload: Any
    reasons: list[Violation]


class IngestService:
    def __init__(
        self,
        storage: Storage,
        schemas: SchemaService,
        pseudonymizer_for: Callable[[str], Pseudonymizer],
        time_policy: TimePolicy = TimePolicy(),
        limits: IngestLimits = IngestLimits(),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        weights_for: Callable[[str], Mapping[str, float]] = lambda _: DEFAULT_WEIGHTS,
        remembered_homes: int = REMEMBERED_HOMES,
    ) -> None:
        """``weights_for`` gives a tenant's interaction weights, which online affinities and
        item popularity fold with; ``rebuild_derived_state`` must be given the same."""
        self._storage = storage
        self._schemas = schemas
        self._pseudonymizer_for = pseudonymizer_for
        self._policy = time_policy
        self._limits = limits
        self._clock = clock
        self._weights_for = weights_for
        # Each person's home region (it never moves): at most ``remembered_homes``, forgotten
        # all at once when full.
        self._homes: dict[tuple[str, str], str] = {}
        self._remembered = remembered_homes
        CACHE_SIZES.track("ingest_homes", self, lambda s: len(s._homes), remembered_homes)

    def ingest(
        self,
        tenant: Tenant,
        payloads: Sequence[Any],
        source: str = "http",
        mode: IngestMode = IngestMode.LIVE,
        received_at: datetime | None = None,
        pseudonymous: bool = False,
    ) -> list[EventResult]:
        """Take a batch of raw events (JSON bytes or builtin objects); a result for each.

        ``pseudonymous`` says the person ids are already pseudonyms (quarantine replay).
        """
        started = time.perf_counter()
        received_at = received_at or self._clock()
        pseudonymize = self._pseudonymizer_for(tenant.tenant_id)
        custom = self._schemas.registered(tenant.tenant_id)
        policy, regions, limit = self._policy, tenant.regions, self._limits.max_event_bytes
        accepted: list[tuple[int, Event]] = []
        refused: list[_Refused] = []
        for index, payload in enumerate(payloads):
            size = len(payload) if isinstance(payload, msgspec.Raw) else _encoded_size(payload)
            if size > limit:
                event = None
                reasons = [Violation("", "max_size", f"an event may be at most {limit} bytes")]
            else:
                event, reasons = decode(payload, Event)
            if event is not None:
                reasons = check_event(event, received_at, regions, policy, mode, custom)
                if not reasons and event.type in custom:
                    reasons = self._schemas.check_properties(
                        tenant.tenant_id, event, custom[event.type]
                    )
                if not reasons:
                    if not pseudonymous:
                        _pseudonymize_event(event, pseudonymize)
                    accepted.append((index, event))
                    continue
                kept = _storable(msgspec.to_builtins(event), pseudonymize, pseudonymous)
                refused.append(_Refused(index, event.event_id, kept, reasons))
            else:
                stored = _storable(payload, pseudonymize, pseudonymous)
                event_id = stored.get("event_id")
                event_id = event_id if isinstance(event_id, str) else None
                refused.append(_Refused(index, event_id, stored, reasons))
        results = self._commit(tenant, accepted, refused, source, mode, received_at)
        if mode is IngestMode.LIVE:
            EVENT_LAG_SECONDS.observe(time.perf_counter() - started)
        return results

    def logged_events(self, tenant: Tenant) -> int:
        """How many events the tenant's logs hold, over all regions."""
        return sum(
            self._storage.partition(tenant.tenant_id, r).count_events() for r in tenant.regions
        )

    def quarantined(
        self, tenant: Tenant, region: str, after: int, limit: int
    ) -> list[QuarantineRecord]:
        """Refused events of one region, oldest first, from quarantine id ``after`` on."""
        return self._storage.partition(tenant.tenant_id, region).quarantined(after, limit)

    def _commit(
        self,
        tenant: Tenant,
        accepted: list[tuple[int, Event]],
        refused: list[_Refused],
        source: str,
        mode: IngestMode,
        received_at: datetime,
    ) -> list[EventResult]:
        regions = self._route(tenant, [event for _, event in accepted])
        by_region: dict[str, tuple[list[tuple[int, Event]], list[_Refused]]] = {}
        for (index, event), region in zip(accepted, regions, strict=True):
            by_region.setdefault(region, ([], []))[0].append((index, event))
        for record, region in zip(refused, self._quarantine_regions(tenant, refused), strict=True):
            by_region.setdefault(region, ([], []))[1].append(record)
        results: list[EventResult | None] = [None] * (len(accepted) + len(refused))
        # Outcomes (events naming a decision) are rare: one pass finds whether to join any.
        joins = any(event.decision_id is not None for _, event in accepted)
        weights = self._weights_for(tenant.tenant_id)
        facets = item_facets(self._storage, tenant.tenant_id, (e for _, e in accepted), weights)
        for region, (events, rejects) in by_region.items():
            partition = self._storage.partition(tenant.tenant_id, region)
            with partition.transaction() as writer:
                fresh = writer.append([event for _, event in events], received_at)
                if joins:
                    writer.join_outcomes(
                        [
                            e
                            for (_, e), new in zip(events, fresh, strict=True)
                            if new and e.decision_id is not None
                        ]
                    )
                writer.apply(
                    derive(
                        (e for (_, e), new in zip(events, fresh, strict=True) if new),
                        self._limits.recent_items_limit,
                        weights,
                        facets,
                    ),
                    self._limits.recent_items_limit,
                )
                writer.quarantine(
                    [
                        NewQuarantineRecord(source, mode.value, r.payload, r.reasons)
                        for r in rejects
                    ],
                    received_at,
                )
            for (index, event), new in zip(events, fresh, strict=True):
                results[index] = EventResult(
                    index, event.event_id, "accepted" if new else "duplicate"
                )
            for r in rejects:
                results[r.index] = EventResult(r.index, r.event_id, "rejected", r.reasons)
        return results  # type: ignore[return-value]

    def _homes_of(self, tenant: Tenant, first_regions: dict[str, str | None]) -> dict[str, str]:
        """The home region of each person, claiming one for people seen for the first time.

        A person's home is the region of their first event (the tenant's default region if that
        event named none) and never moves: all of a person's data lives in that one region's
        file, whatever region a later event names, and a re-sent event lands where it did before.
        """
        tenant_id, homes = tenant.tenant_id, self._homes
        unknown = [p for p in first_regions if (tenant_id, p) not in homes]
        if unknown:
            if len(homes) + len(unknown) > self._remembered:
                homes.clear()
            people = self._storage.people(tenant_id)
            found = people.home_regions(unknown)
            new = {p: first_regions[p] or tenant.default_region for p in unknown if p not in found}
            if new:
                found.update(people.claim_home_regions(new))
            homes.update(((tenant_id, person), region) for person, region in found.items())
        return {p: homes[(tenant_id, p)] for p in first_regions}

    def _route(self, tenant: Tenant, events: list[Event]) -> list[str]:
        firsts: dict[str, str | None] = {}
        for event in events:  # a person's first event in the batch names their home
            firsts.setdefault(event.person_key, event.region)
        homes = self._homes_of(tenant, firsts)
        return [homes[event.person_key] for event in events]

    def _quarantine_regions(self, tenant: Tenant, refused: list[_Refused]) -> list[str]:
        """Keep a refused event in its person's home region, else its region, else the default.

        Only a person who is already known, or a valid region, decides: a refused event never
        claims a home.
        """
        persons: list[str | None] = []
        for record in refused:
            payload = record.payload
            person = None
            if isinstance(payload.get("user_id"), str):
                person = "u:" + payload["user_id"]
            elif isinstance(payload.get("anonymous_id"), str):
                person = "a:" + payload["anonymous_id"]
            persons.append(person)
        known = [p for p in persons if p is not None]
        homes = self._storage.people(tenant.tenant_id).home_regions(known) if known else {}
        regions = []
        for record, person in zip(refused, persons, strict=True):
            context = record.payload.get("context")
            region = context.get("region") if isinstance(context, dict) else None
            if person in homes:
                regions.append(homes[person])
            elif region in tenant.regions:
                regions.append(region)
            else:
                regions.append(tenant.default_region)
        return regions


def item_facets(
    storage: Storage, tenant_id: str, events: Iterable[Event], weights: Mapping[str, float]
) -> Facets:
    """The catalog facets ``derive`` needs for these events: one catalog read per batch, and
    none for a batch whose events add no affinity (no item, or a type of weight 0)."""
    wanted = {e.item_id for e in events if e.item_id is not None and weights.get(e.type)}
    return storage.catalog(tenant_id).facets(sorted(wanted)) if wanted else {}


def _pseudonymize_event(event: Event, pseudonymize: Pseudonymizer) -> None:
    """Replace the person ids of a freshly decoded event by their pseudonyms, in place."""
    if event.user_id is not None:
        event.user_id = pseudonymize("user_id", event.user_id)
    if event.anonymous_id is not None:
        event.anonymous_id = pseudonymize("anonymous_id", event.anonymous_id)
    if event.session_id is not None:
        event.session_id = pseudonymize("session_id", event.session_id)


def _encoded_size(payload: Any) -> int:
    try:
        return len(msgspec.json.encode(payload))
    except (TypeError, ValueError):  # not JSON-encodable: decoding will say why
        return 0


def _storable(payload: Any, pseudonymize: Pseudonymizer, pseudonymous: bool) -> dict[str, Any]:
    """A refused payload as it may be kept, every person id in it replaced by its pseudonym
    (``pseudonyms.pseudonymized``, which also finds ids under misspelt field names).

    Text that is not JSON, or JSON that is not an object, cannot be searched for person ids:
    only its fingerprint and length are kept, and it is never replayed.
    """
    if isinstance(payload, (bytes, msgspec.Raw)):
        try:
            payload = parse(payload)
        except InvalidInput:
            text = bytes(payload).decode("utf-8", "replace")
            return {UNREPLAYABLE: pseudonymize("payload", text), "length": len(text)}
    if not isinstance(payload, dict):
        text = msgspec.json.encode(payload).decode() if _encoded_size(payload) else repr(payload)
        return {UNREPLAYABLE: pseudonymize("payload", text), "length": len(text)}
    return payload if pseudonymous else pseudonymized(payload, pseudonymize)
