"""Storage ports: what services need from storage, as Protocols. Adapters implement them.

Every method is scoped to one tenant by construction: a service obtains a tenant's catalog,
schemas, people directory or region partition from ``Storage`` by tenant id, and nothing in
those objects can reach another tenant's data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

import msgspec

from relevo.domain.decisions import ANSWER_FIELDS, AnswerPart, Trace
from relevo.domain.derived import DerivedState, RecentItem, StateDelta, micros
from relevo.domain.events import Event
from relevo.domain.items import Item
from relevo.domain.model_records import ModelRecord, NewModel, Promotion
from relevo.domain.people import PersonAttributes
from relevo.domain.person_state import PersonState
from relevo.domain.schema_versions import EventSchema
from relevo.domain.tenants import ApiKey, Tenant
from relevo.domain.violations import Violation


class StorageUnavailable(Exception):
    """A store cannot take a write (or serve a read) now, for a cause outside the program: a
    read-only file or folder, a full disk, an I/O error, a lock held too long.

    Adapters raise it for such faults only, never for a programming error, so that callers can
    answer "try again later" (HTTP 503 with ``Retry-After``) instead of a failure of their own;
    an adapter recovers by itself once the cause is fixed, without a restart.
    """

    def __init__(self, store: str, rule: str, detail: str, retry_after_s: int = 5) -> None:
        super().__init__(f"{store}: {detail}")
        self.store = store
        """Which store: ``control``, ``tenant <id>``, ``tenant <id> region <name>``."""
        self.rule = rule
        """Why, as a stable word: ``read_only``, ``disk_full``, ``io_error``, ``busy``..."""
        self.detail = detail
        self.retry_after_s = retry_after_s


class LoggedEvent(msgspec.Struct, frozen=True):
    """An event as the log holds it: its position, when it was received, and the event."""

    seq: int
    received_at: datetime
    event: Event


class Activity(msgspec.Struct, frozen=True, array_like=True):
    """What training reads of a logged event about an item: who, what, when, in which session.

    A narrow view of the log, so that reading millions of events for training does not decode
    and check each whole event again.
    """

    seq: int
    type: str
    person: str
    item_id: str
    occurred_at_us: int
    session_id: str | None


_SHARED_FIELDS = tuple(n for n in Trace.__struct_fields__ if n not in ANSWER_FIELDS)
_trace_decoder = msgspec.json.Decoder(Trace)


class _FeatureTimes(msgspec.Struct):
    feature_changed_us: dict[str, int] = {}


_feature_times_decoder = msgspec.json.Decoder(_FeatureTimes)


def decoded_trace(body: bytes, shared: bytes | None = None) -> Trace:
    """A trace from its JSON: a whole trace, or an answer's own fields and the part it shares
    with other answers (``SharedTrace.body``), two objects made one. A shared part may keep
    when each feature of the person changed, so that an answer need not keep its features'
    ages: they follow from its time."""
    if shared is None:
        return _trace_decoder.decode(body)
    trace = _trace_decoder.decode(body[:-1] + b"," + shared[1:])
    changed = _feature_times_decoder.decode(shared).feature_changed_us
    if trace.feature_age_s or not changed:
        return trace
    at = micros(trace.at)
    ages = {name: round((at - us) / 1e6, 3) for name, us in changed.items()}
    return msgspec.structs.replace(trace, feature_age_s=ages)


class SharedTrace:
    """What the traces of the answers reused from one prepared decision have in common: every
    field but ``ANSWER_FIELDS``, encoded once and kept once in the region's file, under
    ``part_id`` (a hash of its bytes). An answer's own part is much smaller than a whole trace,
    and much cheaper for the writer to write (``benchmarks/traces.py``; figures in
    docs/performance.md).

    ``stored`` is set once a commit holds the part, so later traces do not send it again;
    should it be lost, the part is only offered again (kept parts are never overwritten).
    """

    __slots__ = ("body", "part_id", "person", "placement", "stored")

    def __init__(self, trace: Trace, feature_changed_us: Mapping[str, int] | None = None) -> None:
        shared: dict[str, Any] = {n: getattr(trace, n) for n in _SHARED_FIELDS}
        if feature_changed_us:  # each answer's ``feature_age_s`` follows from its ``at``
            shared["feature_changed_us"] = feature_changed_us
        self.body: bytes = msgspec.json.encode(shared)
        digest = hashlib.blake2b(self.body, digest_size=8).digest()
        self.part_id = int.from_bytes(digest, "big", signed=True)
        self.person = trace.person
        self.placement = trace.placement
        self.stored = False


class EncodedTrace(msgspec.Struct, frozen=True, gc=False):
    """A trace as JSON, with the fields it is kept by. The decision encodes it on its own
    thread, so the thread that writes batches of them holds the GIL only for moments: while it
    held it to encode, answers waited. (A struct, not a frozen dataclass: one is made for
    every answer, and a frozen dataclass sets each field through ``object.__setattr__``.)

    >>> from datetime import UTC, datetime
    >>> at = datetime(2026, 1, 1, tzinfo=UTC)
    >>> trace = Trace("eu.1", at, "home", "u:1", "eu", "home", "", "control", "popular",
    ...               {}, {}, {}, [], {}, {"person": 0.1}, ["i1"])
    >>> shared = SharedTrace(trace)
    >>> encoded = EncodedTrace.of(trace, shared)
    >>> encoded.body
    b'{"decision_id":"eu.1","at":"2026-01-01T00:00:00Z","stages_ms":{"person":0.1},\
"contributions":{},"feature_age_s":{}}'
    >>> b'"items":["i1"]' in shared.body, b"stages_ms" in shared.body, encoded.trace() == trace
    (True, False, True)
    """

    decision_id: str
    at_us: int
    person: str
    placement: str
    body: bytes  # the answer's own fields if ``shared`` holds the rest, else the whole trace
    shared: SharedTrace | None = None

    @classmethod
    def of(cls, trace: Trace, shared: SharedTrace | None = None) -> EncodedTrace:
        """``shared``, if given, must come from a trace that differs from this one only in
        ``ANSWER_FIELDS``."""
        if shared is not None:
            part = AnswerPart(*(getattr(trace, n) for n in ANSWER_FIELDS))
            return cls.answer(part, shared, micros(trace.at))
        body = msgspec.json.encode(trace)
        return cls(trace.decision_id, micros(trace.at), trace.person, trace.placement, body)

    @classmethod
    def answer(cls, part: AnswerPart, shared: SharedTrace, at_us: int) -> EncodedTrace:
        """The trace of an answer reused from a prepared decision, from its own fields alone
        (no whole trace is built); ``at_us`` is ``part.at`` in microseconds, which the decision
        already has."""
        body = msgspec.json.encode(part)
        return cls(part.decision_id, at_us, shared.person, shared.placement, body, shared)

    def trace(self) -> Trace:
        return decoded_trace(self.body, None if self.shared is None else self.shared.body)


class QuarantineRecord(msgspec.Struct, frozen=True):
    """A refused event kept with its payload (person ids already pseudonymized) and reasons."""

    quarantine_id: int
    received_at: datetime
    source: str
    mode: str
    payload: Any
    reasons: list[Violation]


class NewQuarantineRecord(msgspec.Struct, frozen=True):
    source: str
    mode: str
    payload: Any
    reasons: list[Violation]


class Outcome(msgspec.Struct, frozen=True):
    """An event that names a decision (impression, click, conversion...): what the answer led to,
    kept beside its trace for attribution and training."""

    event_id: str
    type: str
    item_id: str | None
    occurred_at: datetime


class TenantDirectory(Protocol):
    def add_tenant(self, tenant: Tenant) -> None: ...
    def tenant(self, tenant_id: str) -> Tenant | None: ...
    def tenants(self) -> list[Tenant]: ...
    def add_key(self, key: ApiKey, secret_hash: str) -> None: ...
    def key_by_hash(self, secret_hash: str) -> ApiKey | None: ...
    def keys(self, tenant_id: str) -> list[ApiKey]: ...
    def revoke_key(self, key_id: str, at: datetime) -> bool: ...
    def ping(self) -> None:
        """Raise if the store cannot be reached (readiness)."""
        ...


class Catalog(Protocol):
    def upsert(self, items: Sequence[Item], at: datetime) -> None: ...
    def get(self, item_id: str) -> Item | None: ...
    def delete(self, item_id: str) -> bool: ...
    def page(self, after: str | None, limit: int) -> list[Item]: ...
    def facets(self, item_ids: Sequence[str]) -> dict[str, tuple[str | None, list[str]]]:
        """Category and tags of those items that are in the catalog; the others are left out.

        Ingest folds a batch's affinities with one call, so it must not cost a read per item.
        """
        ...

    def version(self) -> tuple[int, int]:
        """Changes whenever an item is added, changed or deleted: what serving polls to know
        when to read the catalog again."""
        ...


class SchemaRegistry(Protocol):
    def add(self, schema: EventSchema, at: datetime) -> None: ...
    def versions(self, type_name: str) -> list[EventSchema]: ...
    def all(self) -> Mapping[str, Mapping[str, EventSchema]]:
        """Every registered schema, type -> version -> schema; cheap to call per batch."""
        ...


class PeopleDirectory(Protocol):
    """Where each person's data lives: the region a person was first seen in, never moved."""

    def home_regions(self, person_keys: Sequence[str]) -> dict[str, str]: ...
    def claim_home_regions(self, homes: Mapping[str, str]) -> dict[str, str]:
        """Record homes for people who have none; return the home of each person given."""
        ...


