"""The ingest pipeline: validate -> pseudonymize -> route to a region -> dedupe and append ->
update derived state -> acknowledge. Refused events go to quarantine in the same transaction,
so nothing sent is ever silently dropped, and an acknowledgement means "durable".

HTTP, bulk import and quarantine replay all come through ``IngestService.ingest``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from relevo.decoding import decode
from relevo.domain.derived import derive
from relevo.domain.events import PERSON_FIELDS, Event, IngestMode, TimePolicy, check_event
from relevo.domain.pseudonyms import Pseudonymizer
from relevo.domain.tenants import Tenant
from relevo.domain.violations import Violation
from relevo.ingest.schemas import SchemaService
from relevo.ports import NewQuarantineRecord, QuarantineRecord, Storage

Status = Literal["accepted", "duplicate", "rejected"]
UNPARSED = "invalid_json"
"""Key of a quarantined payload that was not JSON: only its fingerprint is kept, so it can
never be replayed; the sender must send it again."""


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
    ) -> None:
        self._storage = storage
        self._schemas = schemas
        self._pseudonymizer_for = pseudonymizer_for
        self._policy = time_policy
        self._limits = limits
        self._clock = clock
        self._homes: dict[tuple[str, str], str] = {}

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
        received_at = received_at or self._clock()
        pseudonymize = self._pseudonymizer_for(tenant.tenant_id)
        custom = self._schemas.registered(tenant.tenant_id)
        accepted: list[tuple[int, Event]] = []
        refused: list[_Refused] = []
        for index, payload in enumerate(payloads):
            if isinstance(payload, msgspec.Raw) and len(payload) > self._limits.max_event_bytes:
                limit = self._limits.max_event_bytes
                event, reasons = (
                    None,
                    [Violation("", "max_size", f"an event may be at most {limit} bytes")],
                )
            else:
                event, reasons = decode(payload, Event)
            if event is not None:
                reasons = check_event(
                    event, received_at, tenant.regions, self._policy, mode, custom
                )
                if not reasons and event.type in custom:
                    reasons = self._schemas.check_properties(
                        tenant.tenant_id, event, custom[event.type]
                    )
            if not pseudonymous and event is not None:
                event = _pseudonymize_event(event, pseudonymize)
            if event is not None and not reasons:
                accepted.append((index, event))
                continue
            if event is not None:
                refused.append(_Refused(index, event.event_id, msgspec.to_builtins(event), reasons))
            else:
                payload = _storable(payload, pseudonymize, pseudonymous)
                event_id = payload.get("event_id") if isinstance(payload, dict) else None
                refused.append(
                    _Refused(
                        index, event_id if isinstance(event_id, str) else None, payload, reasons
                    )
                )
        return self._commit(tenant, accepted, refused, source, mode, received_at)

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
        for record in refused:
            by_region.setdefault(self._quarantine_region(tenant, record.payload), ([], []))[
                1
            ].append(record)
        results: list[EventResult | None] = [None] * (len(accepted) + len(refused))
        for region, (events, rejects) in by_region.items():
            partition = self._storage.partition(tenant.tenant_id, region)
            with partition.transaction() as writer:
                fresh = writer.append([event for _, event in events], received_at)
                writer.apply(
                    derive(
                        (e for (_, e), new in zip(events, fresh, strict=True) if new),
                        self._limits.recent_items_limit,
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

    def _route(self, tenant: Tenant, events: list[Event]) -> list[str]:
        """The region each event is stored in: its own ``context.region``, else its person's home.

        A person's home is the region of their first event (the tenant's default region if that
        event named none) and never moves, so a re-sent event always lands in the same file.
        """
        tenant_id = tenant.tenant_id
        unknown: dict[str, str] = {}
        for e in events:  # a person's first event in the batch decides their home
            if (tenant_id, e.person_key) not in self._homes:
                unknown.setdefault(e.person_key, e.region or tenant.default_region)
        if unknown:
            if len(self._homes) > 1_000_000:
                self._homes.clear()
            claimed = self._storage.people(tenant_id).claim_home_regions(unknown)
            self._homes.update(((tenant_id, person), region) for person, region in claimed.items())
        return [e.region or self._homes[(tenant_id, e.person_key)] for e in events]

    def _quarantine_region(self, tenant: Tenant, payload: Any) -> str:
        """Keep a refused event in its region if that is knowable, else the default region."""
        if isinstance(payload, dict):
            context = payload.get("context")
            region = context.get("region") if isinstance(context, dict) else None
            if region in tenant.regions:
                return region
            for field, prefix in (("user_id", "u:"), ("anonymous_id", "a:")):
                person = payload.get(field)
                if isinstance(person, str):
                    return self._homes.get(
                        (tenant.tenant_id, prefix + person), tenant.default_region
                    )
        return tenant.default_region


def _pseudonymize_event(event: Event, pseudonymize: Pseudonymizer) -> Event:
    user, anonymous, session = event.user_id, event.anonymous_id, event.session_id
    return msgspec.structs.replace(
        event,
        user_id=None if user is None else pseudonymize("user_id", user),
        anonymous_id=None if anonymous is None else pseudonymize("anonymous_id", anonymous),
        session_id=None if session is None else pseudonymize("session_id", session),
    )


def _storable(payload: Any, pseudonymize: Pseudonymizer, pseudonymous: bool) -> Any:
    """A refused payload as it may be kept. Text that is not JSON cannot be searched for person
    ids, so only its fingerprint and length are kept; the sender must send it again."""
    if isinstance(payload, (bytes, msgspec.Raw)):
        try:
            payload = msgspec.json.decode(payload)
        except msgspec.DecodeError:
            text = bytes(payload).decode("utf-8", "replace")
            return {UNPARSED: pseudonymize("payload", text), "length": len(text)}
    return payload if pseudonymous else _pseudonymize_payload(payload, pseudonymize)


def _pseudonymize_payload(payload: Any, pseudonymize: Pseudonymizer) -> Any:
    """A refused payload as it may be stored: person ids replaced by pseudonyms.

    A string id becomes its pseudonym (so a replay after a fix finds the same person); an id of
    the wrong type is replaced by ``{"redacted": pseudonym}``, which stays refused on replay.
    """
    if not isinstance(payload, dict):
        return {"redacted": pseudonymize("payload", msgspec.json.encode(payload).decode())}
    stored = dict(payload)
    for field in PERSON_FIELDS:
        value = stored.get(field)
        if isinstance(value, str):
            stored[field] = pseudonymize(field, value)
        elif value is not None:
            stored[field] = {"redacted": pseudonymize(field, msgspec.json.encode(value).decode())}
    return stored
