"""Contract: decision traces and their outcomes in a RegionPartition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from relevo.domain.decisions import FilterReport, Trace, new_decision_id
from relevo.domain.events import Event
from relevo.ports import EncodedTrace, Outcome, SharedTrace

T = datetime(2026, 1, 1, 12, 30, 15, 123456, tzinfo=UTC)


def trace(decision_id: str, person: str = "u:p1") -> Trace:
    """A trace using every field, with values that a lossy encoding would change."""
    return Trace(
        decision_id=decision_id,
        at=T,
        placement="home",
        person=person,
        region="eu",
        strategy="hybrid",
        model="hybrid:3",
        variant="b",
        fallback="none",
        request={"k": 3, "context": {"device": "mobile"}, "filters": {"price_max": 19.99}},
        person_state={"recent": ["sku-9"], "consent": {"personalization": True}},
        sources={"sku-1": ("model", "popular"), "sku-2": ("neighbors",)},
        filters=[FilterReport("availability", 2), FilterReport("region", 0)],
        scores={"sku-1": 0.1 + 0.2, "sku-2": 1e-300, "sku-3": -0.0},
        stages_ms={"retrieve": 1.25, "rank": 0.333333333333},
        items=["sku-1", "sku-2"],
        reasons={"sku-1": ("Because you viewed Läмп ☕",)},
        contributions={"sku-1": [{"feature": "affinity", "weight": 0.5}]},
        feature_age_s={"recent_items": 12.5},
    )


def encoded(*traces: Trace) -> list[EncodedTrace]:
    return [EncodedTrace.of(t) for t in traces]


def reused(first: Trace, numbers: range) -> list[Trace]:
    """Answers reused from ``first``'s decision: its trace, with their own answer fields."""
    return [
        msgspec.structs.replace(
            first,
            decision_id=new_decision_id("eu"),
            at=T + timedelta(seconds=n),
            stages_ms={"person": 0.01 * n},
            feature_age_s={"recent_items": 12.5 + n},
        )
        for n in numbers
    ]


def outcome_event(
    event_id: str, decision_id: str | None, kind: str = "click", at: int = 0
) -> Event:
    return Event(
        event_id,
        kind,
        T + timedelta(seconds=at),
        user_id="p1",
        item_id=None if kind == "impression" else "sku-1",
        decision_id=decision_id,
    )


def test_a_trace_round_trips_byte_exact(storage, tenant) -> None:
    partition = storage.partition("acme", "eu")
    original = trace(new_decision_id("eu"))
    with partition.transaction() as writer:
        writer.record_decisions(encoded(original, trace(new_decision_id("eu"), "a:other")))
    found = partition.decision(original.decision_id)
    assert found == original
    assert msgspec.json.encode(found) == msgspec.json.encode(original)
    assert partition.decision(new_decision_id("eu")) is None


def test_answers_sharing_a_part_read_back_whole_and_the_part_is_kept_once(storage, tenant) -> None:
    partition = storage.partition("acme", "eu")
    first = trace(new_decision_id("eu"))
    shared = SharedTrace(first)
    answers = reused(first, range(1, 4))
    with partition.transaction() as writer:
        writer.record_decisions(
            [EncodedTrace.of(first, shared), EncodedTrace.of(answers[0], shared)]
        )
    shared.stored = True  # as the decision log marks it once committed: not sent again
    with partition.transaction() as writer:
        writer.record_decisions([EncodedTrace.of(a, shared) for a in answers[1:]])
    for original in [first, *answers]:
        found = partition.decision(original.decision_id)
        assert found == original
        assert msgspec.json.encode(found) == msgspec.json.encode(original)
    again = msgspec.structs.replace(first, decision_id=new_decision_id("eu"))
    offered = SharedTrace(again)  # another process's copy of the same part: offered again
    with partition.transaction() as writer:
        writer.record_decisions([EncodedTrace.of(again, offered)])
    assert offered.part_id == shared.part_id and partition.decision(again.decision_id) == again
    assert partition.decision(first.decision_id) == first


def test_a_batch_of_hundreds_of_traces_keeps_every_one(storage, tenant) -> None:
    """More traces than one INSERT takes, whole ones and shared ones mixed, and a repeat."""
    partition = storage.partition("acme", "eu")
    first = trace(new_decision_id("eu"))
    shared = SharedTrace(first)
    originals = reused(first, range(251))
    batch = [EncodedTrace.of(t, shared if n % 2 else None) for n, t in enumerate(originals)]
    with partition.transaction() as writer:
        writer.record_decisions([*batch, batch[7]])
    for original in originals:
        assert partition.decision(original.decision_id) == original


def test_a_trace_recorded_again_keeps_the_first(storage, tenant) -> None:
    partition = storage.partition("acme", "eu")
    decision_id = new_decision_id("eu")
    with partition.transaction() as writer:
        writer.record_decisions(encoded(trace(decision_id)))
    with partition.transaction() as writer:
        writer.record_decisions(encoded(trace(decision_id, "u:someone-else")))
    assert partition.decision(decision_id) == trace(decision_id)


def test_outcomes_are_joined_once_in_order_even_before_their_decision(storage, tenant) -> None:
    partition = storage.partition("acme", "eu")
    decision_id = new_decision_id("eu")
    click = outcome_event("e-click", decision_id, "click", at=5)
    impression = outcome_event("e-seen", decision_id, "impression", at=1)
    unrelated = outcome_event("e-view", None, "view")
    with partition.transaction() as writer:
        writer.join_outcomes([click, impression, unrelated, click])
    with partition.transaction() as writer:
        writer.join_outcomes([impression])
    expected = [
        Outcome("e-seen", "impression", None, T + timedelta(seconds=1)),
        Outcome("e-click", "click", "sku-1", T + timedelta(seconds=5)),
    ]
    assert partition.outcomes(decision_id) == expected  # kept though the trace is not there yet
    assert partition.decision(decision_id) is None
    assert partition.outcomes(new_decision_id("eu")) == []


def test_a_failed_transaction_keeps_no_trace_and_no_outcome(storage, tenant) -> None:
    partition = storage.partition("acme", "eu")
    decision_id = new_decision_id("eu")
    with pytest.raises(RuntimeError), partition.transaction() as writer:
        writer.record_decisions(encoded(trace(decision_id)))
        writer.join_outcomes([outcome_event("e-1", decision_id)])
        raise RuntimeError("crash before commit")
    assert partition.decision(decision_id) is None
    assert partition.outcomes(decision_id) == []


def test_traces_and_outcomes_survive_a_reopen_and_stay_in_their_region(
    open_storage, storage, tenant
) -> None:
    decision_id = new_decision_id("eu")
    with storage.partition("acme", "eu").transaction() as writer:
        writer.record_decisions(encoded(trace(decision_id)))
        writer.join_outcomes([outcome_event("e-1", decision_id)])
    storage.close()
    reopened = open_storage()
    partition = reopened.partition("acme", "eu")
    assert partition.decision(decision_id) == trace(decision_id)
    assert [o.event_id for o in partition.outcomes(decision_id)] == ["e-1"]
    assert reopened.partition("acme", "us").decision(decision_id) is None
    assert reopened.partition("beta", "eu").decision(decision_id) is None
    assert reopened.partition("beta", "eu").outcomes(decision_id) == []
