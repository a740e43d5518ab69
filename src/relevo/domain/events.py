"""The event contract: the envelope, the built-in types and the rules an event must keep.

Rules are pure functions of an event, the moment it is received and the tenant's policy, so the
live path, bulk import and quarantine replay all judge an event the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Annotated, Any

import msgspec

from relevo.domain.people import check_event_attributes
from relevo.domain.violations import Violation

EventId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
TypeName = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
SchemaVersionText = Annotated[str, msgspec.Meta(pattern=r"^\d{1,4}-\d{1,4}-\d{1,4}$")]


class Event(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Something a person did, at ``occurred_at``; the envelope of DESIGN.md.

    Not frozen for one reason: ingest swaps raw person ids for pseudonyms in place, once, before
    anything else sees the event (a copy per event costs more than the rest of validation).
    """

    event_id: EventId
    type: TypeName
    occurred_at: datetime
    user_id: Identifier | None = None
    anonymous_id: Identifier | None = None
    session_id: Identifier | None = None
    item_id: Identifier | None = None
    decision_id: Identifier | None = None
    value: float | None = None
    schema_version: SchemaVersionText | None = None
    context: dict[str, Any] = {}
    consent: dict[str, bool] = {}
    properties: dict[str, Any] = {}

    @property
    def person_key(self) -> str:
        """Who did it: the signed-in id if known, else the device's anonymous id."""
        if self.user_id is not None:
            return "u:" + self.user_id
        return "a:" + (self.anonymous_id or "")

    @property
    def region(self) -> str | None:
        region = self.context.get("region")
        return region if isinstance(region, str) else None


@dataclass(frozen=True, slots=True)
class TypeRule:
    """What a built-in event type needs beyond the envelope."""

    required: tuple[str, ...] = ()
    signed_in: bool = False
    required_properties: tuple[str, ...] = ()


BUILTIN_TYPES: Mapping[str, TypeRule] = {
    "view": TypeRule(required=("item_id",)),
    "click": TypeRule(required=("item_id",)),
    "add_to_cart": TypeRule(required=("item_id",)),
    "purchase": TypeRule(required=("item_id",)),
    "return": TypeRule(required=("item_id",)),
    "rate": TypeRule(required=("item_id", "value")),
    "search": TypeRule(required_properties=("query",)),
    "signup": TypeRule(signed_in=True),
    "login": TypeRule(signed_in=True),
    "impression": TypeRule(required=("decision_id",)),
    "dismiss": TypeRule(required=("item_id",)),
    "conversion": TypeRule(required=("decision_id",)),
}
"""Built-in types. ``return`` (a cancelled or returned purchase) is ours beyond DESIGN.md's
list: bulk imports of shop data need it, and it is negative feedback for the models."""


DEFAULT_WEIGHTS: Mapping[str, float] = {
    "view": 1.0,
    "click": 1.0,
    "rate": 1.0,
    "add_to_cart": 3.0,
    "purchase": 5.0,
    "conversion": 5.0,
    "dismiss": -2.0,
    "return": -5.0,
}
"""Weight of each event type; a type not listed (impression, search, signup...) is not an
interaction. Negative weights are negative feedback: they cancel the positive ones of the same
person and item, and a pair whose net weight is not positive is no interaction at all."""


class IngestMode(Enum):
    """LIVE events must be recent; a BACKFILL (bulk import of history) may be of any age."""

    LIVE = "live"
    BACKFILL = "backfill"


@dataclass(frozen=True, slots=True)
class TimePolicy:
    late_horizon: timedelta = timedelta(days=7)
    future_skew: timedelta = timedelta(minutes=5)


def check_event(
    event: Event,
    received_at: datetime,
    regions: tuple[str, ...],
    policy: TimePolicy,
    mode: IngestMode,
    custom_types: Mapping[str, object],
) -> list[Violation]:
    """Every rule the event breaks beyond its field types ([] when it may be accepted).

    ``custom_types`` holds the tenant's registered type names; their properties are checked
    against the type's JSON Schema by the caller, which owns the schema registry.
    ``properties.person``, which sets the person's attributes, is checked here for every type.

    >>> from datetime import timezone
    >>> now = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)
    >>> e = Event("e-1", "purchase", now, user_id="u-1")
    >>> [v.pointer for v in check_event(e, now, ("eu",), TimePolicy(), IngestMode.LIVE, {})]
    ['/item_id']
    """
    found = _check_time(event.occurred_at, received_at, policy, mode)
    if event.user_id is None and event.anonymous_id is None:
        found.append(
            Violation("/user_id", "one_of_required", "one of user_id or anonymous_id is required")
        )
    value = event.value
    if value is not None and not math.isfinite(value):
        found.append(Violation("/value", "finite", "must be a finite number"))
    if event.context:
        region = event.context.get("region")
        if region is not None and region not in regions:
            found.append(
                Violation(
                    "/context/region", "enum", f"must be one of the tenant's regions {regions}"
                )
            )
    if event.properties and "person" in event.properties:
        found.extend(
            v.under("/properties/person")
            for v in check_event_attributes(event.properties["person"], received_at.date())
        )
    found.extend(_check_type(event, custom_types))
    return found


def _check_time(
    occurred: datetime, received_at: datetime, policy: TimePolicy, mode: IngestMode
) -> list[Violation]:
    """An event's time against the server clock: never too far ahead, and live ones recent."""
    if occurred.tzinfo is None:
        return [Violation("/occurred_at", "timezone", "must be RFC 3339 with a UTC offset, e.g. Z")]
    ahead = occurred - received_at
    if ahead > policy.future_skew:
        return [
            Violation(
                "/occurred_at",
                "future_skew",
                f"is more than {policy.future_skew} ahead of the server clock",
            )
        ]
    if mode is IngestMode.LIVE and -ahead > policy.late_horizon:
        return [
            Violation(
                "/occurred_at",
                "late_horizon",
                f"is older than the late-event horizon of {policy.late_horizon};"
                " import history with `relevo import` instead",
            )
        ]
    return []


def _check_type(event: Event, custom_types: Mapping[str, object]) -> list[Violation]:
    """The rules of the event's type: a built-in one's required fields, else a known name."""
    rule = BUILTIN_TYPES.get(event.type)
    if rule is None:
        if event.type in custom_types:
            return []
        return [
            Violation(
                "/type",
                "unknown_type",
                f"'{event.type}' is neither a built-in type nor a registered custom type",
            )
        ]
    if rule.required == ("item_id",) and not rule.signed_in and event.item_id is not None:
        # the common case, checked without a call
        return [] if event.schema_version is None else _check_builtin(event, rule)
    return _check_builtin(event, rule)


def _check_builtin(event: Event, rule: TypeRule) -> list[Violation]:
    found = [
        Violation("/" + name, "required", f"is required for '{event.type}' events")
        for name in rule.required
        if getattr(event, name) is None
    ]
    if rule.signed_in and event.user_id is None:
        found.append(Violation("/user_id", "required", f"is required for '{event.type}' events"))
    for name in rule.required_properties:
        if not isinstance(event.properties.get(name), str) or not event.properties[name]:
            found.append(
                Violation(
                    "/properties/" + name,
                    "required",
                    f"is required (a non-empty string) for '{event.type}' events",
                )
            )
    if event.schema_version is not None:
        found.append(
            Violation("/schema_version", "custom_only", "only custom event types carry a version")
        )
    return found
