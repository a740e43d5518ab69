"""Contract: RegionPartition (event log, quarantine, derived state)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from relevo.domain.derived import derive, micros
from relevo.domain.events import Event
from relevo.domain.violations import Violation
from relevo.ports import NewQuarantineRecord, iterate_activity, iterate_log

T = datetime(2026, 1, 1, tzinfo=UTC)


def ev(i: int, item: str = "a", person: str = "p1") -> Event:
    return Event(f"e{i}", "view", T + timedelta(seconds=i), user_id=person, item_id=item)


def test_append_dedupes_within_and_across_batches_and_restarts(
    open_storage, storage, tenant
) -> None:
    partition = storage.partition("acme", "eu")
    with partition.transaction() as writer:
        assert writer.append([ev(1), ev(2), ev(1)], T) == [True, True, False]
    with partition.transaction() as writer:
        assert writer.append([ev(2), ev(3)], T) == [False, True]
    storage.close()
    reopened = open_storage().partition("acme", "eu")
    with reopened.transaction() as writer:
        assert writer.append([ev(3), ev(4)], T) == [False, True]
    logged = reopened.events()
    assert [e.event.event_id for e in logged] == ["e1", "e2", "e3", "e4"]
    assert logged[0].received_at == T
    assert logged[0].event == ev(1)
    assert reopened.count_events() == 4


def test_a_failed_transaction_leaves_nothing(storage, tenant) -> None:
    partition = storage.partition("acme", "eu")
    with pytest.raises(RuntimeError), partition.transaction() as writer:
        writer.append([ev(1)], T)
        raise RuntimeError("crash before commit")
    assert partition.count_events() == 0


def test_log_is_read_in_order_in_batches(storage, tenant) -> None:
    partition = storage.partition("acme", "eu")
    with partition.transaction() as writer:
        writer.append([ev(i) for i in range(25)], T)
    batches = list(iterate_log(partition, batch=10))
    assert [len(b) for b in batches] == [10, 10, 5]
    assert [e.event.event_id for b in batches for e in b] == [f"e{i}" for i in range(25)]


def test_activity_is_the_log_narrowed_to_events_about_items(storage, tenant) -> None:
    partition = storage.partition(tenant.tenant_id, "eu")
    search = Event("s1", "search", datetime(2026, 1, 1, tzinfo=UTC), user_id="p1")
    with partition.transaction() as writer:
        writer.append([ev(1), search, ev(2, "b", "p2")], datetime(2026, 1, 2, tzinfo=UTC))
    found = [
        (a.type, a.person, a.item_id, a.occurred_at_us, a.session_id)
        for batch in iterate_activity(partition, batch=1)
        for a in batch
    ]
    expected = [
        (e.type, e.person_key, e.item_id, micros(e.occurred_at), e.session_id)
        for e in (ev(1), ev(2, "b", "p2"))
    ]
    assert found == expected


def test_recent_people_are_the_latest_to_act_first(storage, tenant) -> None:
    partition = storage.partition(tenant.tenant_id, "eu")
    with partition.transaction() as writer:
        writer.append([ev(1, person="p1"), ev(2, person="p2"), ev(3, person="p1")], T)
    assert partition.recent_people(10) == ["u:p1", "u:p2"]
    assert partition.recent_people(1) == ["u:p1"]


def test_regions_are_separate(storage, tenant) -> None:
    with storage.partition("acme", "eu").transaction() as writer:
        writer.append([ev(1)], T)
    assert storage.partition("acme", "us").count_events() == 0
    assert storage.partition("beta", "eu").count_events() == 0


def test_derived_state_applies_and_clears(storage, tenant) -> None:
    partition = storage.partition("acme", "eu")
    with partition.transaction() as writer:
        writer.apply(derive([ev(1, "a"), ev(2, "b")], 10), 10)
    with partition.transaction() as writer:
        writer.apply(derive([ev(3, "a")], 10), 10)
    state = partition.state()
    assert state.type_counts == {"view": 3}
    assert state.item_stats["a"]["view"][0] == 2
    assert [r.item_id for r in state.recent["u:p1"]] == ["a", "b"]
    with partition.transaction() as writer:
        writer.clear_derived()
    assert partition.state().type_counts == {}


def test_quarantine_keeps_payload_and_reasons_until_released(storage, tenant) -> None:
    partition = storage.partition("acme", "eu")
    reasons = [Violation("/type", "unknown_type", "no such type")]
    with partition.transaction() as writer:
        writer.quarantine(
            [NewQuarantineRecord("http", "live", {"event_id": "x", "n": [1]}, reasons)], T
        )
        writer.quarantine(
            [NewQuarantineRecord("import:f.csv", "backfill", {"event_id": "y"}, reasons)], T
        )
    records = partition.quarantined()
    assert [(r.source, r.mode, r.payload, r.reasons) for r in records] == [
        ("http", "live", {"event_id": "x", "n": [1]}, reasons),
        ("import:f.csv", "backfill", {"event_id": "y"}, reasons),
    ]
    assert records[0].received_at == T
    with partition.transaction() as writer:
        writer.release([records[0].quarantine_id])
    assert [r.payload["event_id"] for r in partition.quarantined()] == ["y"]