class PartitionWriter(Protocol):
    """Writes to one region partition inside one transaction: all of them land, or none."""

    def append(self, events: Sequence[Event], received_at: datetime) -> list[bool]:
        """Append the events not yet in the log; True for each one that was new."""
        ...

    def apply(self, delta: StateDelta, recent_limit: int) -> None: ...
    def clear_derived(self) -> None: ...
    def quarantine(self, records: Sequence[NewQuarantineRecord], at: datetime) -> None: ...
    def release(self, quarantine_ids: Sequence[int]) -> None: ...
    def set_attributes(self, person_key: str, attributes: PersonAttributes, at: datetime) -> None:
        """Store a person's attributes, replacing any before: personal data, so it lives in
        the person's home region, never in a file shared by all regions."""
        ...

    def record_decisions(self, traces: Sequence[EncodedTrace]) -> None:
        """Keep the traces, and the shared parts not yet ``stored``; a trace already kept
        (same decision id), or a part (same id), is left as it is."""
        ...

    def join_outcomes(self, events: Sequence[Event]) -> None:
        """Join events that name a decision to it; idempotent on (decision id, event id).

        The decision need not be known yet: traces are written asynchronously and may land a
        moment after their first outcome.
        """
        ...


class RegionPartition(Protocol):
    """One tenant's data in one region: its event log, quarantine, derived state and decision
    traces (pseudonymous person data, so kept in the person's region like the rest)."""

    def transaction(self) -> AbstractContextManager[PartitionWriter]: ...
    def events(self, after_seq: int = 0, limit: int = 10_000) -> list[LoggedEvent]: ...
    def activity(self, after_seq: int = 0, limit: int = 50_000) -> list[Activity]:
        """Events that name an item, in log order, as ``Activity``."""
        ...

    def count_events(self) -> int: ...
    def recent_people(self, limit: int) -> list[str]:
        """The ``limit`` people who acted most recently (by log order), latest first."""
        ...

    def recent_items(self, person_key: str) -> list[RecentItem]:
        """A person's latest distinct items, newest first: online state, as fresh as the log."""
        ...

    def person_state(self, person_key: str, now_us: int) -> PersonState:
        """Everything a decision reads about a person, from one consistent read, with
        affinities decayed to the day of ``now_us`` (microseconds since the epoch)."""
        ...

    def person_version(self, person_key: str) -> int:
        """The ``version`` ``person_state`` would read now: one point read, which tells a
        decision whether what it worked out for the person earlier still holds."""
        ...

    def known_person_version(self, person_key: str) -> int | None:
        """The ``version`` ``person_state`` would read now, if the adapter can tell it from
        memory without reading storage; else None. Lets the event loop answer inline only when
        nothing must wait on disk (call ``person_version`` in a worker thread otherwise)."""
        ...

    def person_versions(self, person_keys: Sequence[str]) -> dict[str, int]:
        """``person_version`` of each person (0 for someone never written), reading storage
        once for all those memory cannot tell: how a background refresher finds, for many
        people at once, the rankings a change has made stale."""
        ...

    def renew_known_versions(self) -> int:
        """Read again, at once, the versions memory holds for people who asked lately, where
        memory would soon stop trusting them (the number read; 0 for an adapter that keeps
        none): so that ``known_person_version`` keeps answering for people who keep asking.
        Called every few seconds from a background thread."""
        ...

    def trending(self, now_us: int, half_life_days: float, limit: int) -> list[tuple[str, float]]:
        """The region's items by their interaction weight decayed to the day of ``now_us``,
        best first, positive scores only. A short half-life gives what is trending, a long one
        what is popular."""
        ...

    def attributes(self, person_keys: Sequence[str]) -> dict[str, PersonAttributes]:
        """The attributes last PUT for those people that have some here; the others are left
        out. Attributes set by events are not merged in: ``person_state`` does that."""
        ...

    def quarantined(self, after_id: int = 0, limit: int = 1_000) -> list[QuarantineRecord]: ...
    def state(self) -> DerivedState: ...
    def decision(self, decision_id: str) -> Trace | None: ...
    def outcomes(self, decision_id: str) -> list[Outcome]:
        """The outcomes joined to a decision, in the order they occurred."""
        ...


