"""Property: any sequence of events, re-sent in any order and grouping, with duplicates, yields
the same derived state (recent items and sessions, affinities, counters, popularity, attributes
set by events) and the same log contents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relevo.bootstrap import build
from relevo.domain.events import DEFAULT_WEIGHTS
from relevo.ingest.replay import rebuild_derived_state
from tests.conftest import iso, make_settings

BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(days=4)
ITEMS = [
    {"item_id": "a", "category": "shoes", "tags": ["red", "sale"]},
    {"item_id": "b", "category": "shoes", "tags": ["blue"]},
    {"item_id": "c", "tags": ["red"]},
]  # d is not in the catalog

events = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                ["view", "click", "add_to_cart", "purchase", "impression", "dismiss", "return"]
            ),
            "user_id": st.sampled_from(["u1", "u2", "u3"]),
            "item_id": st.sampled_from(["a", "b", "c", "d"]),
            "minute": st.integers(0, 60 * 24 * 3),
            "region": st.sampled_from([None, "eu", "us"]),
            "session": st.sampled_from([None, "s1", "s2"]),
            "birth_year": st.one_of(st.none(), st.integers(1950, 2010)),
        }
    ),
    min_size=1,
    max_size=25,
)


def envelope(index: int, spec: dict) -> dict:
    body = {
        "event_id": f"e-{index}",
        "type": spec["type"],
        "occurred_at": iso(BASE + timedelta(minutes=spec["minute"])),
        "user_id": spec["user_id"],
        "item_id": spec["item_id"],
    }
    if spec["type"] in ("impression",):
        body["decision_id"] = "d-1"
    if spec["region"]:
        body["context"] = {"region": spec["region"]}
    if spec["session"]:
        body["session_id"] = spec["session"]
    if spec["birth_year"]:
        body["properties"] = {"person": {"birth_year": spec["birth_year"]}}
    return body


def ingest_all(batches: list[list[dict]]) -> tuple[dict, dict]:
    with TemporaryDirectory() as root:
        relevo = build(make_settings(Path(root), recent_items_limit=3))
        try:
            tenant, _ = relevo.tenancy.create_tenant("acme", ["eu", "us"])
            relevo.catalog.upsert(tenant, ITEMS)
            for batch in batches:
                relevo.ingest.ingest(tenant, batch)
            states = {r: relevo.storage.partition("acme", r).state() for r in tenant.regions}
            logs = {
                r: sorted(e.event.event_id for e in relevo.storage.partition("acme", r).events())
                for r in tenant.regions
            }
            rebuild_derived_state(relevo.storage, tenant, 3, DEFAULT_WEIGHTS)
            assert {r: relevo.storage.partition("acme", r).state() for r in tenant.regions} == (
                states
            )
        finally:
            relevo.close()
    return states, logs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events, st.data())
def test_any_order_grouping_and_duplication_gives_the_same_state(specs, data) -> None:
    # A person's first event fixes their home region; keep that first in every order, as a
    # re-send of the same events would (the home is claimed once, then never moves).
    originals = [envelope(i, spec) for i, spec in enumerate(specs)]
    reference = ingest_all([originals])
    resent = originals + data.draw(st.lists(st.sampled_from(originals), max_size=10))
    order = data.draw(st.permutations(resent))
    firsts = {}
    for body in originals:
        firsts.setdefault(body["user_id"], body)
    order = list(firsts.values()) + order
    cuts = sorted(data.draw(st.lists(st.integers(0, len(order)), max_size=4)))
    batches = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True)]
    assert ingest_all([b for b in batches if b]) == reference


@given(
    st.lists(
        st.one_of(
            st.dictionaries(
                st.sampled_from(
                    ["event_id", "type", "occurred_at", "user_id", "item_id", "value", "context"]
                ),
                st.one_of(
                    st.none(),
                    st.integers(),
                    st.text(max_size=5),
                    st.lists(st.integers(), max_size=2),
                ),
            ),
            st.integers(),
            st.text(max_size=5),
        ),
        max_size=8,
    )
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_arbitrary_junk_is_refused_with_reasons_and_never_raises(junk) -> None:
    with TemporaryDirectory() as root:
        relevo = build(make_settings(Path(root)))
        try:
            tenant, _ = relevo.tenancy.create_tenant("acme", ["eu"])
            results = relevo.ingest.ingest(tenant, junk)
            assert [r.index for r in results] == list(range(len(junk)))
            for result in results:
                assert result.status == "rejected" and result.reasons
                assert all(v.rule and v.detail for v in result.reasons)
            assert len(relevo.ingest.quarantined(tenant, "eu", 0, 100)) == len(junk)
        finally:
            relevo.close()
