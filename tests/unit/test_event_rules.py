"""The event contract's rules, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from relevo.decoding import decode
from relevo.domain.events import Event, IngestMode, TimePolicy, check_event

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
REGIONS = ("eu", "us")


def rules(event: Event, mode: IngestMode = IngestMode.LIVE, custom=None) -> list[tuple[str, str]]:
    found = check_event(event, NOW, REGIONS, TimePolicy(), mode, custom or {})
    return [(v.pointer, v.rule) for v in found]


def make(**fields) -> Event:
    base = {"event_id": "e", "type": "view", "occurred_at": NOW, "user_id": "u", "item_id": "i"}
    base.update(fields)
    return msgspec.convert({k: v for k, v in base.items() if v is not None}, Event)


def test_a_valid_event_breaks_no_rule() -> None:
    assert rules(make()) == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"item_id": None}, ("/item_id", "required")),
        ({"user_id": None}, ("/user_id", "one_of_required")),
        ({"type": "rate"}, ("/value", "required")),
        ({"type": "signup", "user_id": None, "anonymous_id": "a"}, ("/user_id", "required")),
        ({"type": "search", "item_id": None}, ("/properties/query", "required")),
        ({"type": "impression", "item_id": None}, ("/decision_id", "required")),
        ({"type": "conversion"}, ("/decision_id", "required")),
        ({"type": "wishlist"}, ("/type", "unknown_type")),
        ({"context": {"region": "mars"}}, ("/context/region", "enum")),
        ({"occurred_at": NOW + timedelta(minutes=6)}, ("/occurred_at", "future_skew")),
        ({"occurred_at": NOW - timedelta(days=8)}, ("/occurred_at", "late_horizon")),
        ({"occurred_at": datetime(2026, 11, 21, 9, 0)}, ("/occurred_at", "timezone")),
        ({"schema_version": "1-0-0"}, ("/schema_version", "custom_only")),
    ],
)
def test_each_rule_names_its_field(fields, expected) -> None:
    assert expected in rules(make(**fields))


def test_backfill_accepts_old_events_but_not_future_ones() -> None:
    assert rules(make(occurred_at=NOW - timedelta(days=400)), IngestMode.BACKFILL) == []
    future = make(occurred_at=NOW + timedelta(hours=1))
    assert ("/occurred_at", "future_skew") in rules(future, IngestMode.BACKFILL)


def test_within_skew_and_horizon_is_fine() -> None:
    assert rules(make(occurred_at=NOW + timedelta(minutes=4))) == []
    assert rules(make(occurred_at=NOW - timedelta(days=6, hours=23))) == []


def test_registered_custom_type_is_known() -> None:
    assert rules(make(type="wishlist"), custom={"wishlist": {}}) == []


def test_an_event_may_set_its_persons_attributes() -> None:
    person = {"birth_year": 1990, "segments": ["vip"], "attributes": {"plan": "pro", "seats": 3}}
    assert rules(make(properties={"person": person})) == []
    assert rules(make(type="signup", item_id=None, properties={"person": {}})) == []
    assert rules(make(properties={"person": {"birth_year": None}})) == []  # unknown again


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ({"birth_year": "1990"}, [("/properties/person/birth_year", "type")]),
        ({"birth_year": 1850}, [("/properties/person/birth_year", "minimum")]),
        ({"birth_year": NOW.year + 1}, [("/properties/person/birth_year", "maximum")]),
        ({"segments": ["vip", "Not OK"]}, [("/properties/person/segments/1", "pattern")]),
        ({"attributes": {"plan": ["a"]}}, [("/properties/person/attributes", "type")]),
        ({"home_region": "eu"}, [("/properties/person/home_region", "fixed")]),
        ({"age": 30}, [("/properties/person/age", "unknown_field")]),
        ("u-42", [("/properties/person", "type")]),
        (None, [("/properties/person", "type")]),
        (
            {"birth_year": True, "segments": "vip"},
            [("/properties/person/birth_year", "type"), ("/properties/person/segments", "type")],
        ),
    ],
)
def test_bad_person_attributes_in_an_event_name_their_field(person, expected) -> None:
    assert rules(make(properties={"person": person})) == expected


def test_an_event_cannot_move_a_persons_home_and_says_why() -> None:
    event = make(properties={"person": {"home_region": "us", "birth_year": 1990}})
    [found] = check_event(event, NOW, REGIONS, TimePolicy(), IngestMode.LIVE, {})
    assert "fixed by their first event or PUT" in found.detail


@pytest.mark.parametrize(
    ("payload", "pointer", "rule"),
    [
        ({"type": "view", "occurred_at": "2026-11-21T10:00:00Z"}, "/event_id", "required"),
        (
            {"event_id": "", "type": "view", "occurred_at": "2026-11-21T10:00:00Z"},
            "/event_id",
            "min_length",
        ),
        (
            {"event_id": "e", "type": "View!", "occurred_at": "2026-11-21T10:00:00Z"},
            "/type",
            "pattern",
        ),
        ({"event_id": "e", "type": "view", "occurred_at": "soon"}, "/occurred_at", "format"),
        (
            {"event_id": "e", "type": "view", "occurred_at": "2026-11-21T10:00:00Z", "user_id": 7},
            "/user_id",
            "type",
        ),
        (
            {"event_id": "e", "type": "view", "occurred_at": "2026-11-21T10:00:00Z", "userid": "u"},
            "/userid",
            "unknown_field",
        ),
        (
            {
                "event_id": "e",
                "type": "view",
                "occurred_at": "2026-11-21T10:00:00Z",
                "consent": {"ads": "yes"},
            },
            "/consent",
            "type",
        ),
    ],
)
def test_decoding_reports_every_bad_field(payload, pointer, rule) -> None:
    event, violations = decode(payload, Event)
    assert event is None
    assert (pointer, rule) in [(v.pointer, v.rule) for v in violations]


def test_decoding_reports_all_violations_at_once() -> None:
    _, violations = decode({"event_id": 1, "type": 2, "occurred_at": 3}, Event)
    assert {v.pointer for v in violations} == {"/event_id", "/type", "/occurred_at"}