class ModelRegistry(Protocol):
    """One tenant's trained models: versioned artifacts (files) with their metadata and the
    history of which version serves. Where the bytes live (files, an object store) is the
    adapter's business; callers only ever see whole, verified artifacts."""

    def register(self, model: NewModel, files: Mapping[str, bytes], at: datetime) -> ModelRecord:
        """Store the artifact and its record as the name's next version (1, 2, 3...).

        Atomic: concurrent registrations get distinct versions, and a crash part-way leaves no
        record (files without a record are invisible and cleaned up later).
        """
        ...

    def versions(self, name: str) -> list[ModelRecord]:
        """Every version of a model, newest first; empty for an unknown name."""
        ...

    def names(self) -> list[str]:
        """Names with at least one version, sorted."""
        ...

    def get(self, name: str, version: int) -> ModelRecord | None: ...
    def files(self, name: str, version: int) -> dict[str, bytes]:
        """The artifact of a registered version, checked against its checksum.

        Raises ``CorruptArtifact`` if a file is missing or changed, ``LookupError`` if the
        version was never registered.
        """
        ...

    def promote(self, name: str, version: int, at: datetime) -> bool:
        """Make a registered version the one that serves; False if it already was.

        Raises ``LookupError`` if the version was never registered.
        """
        ...

    def rollback(self, name: str, at: datetime) -> int | None:
        """Return to the version promoted before the current one, at once and atomically;
        the version now promoted, or None (and no change) if there is none to return to."""
        ...

    def promoted(self, name: str) -> ModelRecord | None: ...
    def promotions(self, name: str) -> list[Promotion]:
        """Every change of the promoted version, oldest first."""
        ...


