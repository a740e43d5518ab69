"""Versioning rules for custom event types."""

from __future__ import annotations

from relevo.domain.schema_versions import Change, EventSchema, check_new_version, classify_change

V1 = {"type": "object", "properties": {"list": {"type": "string"}}, "required": ["list"]}


def schema(version: str, body: dict) -> EventSchema:
    return EventSchema("wishlist", version, body)


def refused(candidate: EventSchema, existing: list[EventSchema]) -> list[str]:
    return [v.rule for v in check_new_version(candidate, existing)[0]]


def test_first_version_must_be_1_0_0() -> None:
    assert refused(schema("1-0-0", V1), []) == []
    assert refused(schema("2-0-0", V1), []) == ["first_version"]


def test_adding_an_optional_field_is_a_minor_version() -> None:
    v2 = {**V1, "properties": {**V1["properties"], "note": {"type": "string"}}}
    assert classify_change(V1, v2)[0] is Change.MINOR
    assert refused(schema("1-1-0", v2), [schema("1-0-0", V1)]) == []
    assert refused(schema("2-0-0", v2), [schema("1-0-0", V1)]) == []


def test_removing_or_changing_or_requiring_a_field_needs_a_major_version() -> None:
    removed = {"type": "object", "properties": {}}
    changed = {**V1, "properties": {"list": {"type": "integer"}}}
    required = {**V1, "properties": {**V1["properties"], "n": {}}, "required": ["list", "n"]}
    for body in (removed, changed, required):
        assert classify_change(V1, body)[0] is Change.MAJOR
        assert refused(schema("1-1-0", body), [schema("1-0-0", V1)]) == ["compatibility"]
        assert refused(schema("2-0-0", body), [schema("1-0-0", V1)]) == []


def test_documentation_only_is_a_patch() -> None:
    documented = {**V1, "description": "a wish list entry"}
    assert classify_change(V1, documented)[0] is Change.PATCH
    assert refused(schema("1-0-1", documented), [schema("1-0-0", V1)]) == []


def test_versions_are_immutable_and_sequential() -> None:
    existing = [schema("1-0-0", V1)]
    assert check_new_version(schema("1-0-0", V1), existing) == ([], True)
    assert refused(schema("1-0-0", {"type": "object"}), existing) == ["immutable"]
    assert refused(schema("1-3-0", V1 | {"title": "x"}), existing) == ["next_version"]
    assert refused(schema("0-9-0", V1), existing) == ["increasing"]


def test_properties_schema_must_describe_an_object() -> None:
    assert refused(schema("1-0-0", {"type": "array"}), []) == ["const"]
