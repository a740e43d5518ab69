"""Contract: TenantDirectory."""

from __future__ import annotations

from datetime import UTC, datetime

from relevo.domain.tenants import ApiKey, Scope, Tenant

T = datetime(2026, 1, 1, tzinfo=UTC)


def test_tenants_round_trip(storage, tenant) -> None:
    assert storage.tenants.tenant("acme") == tenant
    assert storage.tenants.tenant("nobody") is None
    other = Tenant("beta", "beta", ("us",), T)
    storage.tenants.add_tenant(other)
    assert [t.tenant_id for t in storage.tenants.tenants()] == ["acme", "beta"]


def test_keys_are_found_by_hash_and_revoked_once(storage, tenant) -> None:
    key = ApiKey("k1", "acme", frozenset({Scope.INGEST, Scope.SERVE}), "web", T)
    storage.tenants.add_key(key, "hash-1")
    assert storage.tenants.key_by_hash("hash-1") == key
    assert storage.tenants.key_by_hash("hash-2") is None
    assert storage.tenants.revoke_key("k1", T) is True
    assert storage.tenants.revoke_key("k1", T) is False
    assert storage.tenants.key_by_hash("hash-1").revoked_at == T
    assert [k.key_id for k in storage.tenants.keys("acme")] == ["k1"]


def test_tenants_survive_a_restart(open_storage, tenant, storage) -> None:
    storage.close()
    assert open_storage().tenants.tenant("acme") == tenant


def test_ping_succeeds_on_a_reachable_store(storage) -> None:
    storage.tenants.ping()