class Storage(Protocol):
    """The root of all storage; the one thing bootstrap builds from configuration."""

    tenants: TenantDirectory

    def catalog(self, tenant_id: str) -> Catalog: ...
    def schemas(self, tenant_id: str) -> SchemaRegistry: ...
    def people(self, tenant_id: str) -> PeopleDirectory: ...
    def partition(self, tenant_id: str, region: str) -> RegionPartition: ...
    def models(self, tenant_id: str) -> ModelRegistry: ...
    def unwritable(self) -> list[StorageUnavailable]:
        """Every store (the control store, each tenant's stores) that cannot take a write now,
        with the reason; empty when all can. Writes nothing that stays, and is cheap enough to
        run every second (readiness)."""
        ...

    def close(self) -> None: ...


def iterate_log(partition: RegionPartition, batch: int = 10_000) -> Iterator[list[LoggedEvent]]:
    """The whole log of a partition in order, in batches."""
    after = 0
    while rows := partition.events(after, batch):
        yield rows
        after = rows[-1].seq


def iterate_activity(partition: RegionPartition, batch: int = 50_000) -> Iterator[list[Activity]]:
    """Every event of a partition that names an item, in order, in batches."""
    after = 0
    while rows := partition.activity(after, batch):
        yield rows
        after = rows[-1].seq
