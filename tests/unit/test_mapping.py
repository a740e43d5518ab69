"""Column mappings for bulk import."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from relevo.decoding import InvalidInput
from relevo.file_import.mapping import (
    EVENT_FIELDS,
    EVENT_OBJECTS,
    RowMapper,
    parse_mapping,
    row_fingerprint,
)


def test_mapping_builds_nested_fields_and_converts_cells() -> None:
    pairs = parse_mapping(
        "user_id=C,item_id=S,value=Q,occurred_at=D,properties.country=K",
        EVENT_FIELDS,
        EVENT_OBJECTS,
    )
    mapper = RowMapper(pairs, ["C", "S", "Q", "D", "K"], {"type": "purchase"})
    record = mapper(("17850", "85123A", "6", "2010-12-01 08:26:00", "United Kingdom"))
    assert record == {
        "type": "purchase",
        "user_id": "17850",
        "item_id": "85123A",
        "value": 6.0,
        "occurred_at": datetime(2010, 12, 1, 8, 26, tzinfo=UTC),
        "properties": {"country": "United Kingdom"},
    }


def test_empty_cells_are_absent_and_bad_cells_pass_through_for_the_pipeline_to_refuse() -> None:
    mapper = RowMapper(parse_mapping("user_id=C,value=Q", EVENT_FIELDS, EVENT_OBJECTS), ["C", "Q"])
    assert mapper((None, "")) == {}
    assert mapper(("u", "many")) == {"user_id": "u", "value": "many"}


@pytest.mark.parametrize(
    ("text", "rule"), [("user_id", "syntax"), ("userid=C", "field"), ("=C", "syntax")]
)
def test_bad_mappings_name_the_part_and_rule(text: str, rule: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_mapping(text, EVENT_FIELDS, EVENT_OBJECTS)
    assert caught.value.violations[0].rule == rule
    assert caught.value.violations[0].pointer == "/map/0"


def test_a_missing_column_is_named() -> None:
    with pytest.raises(InvalidInput) as caught:
        RowMapper(parse_mapping("user_id=Customer", EVENT_FIELDS, EVENT_OBJECTS), ["CustomerID"])
    assert "Customer" in caught.value.violations[0].detail


def test_row_fingerprint_is_stable_and_distinguishes_rows() -> None:
    assert row_fingerprint(("a", "b")) == row_fingerprint(("a", "b")) != row_fingerprint(("a", "c"))


def test_consent_and_region_cells_are_typed() -> None:
    pairs = parse_mapping("user_id=u,consent.personalization=c", EVENT_FIELDS, EVENT_OBJECTS)
    assert RowMapper(pairs, ["u", "c"])(("x", "false")) == {
        "user_id": "x",
        "consent": {"personalization": False},
    }
