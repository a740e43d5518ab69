"""People's attributes: the contract's field rules, the tenant's rules, and the age policy reads."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from relevo.decoding import decode
from relevo.domain.people import PersonAttributes, age_on, check_attributes

TODAY = date(2026, 6, 15)
REGIONS = ("eu", "us")


@pytest.mark.parametrize(
    ("birth_year", "today", "age"),
    [
        (2000, date(2026, 6, 15), 25),  # birthday may not have come yet: the younger age
        (2000, date(2026, 1, 1), 25),
        (2000, date(2026, 12, 30), 25),
        (2000, date(2026, 12, 31), 26),  # every birthday of the year has passed
        (2008, date(2026, 6, 15), 17),  # perhaps 18 already; an 18+ gate still says no
        (2008, date(2026, 12, 31), 18),
        (2026, date(2026, 3, 1), 0),  # born this year
        (2026, date(2026, 12, 31), 0),
        (2025, date(2026, 6, 15), 0),
        (1900, date(2026, 6, 15), 125),
        (2000, datetime(2026, 12, 31, 23, 59), 26),  # a datetime is a date too
    ],
)
def test_age_is_the_youngest_the_person_can_be(birth_year, today, age) -> None:
    assert age_on(birth_year, today) == age


def test_an_unknown_birth_year_is_an_unknown_age() -> None:
    assert age_on(None, TODAY) is None


def test_a_birth_year_after_today_never_makes_a_negative_age() -> None:
    assert age_on(2030, TODAY) == 0


def rules(payload: dict) -> list[tuple[str, str]]:
    attributes, problems = decode(payload, PersonAttributes)
    if attributes is not None:
        problems = check_attributes(attributes, REGIONS, TODAY)
    return [(v.pointer, v.rule) for v in problems]


def test_valid_attributes_break_no_rule() -> None:
    assert rules({}) == []
    full = {
        "birth_year": 1990,
        "segments": ["vip", "early_adopter", "tier-2", "x" * 64] + ["s"] * 96,
        "attributes": {f"k{i}": [1, 2.5, True, "pro"][i % 4] for i in range(100)},
        "home_region": "us",
    }
    assert rules(full) == []
    assert rules({"birth_year": 1900}) == rules({"birth_year": TODAY.year}) == []


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"birth_year": 1899}, ("/birth_year", "minimum")),
        ({"birth_year": 2027}, ("/birth_year", "maximum")),
        ({"birth_year": "1990"}, ("/birth_year", "type")),
        ({"birth_year": 1990.5}, ("/birth_year", "type")),  # 1990.0 is 1990, as in JSON
        ({"birth_year": True}, ("/birth_year", "type")),
        ({"segments": "vip"}, ("/segments", "type")),
        ({"segments": ["VIP"]}, ("/segments/0", "pattern")),
        ({"segments": ["ok", "has space"]}, ("/segments/1", "pattern")),
        ({"segments": ["vip\n"]}, ("/segments/0", "pattern")),
        ({"segments": [""]}, ("/segments/0", "min_length")),
        ({"segments": ["x" * 65]}, ("/segments/0", "max_length")),
        ({"segments": ["s"] * 101}, ("/segments", "max_length")),
        ({"attributes": {"k": [1]}}, ("/attributes", "type")),
        ({"attributes": {"k": None}}, ("/attributes", "type")),
        ({"attributes": {"k": "x" * 1_001}}, ("/attributes", "max_length")),
        ({"attributes": {"": 1}}, ("/attributes", "min_length")),
        ({"attributes": {f"k{i}": 1 for i in range(101)}}, ("/attributes", "max_length")),
        ({"attributes": []}, ("/attributes", "type")),
        ({"home_region": "mars"}, ("/home_region", "enum")),
        ({"home_region": "EU!"}, ("/home_region", "pattern")),
        ({"age": 30}, ("/age", "unknown_field")),
    ],
)
def test_each_broken_rule_is_named(payload, expected) -> None:
    assert expected in rules(payload)


def test_every_broken_rule_is_reported_at_once() -> None:
    found = rules({"birth_year": 1800, "segments": ["A"], "colour": "red"})
    assert set(found) == {
        ("/birth_year", "minimum"),
        ("/segments/0", "pattern"),
        ("/colour", "unknown_field"),
    }
    tenant_rules = check_attributes(
        PersonAttributes(birth_year=2030, home_region="mars"), REGIONS, TODAY
    )
    assert [(v.pointer, v.rule) for v in tenant_rules] == [
        ("/birth_year", "maximum"),
        ("/home_region", "enum"),
    ]
