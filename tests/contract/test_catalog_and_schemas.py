"""Contract: Catalog, SchemaRegistry, PeopleDirectory, and tenant isolation."""

from __future__ import annotations

from datetime import UTC, datetime

from relevo.domain.items import Item
from relevo.domain.schema_versions import EventSchema

T = datetime(2026, 1, 1, tzinfo=UTC)


def test_items_upsert_get_page_delete(storage, tenant) -> None:
    catalog = storage.catalog("acme")
    catalog.upsert([Item("b", title="B"), Item("a", title="A", tags=["x"], price=2.5)], T)
    catalog.upsert([Item("b", title="B2", available=False)], T)
    assert catalog.get("b") == Item("b", title="B2", available=False)
    assert [i.item_id for i in catalog.page(None, 10)] == ["a", "b"]
    assert [i.item_id for i in catalog.page("a", 10)] == ["b"]
    assert catalog.delete("a") is True
    assert catalog.delete("a") is False
    assert catalog.get("a") is None


def test_facets_are_read_for_many_items_at_once(storage, tenant) -> None:
    catalog = storage.catalog("acme")
    items = [Item(f"i{n}", category=f"c{n % 3}", tags=[f"t{n}"]) for n in range(1_200)]
    catalog.upsert([*items, Item("bare", title="no category")], T)
    wanted = [f"i{n}" for n in range(0, 1_200, 2)] + ["bare", "missing"]
    found = catalog.facets(wanted)
    assert len(found) == 601
    assert found["i998"] == ("c2", ["t998"])
    assert found["bare"] == (None, [])
    assert catalog.facets([]) == {}
    assert storage.catalog("beta").facets(["i0"]) == {}


def test_one_tenant_never_sees_another_tenants_items(storage, tenant) -> None:
    storage.catalog("acme").upsert([Item("secret")], T)
    assert storage.catalog("beta").get("secret") is None
    assert storage.catalog("beta").page(None, 10) == []


def test_schemas_are_listed_by_type_and_version(storage, tenant) -> None:
    registry = storage.schemas("acme")
    first = EventSchema("wishlist", "1-0-0", {"type": "object"})
    second = EventSchema("wishlist", "1-1-0", {"type": "object", "properties": {"a": {}}})
    registry.add(first, T)
    registry.add(second, T)
    assert registry.versions("wishlist") == [first, second]
    assert registry.all() == {"wishlist": {"1-0-0": first, "1-1-0": second}}
    assert storage.schemas("beta").all() == {}


def test_schema_changes_from_another_process_are_seen(open_storage, storage, tenant) -> None:
    registry = storage.schemas("acme")
    assert registry.all() == {}
    other = open_storage()
    other.schemas("acme").add(EventSchema("wishlist", "1-0-0", {"type": "object"}), T)
    assert list(registry.all()) == ["wishlist"]


def test_home_regions_are_claimed_once(storage, tenant) -> None:
    people = storage.people("acme")
    assert people.claim_home_regions({"u:1": "eu", "u:2": "us"}) == {"u:1": "eu", "u:2": "us"}
    assert people.claim_home_regions({"u:1": "us"}) == {"u:1": "eu"}
    assert people.home_regions(["u:1", "u:3"]) == {"u:1": "eu"}
