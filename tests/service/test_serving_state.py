"""What serving keeps in memory: loaded once, then checked and reloaded in the background so
that no request waits for a reload; and API keys, trusted for a few seconds once checked."""

from __future__ import annotations

import time

import relevo.tenancy.service as tenancy_module
from relevo.decide.promoted import ServingState
from relevo.domain.events import DEFAULT_WEIGHTS, IngestMode
from relevo.domain.tenants import Scope
from relevo.training.data import from_log
from tests.conftest import event, now


def eventually(check, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


def test_a_promotion_serves_after_a_background_reload_and_nobody_waits_for_it(
    relevo, tenant, monkeypatch
) -> None:
    relevo.catalog.upsert(tenant, [{"item_id": "a"}, {"item_id": "b"}])
    relevo.ingest.ingest(tenant, [event("e1", user_id="u1", item_id="a")], mode=IngestMode.BACKFILL)
    train = lambda: relevo.training.train(  # noqa: E731
        tenant, from_log(relevo.storage, tenant, DEFAULT_WEIGHTS), ["popularity"]
    )
    train()
    state = ServingState(relevo.catalog, relevo.registry, relevo.model_loader, refresh_s=0.05)
    first = state.model(tenant, "popularity")
    assert first is not None and first.record.version == 1
    train()  # version 2 is promoted
    time.sleep(0.06)
    loads = []
    load = relevo.model_loader.load
    monkeypatch.setattr(
        relevo.model_loader, "load", lambda *a: loads.append(time.sleep(0.3)) or load(*a)
    )
    started = time.monotonic()
    stale = state.model(tenant, "popularity")
    assert time.monotonic() - started < 0.2  # the slow reload runs in the background
    assert stale is first
    assert eventually(lambda: state.model(tenant, "popularity").record.version == 2)
    assert len(loads) == 1


def test_the_catalog_is_read_again_only_when_it_changed(relevo, tenant, monkeypatch) -> None:
    relevo.catalog.upsert(tenant, [{"item_id": "a"}])
    reads = []
    read = relevo.catalog.items_by_id
    monkeypatch.setattr(relevo.catalog, "items_by_id", lambda *a: reads.append(1) or read(*a))
    state = ServingState(relevo.catalog, relevo.registry, relevo.model_loader, refresh_s=0.02)
    assert set(state.catalog(tenant)) == {"a"}
    for _ in range(10):  # checked in the background, unchanged: not read again
        time.sleep(0.03)
        state.catalog(tenant)
    assert len(reads) == 1
    relevo.catalog.upsert(tenant, [{"item_id": "b"}])
    assert eventually(lambda: set(state.catalog(tenant)) == {"a", "b"})
    relevo.catalog.delete(tenant, "a")
    assert eventually(lambda: set(state.catalog(tenant)) == {"b"})


def test_a_key_revoked_elsewhere_stops_working_within_the_cache_time(
    relevo, tenant, monkeypatch
) -> None:
    monkeypatch.setattr(tenancy_module, "KEY_CACHE_S", 0.2)
    key, secret = relevo.tenancy.create_key(tenant.tenant_id, [Scope.SERVE])
    assert relevo.tenancy.authenticate(secret) is not None
    relevo.storage.tenants.revoke_key(key.key_id, now())  # as another process would
    assert relevo.tenancy.authenticate(secret) is not None  # trusted a little longer
    assert eventually(lambda: relevo.tenancy.authenticate(secret) is None, 2.0)
    assert relevo.tenancy.authenticate("rlv_unknown") is None
