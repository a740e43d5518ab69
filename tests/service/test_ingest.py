"""The ingest pipeline on real SQLite files: results, dedupe, quarantine, routing, privacy."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from relevo.bootstrap import build
from relevo.config import interaction_weights
from relevo.domain.derived import micros
from relevo.domain.events import IngestMode
from relevo.domain.people import PersonAttributes
from relevo.ingest.replay import rebuild_derived_state, replay_quarantine
from tests.conftest import event, iso, make_settings, now


def statuses(results) -> list[str]:
    return [r.status for r in results]


def test_a_batch_gets_a_result_per_event_and_bad_ones_never_block_good_ones(relevo, tenant) -> None:
    results = relevo.ingest.ingest(
        tenant, [event("e-1"), {"event_id": "e-2", "type": "view"}, event("e-3"), event("e-1")]
    )
    assert statuses(results) == ["accepted", "rejected", "accepted", "duplicate"]
    assert {v.pointer for v in results[1].reasons} == {"/occurred_at"}
    assert relevo.ingest.logged_events(tenant) == 2


def test_duplicates_are_never_counted_twice_even_after_a_restart(relevo, tenant, tmp_path) -> None:
    relevo.ingest.ingest(tenant, [event("e-1"), event("e-2")])
    from relevo.bootstrap import build
    from tests.conftest import make_settings

    again = build(make_settings(tmp_path / "data"))
    try:
        assert statuses(again.ingest.ingest(tenant, [event("e-2"), event("e-3")])) == [
            "duplicate",
            "accepted",
        ]
        state = again.storage.partition("acme", "eu").state()
        assert state.type_counts == {"view": 3}
        assert state.item_stats["sku-1"]["view"][0] == 3
    finally:
        again.close()


def test_refused_events_are_quarantined_with_pseudonymous_ids(relevo, tenant) -> None:
    relevo.ingest.ingest(
        tenant, [event("e-1", type="wishlist"), {"event_id": "e-2", "user_id": 12345}]
    )
    records = relevo.ingest.quarantined(tenant, "eu", 0, 10)
    assert [r.payload["event_id"] for r in records] == ["e-1", "e-2"]
    assert records[0].reasons[0].rule == "unknown_type"
    assert records[0].payload["user_id"] != "u-42" and len(records[0].payload["user_id"]) == 32
    assert set(records[1].payload["user_id"]) == {"redacted"}  # wrong type: kept refused, not raw
    assert "12345" not in msgspec.json.encode(records[1].payload).decode()


def test_quarantined_events_are_accepted_on_replay_once_their_schema_exists(relevo, tenant) -> None:
    wish = event("w-1", type="wishlist", properties={"list": "xmas"})
    bad = event("w-2", type="wishlist", properties={"list": 3})
    assert statuses(relevo.ingest.ingest(tenant, [wish, bad])) == ["rejected", "rejected"]
    relevo.schemas.register(
        "acme",
        {
            "type": "wishlist",
            "version": "1-0-0",
            "schema": {"type": "object", "properties": {"list": {"type": "string"}}},
        },
    )
    report = replay_quarantine(relevo.storage, relevo.ingest, tenant)
    assert (report.accepted, report.duplicate, report.rejected) == (1, 0, 1)
    left = relevo.ingest.quarantined(tenant, "eu", 0, 10)
    assert [(r.payload["event_id"], r.reasons[0].pointer) for r in left] == [
        ("w-2", "/properties/list")
    ]
    logged = relevo.storage.partition("acme", "eu").events()
    assert [e.event.event_id for e in logged] == ["w-1"]
    # the replayed event's person is the same pseudonym a live event of u-42 gets
    relevo.ingest.ingest(tenant, [event("v-1")])
    persons = {e.event.user_id for e in relevo.storage.partition("acme", "eu").events()}
    assert len(persons) == 1
    assert replay_quarantine(relevo.storage, relevo.ingest, tenant).accepted == 0


def test_custom_types_are_checked_against_the_named_or_latest_version(relevo, tenant) -> None:
    v1 = {"type": "object", "properties": {"list": {"type": "string"}}, "required": ["list"]}
    v2 = {
        "type": "object",
        "properties": {"list": {"type": "string"}, "n": {"type": "integer"}},
        "required": ["list"],
    }
    relevo.schemas.register("acme", {"type": "wishlist", "version": "1-0-0", "schema": v1})
    relevo.schemas.register("acme", {"type": "wishlist", "version": "1-1-0", "schema": v2})
    results = relevo.ingest.ingest(
        tenant,
        [
            event("a", type="wishlist", properties={"list": "x", "n": 2}),
            event("b", type="wishlist", properties={"list": "x", "n": "two"}),
            event(
                "c", type="wishlist", schema_version="1-0-0", properties={"list": "x", "n": "two"}
            ),
            event("d", type="wishlist", schema_version="9-0-0", properties={"list": "x"}),
            event("e", type="wishlist", properties={}),
        ],
    )
    assert statuses(results) == ["accepted", "rejected", "accepted", "rejected", "rejected"]
    assert [(v.pointer, v.rule) for v in results[1].reasons] == [("/properties/n", "type")]
    assert results[3].reasons[0].rule == "unknown_version"
    assert results[4].reasons[0].rule == "required"


def test_events_route_to_their_region_and_people_stay_home(relevo, tenant) -> None:
    relevo.ingest.ingest(
        tenant,
        [
            event("e-1", user_id="alice", context={"region": "us"}),
            event("e-2", user_id="alice"),  # no region: alice's home is us
            event("e-3", user_id="bob"),  # nobody: the tenant's first region
        ],
    )
    us = [e.event.event_id for e in relevo.storage.partition("acme", "us").events()]
    eu = [e.event.event_id for e in relevo.storage.partition("acme", "eu").events()]
    assert (us, eu) == (["e-1", "e-2"], ["e-3"])


def test_live_events_must_be_recent_but_backfills_may_be_old(relevo, tenant) -> None:
    old = event("old", occurred_at=iso(now() - timedelta(days=30)))
    assert statuses(relevo.ingest.ingest(tenant, [old])) == ["rejected"]
    assert statuses(relevo.ingest.ingest(tenant, [old], "import:x", IngestMode.BACKFILL)) == [
        "accepted"
    ]
    future = event("future", occurred_at=iso(now() + timedelta(hours=1)))
    assert statuses(relevo.ingest.ingest(tenant, [future], "import:x", IngestMode.BACKFILL)) == [
        "rejected"
    ]


def test_oversize_and_non_json_events_are_refused_and_kept(relevo, tenant) -> None:
    huge = msgspec.Raw(msgspec.json.encode(event("big", properties={"blob": "x" * 70_000})))
    broken = msgspec.Raw(b'{"event_id": "e", "user_id": "alice"')
    results = relevo.ingest.ingest(tenant, [huge, broken])
    assert [r.reasons[0].rule for r in results] == ["max_size", "json"]
    records = relevo.ingest.quarantined(tenant, "eu", 0, 10)
    assert len(records) == 2
    assert "alice" not in msgspec.json.encode(records[1].payload).decode()


def test_replay_rebuilds_exactly_the_live_state(relevo, tenant) -> None:
    relevo.catalog.upsert(
        tenant,
        [
            {"item_id": f"sku-{n}", "category": f"cat-{n % 2}", "tags": ["new", f"t-{n}"]}
            for n in range(4)  # sku-4 is not in the catalog
        ],
    )
    batch = [
        event(
            f"e-{i}",
            user_id=f"u-{i % 3}",
            item_id=f"sku-{i % 5}",
            session_id=f"s-{i % 4}",
            type=("view", "click", "purchase", "dismiss")[i % 4],
            context={"region": ("eu", "us")[i % 2]},
            occurred_at=iso(now() - timedelta(days=i % 6, minutes=i)),
            properties={"person": {"birth_year": 1950 + i}} if i % 7 == 0 else None,
        )
        for i in range(40)
    ]
    relevo.ingest.ingest(tenant, batch[:25])
    relevo.ingest.ingest(tenant, batch[20:])
    live = {r: relevo.storage.partition("acme", r).state() for r in tenant.regions}
    assert sum(sum(s.type_counts.values()) for s in live.values()) == 40
    assert all(s.person_days and s.item_days and s.event_attributes for s in live.values())
    counts = rebuild_derived_state(
        relevo.storage,
        tenant,
        relevo.settings.recent_items_limit,
        interaction_weights(relevo.settings, tenant.tenant_id),
    )
    assert sum(counts.values()) == 40
    rebuilt = {r: relevo.storage.partition("acme", r).state() for r in tenant.regions}
    assert rebuilt == live


def person(relevo, user_id: str) -> str:
    return "u:" + relevo.pseudonymizer_for("acme")("user_id", user_id)


def test_an_event_shows_in_its_persons_state_as_soon_as_ingest_returns(relevo, tenant) -> None:
    relevo.catalog.upsert(tenant, [{"item_id": "sku-1", "category": "shoes", "tags": ["red"]}])
    key, at = person(relevo, "u-42"), now()
    partition = relevo.storage.partition("acme", "eu")
    assert partition.person_state(key, micros(at)).counters == {}
    relevo.ingest.ingest(
        tenant,
        [
            event("e-1", type="purchase", session_id="s-1", occurred_at=iso(at)),
            event("e-2", type="signup", item_id=None, properties={"person": {"segments": ["vip"]}}),
        ],
    )
    state = partition.person_state(key, micros(at))
    assert state.affinities == {"category": {"shoes": 5.0}, "tag": {"red": 5.0}}
    assert state.counters == {"purchase": 1, "signup": 1}
    assert state.attributes == PersonAttributes(segments=["vip"])
    assert [(s.item_ids, s.first_at_us) for s in state.sessions] == [(["sku-1"], micros(at))]
    assert state.updated_us["affinities"] == micros(at)
    assert partition.trending(micros(at), 7, 10) == [("sku-1", 5.0)]


def test_affinities_fold_with_the_tenants_interaction_weights(tmp_path) -> None:
    engine = build(make_settings(tmp_path / "w", interaction_weights={"acme": {"view": 0.5}}))
    try:
        tenant, _ = engine.tenancy.create_tenant("acme", ["eu"])
        engine.catalog.upsert(tenant, [{"item_id": "sku-1", "category": "shoes"}])
        engine.ingest.ingest(tenant, [event("e-1"), event("e-2")])
        state = engine.storage.partition("acme", "eu").person_state(
            person(engine, "u-42"), micros(now())
        )
        assert state.affinities["category"] == {"shoes": 1.0}
        assert state.counters == {"view": 2}
    finally:
        engine.close()


def test_a_bad_person_in_properties_is_refused_and_its_neighbours_are_kept(relevo, tenant) -> None:
    results = relevo.ingest.ingest(
        tenant,
        [
            event("e-1", properties={"person": {"birth_year": 1990}}),
            event("e-2", properties={"person": {"birth_year": "1990"}}),
            event("e-3", properties={"person": {"home_region": "us"}}),
            event("e-4"),
        ],
    )
    assert statuses(results) == ["accepted", "rejected", "rejected", "accepted"]
    assert [(v.pointer, v.rule) for v in results[1].reasons] == [
        ("/properties/person/birth_year", "type")
    ]
    assert [(v.pointer, v.rule) for v in results[2].reasons] == [
        ("/properties/person/home_region", "fixed")
    ]
    quarantined = relevo.ingest.quarantined(tenant, "eu", 0, 10)
    assert [r.payload["event_id"] for r in quarantined] == ["e-2", "e-3"]
    state = relevo.storage.partition("acme", "eu").person_state(person(relevo, "u-42"), 0)
    assert state.attributes == PersonAttributes(birth_year=1990)


def test_a_person_stays_in_their_home_region_whatever_region_later_events_name(
    relevo, tenant
) -> None:
    relevo.ingest.ingest(tenant, [event("e-1", user_id="alice", context={"region": "us"})])
    relevo.ingest.ingest(tenant, [event("e-2", user_id="alice", context={"region": "eu"})])
    assert [e.event.event_id for e in relevo.storage.partition("acme", "us").events()] == [
        "e-1",
        "e-2",
    ]
    assert relevo.storage.partition("acme", "eu").count_events() == 0
    # the same event id re-sent with another region is still a duplicate: one file per person
    again = relevo.ingest.ingest(tenant, [event("e-1", user_id="alice", context={"region": "eu"})])
    assert statuses(again) == ["duplicate"]


def test_refused_events_of_a_known_person_stay_in_their_home_after_a_restart(
    relevo, tenant, tmp_path
) -> None:
    relevo.ingest.ingest(tenant, [event("e-1", user_id="alice", context={"region": "us"})])
    from relevo.bootstrap import build
    from tests.conftest import make_settings

    fresh = build(make_settings(tmp_path / "data"))  # no in-memory cache of homes
    try:
        fresh.ingest.ingest(tenant, [event("bad", user_id="alice", type="nope")])
        assert [r.payload["event_id"] for r in fresh.ingest.quarantined(tenant, "us", 0, 10)] == [
            "bad"
        ]
        replay_quarantine(fresh.storage, fresh.ingest, tenant)
        assert [r.payload["event_id"] for r in fresh.ingest.quarantined(tenant, "us", 0, 10)] == [
            "bad"
        ]
        assert fresh.ingest.quarantined(tenant, "eu", 0, 10) == []
    finally:
        fresh.close()


def test_the_size_limit_holds_on_every_path(relevo, tenant) -> None:
    huge = event("big", properties={"blob": "x" * 70_000})
    assert (
        relevo.ingest.ingest(tenant, [huge], "import:f", IngestMode.BACKFILL)[0].reasons[0].rule
        == "max_size"
    )
    report = replay_quarantine(relevo.storage, relevo.ingest, tenant)
    assert (report.accepted, report.rejected) == (0, 1)
    assert relevo.ingest.logged_events(tenant) == 0


def test_records_that_are_not_objects_keep_their_reason_through_replay(relevo, tenant) -> None:
    results = relevo.ingest.ingest(tenant, [1, "u-42", [event("x")]])
    assert [r.reasons[0].rule for r in results] == ["type", "type", "type"]
    before = [r.reasons for r in relevo.ingest.quarantined(tenant, "eu", 0, 10)]
    assert replay_quarantine(relevo.storage, relevo.ingest, tenant).rejected == 3
    after = relevo.ingest.quarantined(tenant, "eu", 0, 10)
    assert [r.reasons for r in after] == before
    assert all("u-42" not in msgspec.json.encode(r.payload).decode() for r in after)
