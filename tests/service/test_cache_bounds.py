"""Every in-memory cache is bounded: more entries than its bound leave it at the bound, and
``relevo_cache_entries`` reports what it holds (issue 17, point 8)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.utils import floatToGoString

from relevo.bootstrap import build
from relevo.decide.cache import TtlCache
from relevo.domain.decisions import DecisionRequest
from relevo.domain.pseudonyms import Pseudonymizer
from relevo.monitoring import CACHE_SIZES, CacheSizes
from tests.conftest import event, make_settings

LIMIT = 1_000


def test_a_ttl_cache_holds_at_most_its_bound() -> None:
    cache = TtlCache(max_entries=100, ttl_s=60)
    for n in range(250):
        cache.put(n, n)
    assert len(cache) == 100
    assert cache.get(249) == 249 and cache.get(0) is None


def test_a_ttl_cache_drops_expired_entries_as_new_ones_come() -> None:
    now = [0.0]
    cache = TtlCache(max_entries=10_000, ttl_s=2, clock=lambda: now[0])
    for n in range(5_000):  # 100 a second for 50 s, each key asked for once
        now[0] = n / 100
        cache.put(("request", n), n)
    assert len(cache) <= 2 * 100 + 1  # what two seconds bring, not 5,000 dead entries


def test_the_pseudonym_cache_is_cleared_when_full() -> None:
    pseudonymize = Pseudonymizer(b"k" * 32, limit=LIMIT)
    for n in range(2_500):
        pseudonymize("user_id", f"u-{n}")
        assert len(pseudonymize) <= LIMIT
    assert len(pseudonymize) == 2_500 % LIMIT


@pytest.fixture
def bounded(tmp_path: Path):
    engine = build(
        make_settings(
            tmp_path / "data",
            cache_id_entries=LIMIT,
            cache_people_entries=100,
            cache_answer_entries=100,
        )
    )
    tenant, _ = engine.tenancy.create_tenant("acme", ["eu", "us"])
    yield engine, tenant
    engine.close()


def test_people_ids_and_homes_stay_within_their_bound(bounded) -> None:
    engine, tenant = bounded
    people = [f"u-{n}" for n in range(1_500)]
    for start in range(0, len(people), 100):
        chunk = people[start : start + 100]
        engine.ingest.ingest(tenant, [event(f"e-{p}", user_id=p, item_id="sku-1") for p in chunk])
        assert len(engine.ingest._homes) <= LIMIT
    for person in people:
        request = DecisionRequest(user_id=person, k=1)
        engine.decisions.decide(tenant, request)
        assert len(engine.decisions.person.known) <= LIMIT
        assert len(engine.people._homes) <= LIMIT
        assert len(engine.pseudonymizer_for(tenant.tenant_id)) <= LIMIT
    decisions = engine.decisions
    for name, cache in {
        "answers": decisions.reuse.answers,
        "prepared": decisions.reuse.prepared,
        "states": decisions.person.states,
        "rankings": decisions.candidates.rankings,
        "latest": decisions.candidates.latest,
    }.items():
        assert cache.max_entries == 100 and len(cache) <= 100, name
    assert len(engine.decisions.reuse.prepared) == 100  # 1,500 people asked, the last 100 kept


def test_the_gauge_reports_each_cache_and_its_bound(bounded) -> None:
    engine, tenant = bounded
    engine.ingest.ingest(tenant, [event("e-1", user_id="u-1")])
    engine.decisions.decide(tenant, DecisionRequest(user_id="u-1", k=1))
    sizes = CACHE_SIZES.sizes()
    for name in ("rankings", "answers", "prepared", "states", "latest", "active"):
        assert name in sizes
    assert sizes["known_people"][0] >= 1 and sizes["pseudonyms"][0] >= 1
    gc.collect()  # other tests' engines, if garbage, are gone before both reads
    gc.disable()
    try:
        text = generate_latest(REGISTRY).decode()
        now = CACHE_SIZES.sizes()
    finally:
        gc.enable()
    for name in ("known_people", "pseudonyms", "people_homes", "ingest_homes", "api_keys"):
        held, limit = now[name]  # not changed by any background thread
        assert f'relevo_cache_entries{{cache="{name}"}} {floatToGoString(held)}' in text
        assert f'relevo_cache_max_entries{{cache="{name}"}} {floatToGoString(limit)}' in text


def test_a_cache_whose_owner_is_gone_stops_counting() -> None:
    from prometheus_client import CollectorRegistry

    sizes = CacheSizes(CollectorRegistry())

    class Owner:
        def __init__(self) -> None:
            self.kept = {1: 1}

    first, second = Owner(), Owner()
    sizes.track("demo", first, lambda o: len(o.kept), 10)
    sizes.track("demo", second, lambda o: len(o.kept), 10)
    assert sizes.sizes() == {"demo": (2, 20)}
    del second
    assert sizes.sizes() == {"demo": (1, 10)}
    del first
    assert sizes.sizes() == {}


def test_free_memory_is_given_back_where_the_c_library_can() -> None:
    import platform

    from relevo.monitoring import release_free_memory

    released = release_free_memory()
    assert released is (platform.libc_ver()[0] == "glibc")
