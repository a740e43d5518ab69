"""Contract: RegionPartition (event log, quarantine, derived state)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from relevo.domain.derived import DAY_US, derive, micros
from relevo.domain.events import DEFAULT_WEIGHTS, Event
from relevo.domain.people import PersonAttributes
from relevo.domain.person_state import PersonState, Session, seen_items
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
        writer.apply(derive([ev(1, "a"), ev(2, "b")], 10, DEFAULT_WEIGHTS, FACETS), 10)
    with partition.transaction() as writer:
        writer.apply(derive([ev(3, "a"), attribute_event(4, 1990)], 10, DEFAULT_WEIGHTS, {}), 10)
    state = partition.state()
    assert state.type_counts == {"view": 3, "signup": 1}
    assert state.item_stats["a"]["view"][0] == 2
    assert [r.item_id for r in state.recent["u:p1"]] == ["a", "b"]
    day = micros(T) // DAY_US
    assert state.item_days == [("a", day, 2000), ("b", day, 1000)]
    assert state.person_days["u:p1"][day].categories == {"shoes": 1000, "hats": 1000}
    assert state.person_days["u:p1"][day].counts == {"view": 3, "signup": 1}
    assert state.event_attributes["u:p1"]["birth_year"][2] == 1990
    with partition.transaction() as writer:
        writer.clear_derived()
    cleared = partition.state()
    assert cleared.type_counts == {}
    assert (cleared.person_days, cleared.item_days, cleared.event_attributes) == ({}, [], {})
    assert partition.person_state("u:p1", micros(T)) == PersonState(
        affinities={"category": {}, "tag": {}},
        version=2,  # versions only grow, even on a clear
    )


def test_a_persons_version_grows_with_every_change_to_their_state(storage, tenant) -> None:
    partition = storage.partition(tenant.tenant_id, "eu")
    assert partition.person_version("u:p1") == 0
    seen = []
    with partition.transaction() as writer:
        writer.apply(derive([ev(1, "a"), ev(2, "b")], 10, DEFAULT_WEIGHTS, FACETS), 10)
    seen.append(partition.person_version("u:p1"))
    with partition.transaction() as writer:  # an event about no item still counts
        writer.apply(derive([attribute_event(3, 1990)], 10, DEFAULT_WEIGHTS, {}), 10)
    seen.append(partition.person_version("u:p1"))
    with partition.transaction() as writer:
        writer.set_attributes("u:p1", PersonAttributes(birth_year=1980), T)
    seen.append(partition.person_version("u:p1"))
    with partition.transaction() as writer:  # someone else's event leaves p1's version alone
        writer.apply(derive([ev(4, "a", "p2")], 10, DEFAULT_WEIGHTS, FACETS), 10)
    seen.append(partition.person_version("u:p1"))
    assert seen[0] > 0 and seen[0] < seen[1] < seen[2] == seen[3]
    assert partition.person_state("u:p1", micros(T)).version == seen[3]
    assert partition.person_version("u:p2") > 0


def test_a_version_read_shows_a_change_committed_by_another_process(
    open_storage, storage, tenant
) -> None:
    """Adapters may remember versions; a change made through another storage (another worker,
    ``relevo import``) must still show in the very next read, and one that rolled back never."""
    mine = storage.partition(tenant.tenant_id, "eu")
    theirs = open_storage().partition(tenant.tenant_id, "eu")
    with theirs.transaction() as writer:
        writer.apply(derive([ev(1, "a")], 10, DEFAULT_WEIGHTS, FACETS), 10)
    first = mine.person_version("u:p1")
    assert mine.person_version("u:p1") == first == theirs.person_version("u:p1") > 0
    with theirs.transaction() as writer:
        writer.set_attributes("u:p1", PersonAttributes(birth_year=1980), T)
    second = mine.person_version("u:p1")
    assert second > first
    assert mine.person_state("u:p1", micros(T)).version == second
    with theirs.transaction() as writer:
        writer.apply(derive([ev(2, "b")], 10, DEFAULT_WEIGHTS, FACETS), 10)
    assert mine.person_version("u:p1") > second  # read after a state read: still current
    with pytest.raises(RuntimeError), mine.transaction() as writer:
        writer.set_attributes("u:p1", PersonAttributes(birth_year=1970), T)
        assert mine.person_version("u:p1") > second + 1  # its own write, uncommitted
        raise RuntimeError("roll back")
    assert mine.person_version("u:p1") == theirs.person_version("u:p1") == second + 1


FACETS = {"a": ("shoes", ["red", "sale"]), "b": ("hats", ["red"])}


def test_a_version_read_is_known_from_memory_until_the_person_changes(
    open_storage, storage, tenant
) -> None:
    """``known_person_version`` answers without reading storage: the version last read while
    it still holds, else None; never a version a later commit (by any process) has replaced."""
    mine = storage.partition(tenant.tenant_id, "eu")
    theirs = open_storage().partition(tenant.tenant_id, "eu")
    with mine.transaction() as writer:
        writer.apply(derive([ev(1, "a")], 10, DEFAULT_WEIGHTS, FACETS), 10)
    first = mine.person_version("u:p1")
    assert mine.known_person_version("u:p1") == first > 0
    with mine.transaction() as writer:
        writer.set_attributes("u:p1", PersonAttributes(birth_year=1980), T)
    assert mine.known_person_version("u:p1") in (None, first + 1)
    assert mine.person_version("u:p1") == first + 1
    assert mine.known_person_version("u:p1") == first + 1
    with theirs.transaction() as writer:  # another worker, or ``relevo import``
        writer.apply(derive([ev(2, "b")], 10, DEFAULT_WEIGHTS, FACETS), 10)
    assert mine.known_person_version("u:p1") in (None, first + 2)
    assert mine.person_state("u:p1", micros(T)).version == first + 2
    assert mine.known_person_version("u:p1") == first + 2


def test_versions_of_many_people_match_their_one_by_one_reads(
    open_storage, storage, tenant
) -> None:
    mine = storage.partition(tenant.tenant_id, "eu")
    theirs = open_storage().partition(tenant.tenant_id, "eu")
    with mine.transaction() as writer:
        writer.apply(derive([ev(1, "a"), ev(2, "b", "p2")], 10, DEFAULT_WEIGHTS, FACETS), 10)
    mine.person_version("u:p1")  # remembered: the next read of p1 may come from memory
    people = ["u:p1", "u:p2", "u:nobody", *(f"u:x{i}" for i in range(600))]  # > one chunk
    versions = mine.person_versions(people)
    assert versions == {person: mine.person_version(person) for person in people}
    assert versions["u:p1"] > 0 and versions["u:p2"] > 0 and versions["u:nobody"] == 0
    with theirs.transaction() as writer:  # a change by another process shows at once
        writer.set_attributes("u:p1", PersonAttributes(birth_year=1980), T)
    assert mine.person_versions(["u:p1", "u:p2"]) == {
        "u:p1": versions["u:p1"] + 1,
        "u:p2": versions["u:p2"],
    }
    assert mine.person_versions([]) == {}


def test_someone_never_written_has_version_zero(storage, tenant) -> None:
    partition = storage.partition(tenant.tenant_id, "eu")
    assert partition.known_person_version("u:nobody") in (None, 0)
    assert partition.person_version("u:nobody") == 0
    assert partition.known_person_version("u:nobody") in (None, 0)


def attribute_event(i: int, birth_year: int, at: datetime = T, person: str = "p1") -> Event:
    return Event(
        f"e{i}",
        "signup",
        at + timedelta(seconds=i),
        user_id=person,
        properties={"person": {"birth_year": birth_year}},
    )


def test_person_state_reads_everything_a_decision_needs_at_once(storage, tenant) -> None:
    partition = storage.partition(tenant.tenant_id, "eu")
    old = T - timedelta(days=30)
    events = [
        Event("v1", "view", old, user_id="p1", item_id="b", session_id="s1"),
        Event("v2", "purchase", T, user_id="p1", item_id="a", session_id="s2"),
        Event("v3", "view", T + timedelta(seconds=5), user_id="p1", item_id="b", session_id="s2"),
        Event("v4", "view", T + timedelta(seconds=9), user_id="p1", item_id="c"),
        Event("v5", "dismiss", T, user_id="p1", item_id="x"),
        Event("o1", "view", T, user_id="p2", item_id="a"),
    ]
    with partition.transaction() as writer:
        writer.apply(derive(events[:3], 10, DEFAULT_WEIGHTS, FACETS), 10)
    with partition.transaction() as writer:
        writer.apply(derive(events[3:], 10, DEFAULT_WEIGHTS, FACETS), 10)
    found = partition.person_state("u:p1", micros(T))
    assert found.recent == seen_items(partition.recent_items("u:p1"))
    assert [r.item_id for r in found.recent] == ["c", "b", "a"]
    at = micros(T)
    assert found.sessions == [Session("s2", at, at + 5_000_000, ["b", "a"])]
    # a view of b 30 days (one half-life) ago counts half; the purchase of a (shoes) counts 5
    assert found.affinities == {
        "category": {"shoes": 5.0, "hats": 1.5},
        "tag": {"red": 6.5, "sale": 5.0},
    }
    assert list(found.affinities["tag"]) == ["red", "sale"]  # best first
    assert found.counters == {"dismiss": 1, "purchase": 1, "view": 3}
    assert found.attributes is None
    assert found.updated_us == {
        "affinities": at + 5_000_000,
        "counters": at + 9_000_000,
        "recent_items": at + 9_000_000,
    }
    later = partition.person_state("u:p1", micros(T + timedelta(days=30)))
    assert later.affinities["category"] == {"shoes": 2.5, "hats": 0.75}
    assert later.counters == found.counters
    assert partition.person_state("u:nobody", at) == PersonState(
        affinities={"category": {}, "tag": {}}
    )


def test_person_state_merges_put_and_event_attributes_field_by_field(storage, tenant) -> None:
    partition = storage.partition(tenant.tenant_id, "eu")
    put = PersonAttributes(birth_year=1980, segments=["vip"], home_region="eu")
    with partition.transaction() as writer:
        writer.set_attributes("u:p1", put, T)
        writer.set_attributes("u:p2", put, T)
    after, before = T + timedelta(hours=1), T - timedelta(hours=1)
    with partition.transaction() as writer:  # the latest event wins, whatever order they come in
        writer.apply(derive([attribute_event(1, 1990, after)], 10, DEFAULT_WEIGHTS, {}), 10)
        writer.apply(derive([attribute_event(2, 1991, after)], 10, DEFAULT_WEIGHTS, {}), 10)
        writer.apply(derive([attribute_event(0, 1989, after)], 10, DEFAULT_WEIGHTS, {}), 10)
        writer.apply(derive([attribute_event(3, 1970, before, "p2")], 10, DEFAULT_WEIGHTS, {}), 10)
    now = micros(T + timedelta(days=1))
    changed = partition.person_state("u:p1", now)
    assert changed.attributes == PersonAttributes(
        birth_year=1991, segments=["vip"], home_region="eu"
    )
    assert changed.updated_us["attributes"] == micros(after + timedelta(seconds=2))
    kept = partition.person_state("u:p2", now)  # an event older than the PUT changes nothing
    assert kept.attributes == put
    assert kept.updated_us["attributes"] == micros(T)
    assert partition.attributes(["u:p1"]) == {"u:p1": put}  # the PUT record, as GET shows it
    with partition.transaction() as writer:  # a later PUT wins again, every field
        writer.set_attributes("u:p1", PersonAttributes(segments=["new"]), T + timedelta(days=1))
    assert partition.person_state("u:p1", now).attributes == PersonAttributes(segments=["new"])


def test_trending_decays_each_items_weight_by_day(storage, tenant) -> None:
    partition = storage.partition(tenant.tenant_id, "eu")
    now = T + timedelta(days=60)
    events = [
        *(Event(f"o{i}", "purchase", T, user_id="p1", item_id="old") for i in range(4)),
        Event("n1", "view", now, user_id="p1", item_id="new"),
        Event("n2", "view", now - timedelta(days=1), user_id="p2", item_id="new"),
        Event("d1", "dismiss", now, user_id="p1", item_id="bad"),
        Event("i1", "impression", now, user_id="p1", item_id="shown", decision_id="d"),
    ]
    with partition.transaction() as writer:
        writer.apply(derive(events, 10, DEFAULT_WEIGHTS, {}), 10)
    at = micros(now)
    # four purchases (5 each) two half-lives ago; views today and yesterday; a dismiss is < 0
    assert partition.trending(at, 30, 10) == [
        ("old", 5.0),
        ("new", pytest.approx(1 + 0.5 ** (1 / 30))),
    ]
    assert [item for item, _ in partition.trending(at, 2, 10)] == ["new"]  # old: 30 half-lives
    assert partition.trending(at, 30, 1) == [("old", 5.0)]
    assert storage.partition(tenant.tenant_id, "us").trending(at, 30, 10) == []


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


def test_renewing_known_versions_never_tells_a_replaced_one(open_storage, storage, tenant) -> None:
    """``renew_known_versions`` may read again what memory holds, never keep what a later
    commit replaced."""
    mine = storage.partition(tenant.tenant_id, "eu")
    theirs = open_storage().partition(tenant.tenant_id, "eu")
    with mine.transaction() as writer:
        writer.apply(derive([ev(1, "a")], 10, DEFAULT_WEIGHTS, FACETS), 10)
    first = mine.person_version("u:p1")
    assert mine.known_person_version("u:p1") == first
    assert mine.renew_known_versions() >= 0
    assert mine.known_person_version("u:p1") in (None, first)
    with theirs.transaction() as writer:
        writer.set_attributes("u:p1", PersonAttributes(birth_year=1980), T)
    assert mine.renew_known_versions() >= 0
    assert mine.known_person_version("u:p1") in (None, first + 1)
    assert mine.person_version("u:p1") == first + 1
