"""Contract: people's attributes, kept in the region partition of each person's home."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from relevo.domain.people import PersonAttributes
from relevo.domain.tenants import Tenant

T = datetime(2026, 1, 1, tzinfo=UTC)
ALICE = PersonAttributes(
    birth_year=1990,
    segments=["vip", "early-adopter"],
    attributes={"plan": "pro", "seats": 3, "score": 0.5, "trial": False},
    home_region="eu",
)


def test_attributes_round_trip(storage, tenant) -> None:
    partition = storage.partition(tenant.tenant_id, "eu")
    with partition.transaction() as writer:
        writer.set_attributes("u:alice", ALICE, T)
        writer.set_attributes("u:bob", PersonAttributes(home_region="eu"), T)
    assert partition.attributes(["u:alice", "u:bob", "u:nobody"]) == {
        "u:alice": ALICE,
        "u:bob": PersonAttributes(home_region="eu"),
    }
    found = partition.attributes(["u:alice"])["u:alice"]
    assert type(found.attributes["seats"]) is int and type(found.attributes["trial"]) is bool
    assert partition.attributes([]) == {}


def test_setting_again_replaces_the_whole_record(storage, tenant) -> None:
    partition = storage.partition(tenant.tenant_id, "eu")
    with partition.transaction() as writer:
        writer.set_attributes("u:alice", ALICE, T)
    with partition.transaction() as writer:
        writer.set_attributes("u:alice", PersonAttributes(segments=["churned"]), T)
    assert partition.attributes(["u:alice"]) == {"u:alice": PersonAttributes(segments=["churned"])}


def test_attributes_survive_a_restart(open_storage, storage, tenant) -> None:
    with storage.partition(tenant.tenant_id, "eu").transaction() as writer:
        writer.set_attributes("u:alice", ALICE, T)
    storage.close()
    assert open_storage().partition(tenant.tenant_id, "eu").attributes(["u:alice"]) == {
        "u:alice": ALICE
    }


def test_other_regions_and_tenants_do_not_see_them(storage, tenant) -> None:
    with storage.partition(tenant.tenant_id, "eu").transaction() as writer:
        writer.set_attributes("u:alice", ALICE, T)
    storage.tenants.add_tenant(Tenant("other", "other", ("eu",), T))
    assert storage.partition(tenant.tenant_id, "us").attributes(["u:alice"]) == {}
    assert storage.partition("other", "eu").attributes(["u:alice"]) == {}


def test_a_failed_transaction_sets_nothing(storage, tenant) -> None:
    partition = storage.partition(tenant.tenant_id, "eu")
    with pytest.raises(RuntimeError), partition.transaction() as writer:
        writer.set_attributes("u:alice", ALICE, T)
        raise RuntimeError("crash before commit")
    assert partition.attributes(["u:alice"]) == {}


def test_many_people_are_read_at_once(storage, tenant) -> None:
    partition = storage.partition(tenant.tenant_id, "eu")
    people = [f"u:{i}" for i in range(1_234)]
    with partition.transaction() as writer:
        for i, person in enumerate(people[::2]):
            writer.set_attributes(person, PersonAttributes(birth_year=1950 + i % 50), T)
    found = partition.attributes(people)
    assert sorted(found) == sorted(people[::2])
    assert found["u:2"] == PersonAttributes(birth_year=1951)
