"""The decision log on real SQLite files: asynchronous writes, drops, reads, the outcome join."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import msgspec
from prometheus_client import REGISTRY

from relevo.decide.decision_log import DecisionLog
from relevo.domain.decisions import Trace, new_decision_id
from relevo.domain.tenants import Tenant
from relevo.ports import EncodedTrace, RegionPartition, SharedTrace, Storage
from tests.conftest import event


def trace(region: str = "eu", person: str = "u:p1") -> Trace:
    return Trace(
        decision_id=new_decision_id(region),
        at=datetime(2026, 1, 1, tzinfo=UTC),
        placement="home",
        person=person,
        region=region,
        strategy="popular",
        model="",
        variant="control",
        fallback="none",
        request={"k": 2},
        person_state={},
        sources={"sku-1": ("popular",)},
        filters=[],
        scores={"sku-1": 1.0},
        stages_ms={"total": 0.5},
        items=["sku-1"],
    )


class StalledStorage:
    """The real storage, but the trace writer waits at ``gate``: a disk that has stalled."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self.entered = threading.Event()
        self.gate = threading.Event()

    def partition(self, tenant_id: str, region: str) -> RegionPartition:
        self.entered.set()
        assert self.gate.wait(10)
        return self._storage.partition(tenant_id, region)


def test_traces_recorded_from_many_threads_are_all_written(relevo, tenant) -> None:
    log = relevo.decision_log
    traces = [trace(("eu", "us")[i % 2]) for i in range(1_000)]

    def record(share: list[Trace]) -> None:
        for t in share:
            log.record(tenant.tenant_id, t.region, EncodedTrace.of(t))

    threads = [threading.Thread(target=record, args=(traces[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert log.flush()
    assert all(log.get(tenant, t.decision_id) == (t, []) for t in traces)
    assert log.dropped == 0


def test_a_shared_part_is_marked_stored_once_committed_and_answers_read_back_whole(
    relevo, tenant
) -> None:
    log = relevo.decision_log
    first = trace()
    shared = SharedTrace(first)
    log.record(tenant.tenant_id, "eu", EncodedTrace.of(first, shared))
    assert log.flush() and shared.stored
    later = msgspec.structs.replace(first, decision_id=new_decision_id("eu"), stages_ms={"x": 1.0})
    log.record(tenant.tenant_id, "eu", EncodedTrace.of(later, shared))  # part not sent again
    assert log.flush()
    assert log.get(tenant, first.decision_id) == (first, [])
    assert log.get(tenant, later.decision_id) == (later, [])


def test_a_full_batch_is_written_without_lingering(relevo, tenant) -> None:
    """Lingering gathers a batch; once one waits, the writer writes it at once (else it could
    write no more than a batch per linger, and a busy server's queue would overflow)."""
    log = DecisionLog(relevo.storage, batch=3, linger_s=60)
    try:
        traces = [trace() for _ in range(3)]
        for t in traces:
            log.record(tenant.tenant_id, "eu", EncodedTrace.of(t))
        deadline = time.monotonic() + 10
        while relevo.decision_log.get(tenant, traces[-1].decision_id) is None:
            assert time.monotonic() < deadline, "a full batch waited for the linger"
            time.sleep(0.01)
        assert all(relevo.decision_log.get(tenant, t.decision_id) for t in traces)
    finally:
        log.close(timeout=0)


def test_record_never_waits_for_the_write_and_drops_what_does_not_fit(relevo, tenant) -> None:
    stalled = StalledStorage(relevo.storage)
    log = DecisionLog(stalled, capacity=2)  # type: ignore[arg-type]
    try:
        first = trace()
        log.record(tenant.tenant_id, "eu", EncodedTrace.of(first))
        assert stalled.entered.wait(10)  # the writer holds ``first`` and is stuck
        rest = [trace() for _ in range(4)]
        counted = REGISTRY.get_sample_value("relevo_traces_dropped_total") or 0.0
        for t in rest:
            log.record(
                tenant.tenant_id, "eu", EncodedTrace.of(t)
            )  # returns at once: nothing written
        assert log.dropped == 2  # two fit in the queue, two did not
        assert REGISTRY.get_sample_value("relevo_traces_dropped_total") == counted + 2
        assert relevo.decision_log.get(tenant, first.decision_id) is None
        stalled.gate.set()
        assert log.flush()
        written = [t for t in [first, *rest] if relevo.decision_log.get(tenant, t.decision_id)]
        assert written == [first, *rest[:2]]
    finally:
        stalled.gate.set()
        log.close()
    log.record(
        tenant.tenant_id, "eu", EncodedTrace.of(trace())
    )  # after close: dropped, never queued
    assert log.dropped == 3


def test_ids_the_tenant_cannot_have_made_are_not_found(relevo, tenant) -> None:
    kept = trace()
    relevo.decision_log.record(tenant.tenant_id, "eu", EncodedTrace.of(kept))
    assert relevo.decision_log.flush()
    other, _ = relevo.tenancy.create_tenant("beta", ["eu"])
    for wrong in ("nonsense", "", ".x", "eu.", "ap.x", "../eu.x", new_decision_id("eu")):
        assert relevo.decision_log.get(tenant, wrong) is None
    assert relevo.decision_log.get(other, kept.decision_id) is None
    assert relevo.decision_log.get(tenant, kept.decision_id) == (kept, [])


def test_outcome_events_are_joined_to_their_decision_once(relevo, tenant: Tenant) -> None:
    log = relevo.decision_log
    shown = trace()
    outcomes = [
        event("imp-1", type="impression", decision_id=shown.decision_id, item_id=None),
        event("click-1", type="click", decision_id=shown.decision_id),
        event("view-1"),
    ]
    # The events may arrive before the trace is written: they are kept all the same.
    assert [r.status for r in relevo.ingest.ingest(tenant, outcomes)] == ["accepted"] * 3
    assert log.get(tenant, shown.decision_id) is None
    log.record(tenant.tenant_id, "eu", EncodedTrace.of(shown))
    assert log.flush()
    assert [r.status for r in relevo.ingest.ingest(tenant, outcomes)] == ["duplicate"] * 3
    found = log.get(tenant, shown.decision_id)
    assert found is not None
    assert found[0] == shown
    assert sorted((o.event_id, o.type, o.item_id) for o in found[1]) == [
        ("click-1", "click", "sku-1"),
        ("imp-1", "impression", None),
    ]
