"""Decisions on a real engine (SQLite files, trained models): every filter, fail-closed policy,
reasons, and the fallback chain under injected faults."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from types import SimpleNamespace

import msgspec
import pytest
from prometheus_client import REGISTRY

from relevo.adapters.sqlite.region import SqliteRegionPartition, person_versions
from relevo.decide.candidates import RANKING_IDLE_S
from relevo.decide.pipeline import DecisionService
from relevo.decide.promoted import ServingState
from relevo.decoding import InvalidInput
from relevo.domain.decisions import DecisionRequest, Filters, Trace
from relevo.domain.events import DEFAULT_WEIGHTS, IngestMode
from relevo.domain.model_names import HYBRID_BASES
from relevo.domain.strategies import strategies
from relevo.monitoring import ANSWERS
from relevo.training.data import from_log
from tests.conftest import event, iso, now

BOOKS = [f"book-{i}" for i in range(8)]
TOOLS = [f"tool-{i}" for i in range(8)]


@pytest.fixture
def shop(relevo, tenant):
    """A catalog of books and tools, people who buy one kind each, and trained models."""
    catalog = [
        {"item_id": b, "title": f"Novel {b}", "category": "books", "tags": ["paper"], "price": 10}
        for b in BOOKS
    ]
    catalog += [
        {"item_id": t, "title": f"Hammer {t}", "category": "tools", "tags": ["steel"], "price": 30}
        for t in TOOLS
    ]
    catalog += [
        {"item_id": "book-eu-only", "title": "EU novel", "category": "books", "regions": ["eu"]},
        {"item_id": "book-adult", "title": "Adult novel", "category": "books", "min_age": 18},
        {"item_id": "book-gone", "title": "Sold out", "category": "books", "available": False},
    ]
    assert {r.status for r in relevo.catalog.upsert(tenant, catalog)} == {"upserted"}
    events = []
    for person in range(30):
        group = [*BOOKS, "book-eu-only", "book-adult", "book-gone"] if person % 2 else TOOLS
        for j, item in enumerate(group[person % 3 : person % 3 + 5]):
            events.append(
                event(
                    f"e{person}-{j}",
                    type="purchase",
                    user_id=f"u{person}",
                    item_id=item,
                    occurred_at=iso(now() - timedelta(days=20 - j)),
                    context={"region": "eu"},
                )
            )
    relevo.ingest.ingest(tenant, events, mode=IngestMode.BACKFILL)
    data = from_log(relevo.storage, tenant, DEFAULT_WEIGHTS)
    relevo.training.train(tenant, data, ["popularity", "itemknn"])
    return relevo, tenant


def decider(relevo, placements=None, traces=None, **more) -> DecisionService:
    recorded = traces if traces is not None else []
    return DecisionService(
        relevo.storage,
        ServingState(relevo.catalog, relevo.registry, relevo.model_loader, refresh_s=0),
        relevo.pseudonymizer_for,
        relevo.people.home_region,
        strategies({"knn": {"model": "itemknn"}, **(placements or {})}),
        lambda tenant_id: DEFAULT_WEIGHTS,
        lambda tenant_id, region, encoded: recorded.append(encoded.trace()),
        **more,
    )


def counted_runs(service: DecisionService, tenant, monkeypatch) -> list[int]:
    """The item-kNN model's runs from now on: one entry per call of its ``score``."""
    served = service.serving.model(tenant, "itemknn")
    calls: list[int] = []
    score = served.model.score
    monkeypatch.setattr(served.model, "score", lambda *a, **k: calls.append(1) or score(*a, **k))
    return calls


def ask(**fields) -> DecisionRequest:
    return DecisionRequest(**{"placement": "knn", "user_id": "u1", "k": 5, **fields})


def test_a_reader_gets_books_with_reasons_and_a_trace(shop) -> None:
    relevo, tenant = shop
    traces: list = []
    answer = decider(relevo, traces=traces).decide(tenant, ask(explain=True))
    assert answer.fallback == "none" and answer.model_version.startswith("itemknn:")
    first = answer.items[0]
    assert first.item_id.startswith("book") and first.reasons[0].startswith("Because you bought")
    for item in answer.items:  # the model's items, then popular ones to fill the k slots
        assert item.reasons[0].startswith("Because you bought") or item.reasons == (
            "Popular in your region",
        )
    trace = answer.trace
    assert trace is not None and trace.decision_id == answer.decision_id
    assert traces == [msgspec.json.decode(msgspec.json.encode(trace), type=Trace)]  # as written
    assert trace.person.startswith("u:") and "u1" not in trace.person  # a pseudonym
    assert {f.name for f in trace.filters} >= {"unavailable", "region", "age", "seen"}
    assert set(trace.stages_ms) == {"person", "model", "filters", "rank", "reasons"}


def test_policy_filters_each_record_what_they_removed(shop) -> None:
    relevo, tenant = shop
    answer = decider(relevo).decide(tenant, ask(k=20, explain=True))
    shown = {i.item_id for i in answer.items}
    assert "book-gone" not in shown  # unavailable
    assert "book-adult" not in shown  # age unknown: fails closed
    removed = {f.name: f.removed for f in answer.trace.filters}
    assert removed["unavailable"] >= 1 and removed["age"] >= 1


def test_age_gated_items_only_for_people_old_enough(shop) -> None:
    relevo, tenant = shop
    service = decider(relevo, {"all": {"model": "itemknn", "exclude_seen": False}})
    relevo.people.put(tenant, "u3", {"birth_year": now().year - 30})
    relevo.people.put(tenant, "u5", {"birth_year": now().year - 12})
    adult = service.decide(tenant, ask(placement="all", user_id="u3", k=30))
    child = service.decide(tenant, ask(placement="all", user_id="u5", k=30))
    assert "book-adult" in {i.item_id for i in adult.items}
    assert "book-adult" not in {i.item_id for i in child.items}


def test_region_limited_items_only_in_their_region(shop) -> None:
    relevo, tenant = shop
    service = decider(relevo, {"all": {"model": "itemknn", "exclude_seen": False}})
    nobody_in_us = service.decide(
        tenant, ask(placement="all", user_id=None, context={"region": "us"}, k=30)
    )
    assert "book-eu-only" not in {i.item_id for i in nobody_in_us.items}
    person_in_eu = service.decide(tenant, ask(placement="all", user_id="u3", k=30))
    assert "book-eu-only" in {i.item_id for i in person_in_eu.items}


@pytest.mark.parametrize(
    ("fields", "kept"),
    [
        ({"exclude_ids": ["book-1", "book-2"]}, lambda i: i not in ("book-1", "book-2")),
        ({"filters": Filters(category=["tools"])}, lambda i: i.startswith("tool")),
        ({"filters": Filters(tags=["steel"])}, lambda i: i.startswith("tool")),
        ({"filters": Filters(price_max=20)}, lambda i: i.startswith("book")),
    ],
)
def test_request_filters(shop, fields, kept) -> None:
    relevo, tenant = shop
    answer = decider(relevo).decide(tenant, ask(k=20, **fields))
    assert answer.items and all(kept(i.item_id) for i in answer.items)


def test_placement_rules_include_exclude_and_boost(shop) -> None:
    relevo, tenant = shop
    service = decider(
        relevo,
        {
            "tools-only": {"model": "itemknn", "rules": ["include category=tools"]},
            "no-books": {"model": "itemknn", "rules": ["exclude category=books"]},
            "boosted": {
                "model": "itemknn",
                "rules": ["boost category=tools 1000"],
                "exclude_seen": False,
            },
        },
    )
    assert all(
        i.item_id.startswith("tool")
        for i in service.decide(tenant, ask(placement="tools-only")).items
    )
    assert all(
        i.item_id.startswith("tool")
        for i in service.decide(tenant, ask(placement="no-books")).items
    )
    reader = service.decide(tenant, ask(placement="boosted", k=3, user_id="u0"))
    assert reader.items[0].item_id.startswith("tool")


def test_diversity_caps_items_per_category(shop) -> None:
    relevo, tenant = shop
    service = decider(relevo, {"mixed": {"model": "itemknn", "max_per_category": 2}})
    answer = service.decide(tenant, ask(placement="mixed", k=4))
    categories = [i.item_id.split("-")[0] for i in answer.items]
    assert max(categories.count(c) for c in set(categories)) <= 2


def test_exploration_fills_a_slot_with_the_reason(shop) -> None:
    relevo, tenant = shop
    service = decider(relevo, {"explore": {"model": "itemknn", "exploration": 1.0}})
    answer = service.decide(tenant, ask(placement="explore", k=3))
    assert "Exploration" in answer.items[-1].reasons


def test_exploration_replaces_a_slot_in_about_its_share_of_answers(shop) -> None:
    relevo, tenant = shop
    exploring = {"model": "itemknn", "exploration": 0.3, "cache_ttl_s": 0}
    service = decider(relevo, {"explore": exploring, "plain": exploring | {"exploration": 0}})
    plain = service.decide(tenant, ask(placement="plain", k=3))
    answers = [service.decide(tenant, ask(placement="explore", k=3)) for _ in range(300)]
    explored = [a for a in answers if "Exploration" in a.items[-1].reasons]
    assert 50 <= len(explored) <= 130  # 90 expected; the bounds are 4.5 standard deviations
    assert {a.items[-1].item_id for a in explored}.isdisjoint(i.item_id for i in plain.items)
    assert all(a.items[:2] == plain.items[:2] for a in explored)


def test_an_event_is_visible_to_the_very_next_decision(shop) -> None:
    relevo, tenant = shop
    service = decider(relevo)
    before = service.decide(tenant, ask(user_id="newcomer", k=3, explain=True))
    assert before.trace.person_state["recent_items"] == ()
    relevo.ingest.ingest(tenant, [event("fresh", user_id="newcomer", item_id="tool-3")])
    after = service.decide(tenant, ask(user_id="newcomer", k=3, explain=True))
    assert after.trace.person_state["recent_items"] == ("tool-3",)
    assert "tool-3" not in {i.item_id for i in after.items}  # seen
    assert after.items[0].item_id.startswith("tool")


def test_a_newcomers_first_event_moves_the_next_decision_to_their_home(shop) -> None:
    """Someone never seen is asked for where the request says; once their first event gives
    them a home, the very next decision reads them there (a key and home are remembered only
    once the home exists)."""
    relevo, tenant = shop
    service = decider(relevo)
    asked = ask(user_id="traveller", k=3, explain=True, context={"region": "us"})
    assert service.decide(tenant, asked).trace.region == "us"
    arrived = event("landed", user_id="traveller", item_id="tool-3", context={"region": "eu"})
    relevo.ingest.ingest(tenant, [arrived])
    for _ in range(2):  # worked out, then remembered
        after = service.decide(tenant, asked).trace
        assert (after.region, after.person_state["recent_items"]) == ("eu", ("tool-3",))


def test_online_features_reach_the_next_decision_with_their_ages(shop) -> None:
    relevo, tenant = shop
    service = decider(relevo)
    relevo.ingest.ingest(
        tenant,
        [
            event(
                "s1",
                user_id="reader",
                item_id="book-2",
                session_id="visit-1",
                occurred_at=iso(now() - timedelta(minutes=2)),
            ),
            event("s2", type="purchase", user_id="reader", item_id="book-3", session_id="visit-1"),
        ],
    )
    trace = service.decide(tenant, ask(user_id="reader", explain=True)).trace
    state = trace.person_state
    assert state["affinities"]["category"] == {"books": pytest.approx(6.0, rel=0.01)}
    assert set(state["affinities"]["tag"]) == {"paper"}
    assert state["counters"] == {"view": 1, "purchase": 1}
    assert [s["items"] for s in state["sessions"]] == [("book-3", "book-2")]  # newest first
    assert set(trace.feature_age_s) == {"recent_items", "counters", "affinities"}
    assert 0 < trace.feature_age_s["recent_items"] < 300
    relevo.ingest.ingest(tenant, [event("s3", user_id="reader", item_id="tool-1")])
    later = service.decide(tenant, ask(user_id="reader", explain=True)).trace.person_state
    assert later["affinities"]["category"]["tools"] > 0 and later["counters"]["view"] == 2


def test_a_birth_year_sent_in_an_event_opens_age_gated_items(shop) -> None:
    relevo, tenant = shop
    service = decider(relevo, {"all": {"model": "itemknn", "exclude_seen": False}})
    before = service.decide(tenant, ask(placement="all", user_id="u3", k=30))
    assert "book-adult" not in {i.item_id for i in before.items}
    signup = event("signup-u3", type="signup", user_id="u3", item_id=None)
    signup["properties"] = {"person": {"birth_year": now().year - 30, "segments": ["vip"]}}
    assert relevo.ingest.ingest(tenant, [signup])[0].status == "accepted"
    after = service.decide(tenant, ask(placement="all", user_id="u3", k=30, explain=True))
    assert "book-adult" in {i.item_id for i in after.items}
    assert after.trace.person_state["age_known"] and after.trace.person_state["segments"] == (
        "vip",
    )


def test_a_liked_category_gives_its_reason(shop) -> None:
    relevo, tenant = shop
    service = decider(relevo, {"popular": {"model": "popularity", "exclude_seen": False}})
    relevo.ingest.ingest(
        tenant,
        [event(f"like-{i}", user_id="fan", item_id=f"tool-{i}", type="purchase") for i in range(3)],
    )
    answer = service.decide(tenant, ask(placement="popular", user_id="fan", k=16))
    reasons = {i.item_id: i.reasons for i in answer.items}
    assert all(r[0] == "Because you like tools" for item, r in reasons.items() if "tool" in item)
    assert not any("Because you like" in " ".join(r) for i, r in reasons.items() if "book" in i)


def test_without_consent_the_answer_is_not_personalized(shop) -> None:
    relevo, tenant = shop
    answer = decider(relevo).decide(tenant, ask(context={"consent": {"personalization": False}}))
    assert answer.fallback == "no_consent" and answer.model_version == "" and answer.items


def test_no_model_falls_back_to_popular(shop) -> None:
    relevo, tenant = shop
    answer = decider(relevo, {"ease": {"model": "ease"}}).decide(tenant, ask(placement="ease"))
    assert answer.fallback == "no_model" and len(answer.items) == 5
    assert all(i.reasons == ("Popular in your region",) for i in answer.items)


def test_a_failing_model_falls_back_then_the_breaker_opens(shop, monkeypatch) -> None:
    relevo, tenant = shop
    service = decider(relevo)
    served = service.serving.model(tenant, "itemknn")

    def broken(*args, **kwargs):
        raise RuntimeError("model exploded")

    monkeypatch.setattr(served.model, "score", broken)
    fallbacks = [service.decide(tenant, ask()).fallback for _ in range(6)]
    assert fallbacks[:5] == ["model_error"] * 5 and fallbacks[5] == "circuit_open"


def test_a_slow_model_is_not_waited_for(shop, monkeypatch) -> None:
    relevo, tenant = shop
    service = decider(relevo, {"tight": {"model": "itemknn", "model_budget_ms": 20}})
    served = service.serving.model(tenant, "itemknn")
    release = threading.Event()

    def slow(*args, **kwargs):
        release.wait(10)
        raise RuntimeError("too late")

    monkeypatch.setattr(served.model, "score", slow)
    answer = service.decide(tenant, ask(placement="tight"))
    still_running = not release.is_set()
    release.set()
    assert still_running  # the answer came while the model was still busy
    assert answer.fallback == "model_timeout" and len(answer.items) == 5


def test_on_the_event_loop_a_slow_model_is_not_waited_for_either(shop, monkeypatch) -> None:
    relevo, tenant = shop
    service = decider(relevo, {"tight": {"model": "itemknn", "model_budget_ms": 20}})
    served = service.serving.model(tenant, "itemknn")
    release = threading.Event()
    monkeypatch.setattr(served.model, "score", lambda *a, **k: release.wait(10))

    async def decide_twice():
        slow = asyncio.create_task(service.decide_async(tenant, ask(placement="tight")))
        other = await service.decide_async(tenant, ask(placement="tight", user_id="u2"))
        return await slow, other

    answer, other = asyncio.run(decide_twice())
    still_running = not release.is_set()
    release.set()
    assert still_running
    assert answer.fallback == other.fallback == "model_timeout" and len(answer.items) == 5


@pytest.mark.parametrize("broken", ["home region", "person state"])
def test_policy_that_cannot_be_read_fails_closed(shop, monkeypatch, broken) -> None:
    relevo, tenant = shop

    def down(*args, **kwargs):
        raise OSError(f"{broken} unreachable")

    if broken == "home region":
        monkeypatch.setattr(relevo.people, "home_region", down)
    else:
        monkeypatch.setattr(SqliteRegionPartition, "person_state", down)
    service = decider(relevo, {"all": {"model": "itemknn", "exclude_seen": False}})
    answer = service.decide(tenant, ask(placement="all", k=30))
    shown = {i.item_id for i in answer.items}
    assert answer.fallback == "policy_unavailable" and shown
    assert not shown & {"book-eu-only", "book-adult", "book-gone"}


def test_rank_orders_the_callers_candidates(shop) -> None:
    relevo, tenant = shop
    candidates = ["tool-1", "book-5", "book-6", "unknown-item"]
    answer = decider(relevo).decide(tenant, ask(candidates=candidates, k=4, explain=True))
    ids = [i.item_id for i in answer.items]
    assert set(ids) <= set(candidates) and ids[0].startswith("book")
    assert "unknown-item" not in ids  # not in the catalog: policy cannot vouch for it


def test_similar_items_and_unknown_placement(shop) -> None:
    relevo, tenant = shop
    service = decider(relevo)
    similar = service.similar(tenant, "book-1", 3)
    assert similar.items and all(i.item_id.startswith("book") for i in similar.items)
    assert "book-1" not in {i.item_id for i in similar.items}
    with pytest.raises(InvalidInput) as refused:
        service.decide(tenant, ask(placement="nowhere"))
    assert refused.value.violations[0].pointer == "/placement"


def test_identical_requests_reuse_the_answer_until_the_person_acts(shop) -> None:
    relevo, tenant = shop
    service = decider(relevo)
    first = service.decide(tenant, ask())
    assert service.decide(tenant, ask()).decision_id == first.decision_id
    relevo.ingest.ingest(tenant, [event("acted", user_id="u1", item_id="tool-2")])
    second = service.decide(tenant, ask())
    assert second.decision_id != first.decision_id
    assert service.decide(tenant, ask()).decision_id == second.decision_id
    relevo.people.put(tenant, "u1", {"birth_year": now().year - 12})  # policy changed, too
    assert service.decide(tenant, ask()).decision_id != second.decision_id


UNCACHED = {"model": "itemknn", "cache_ttl_s": 0}


def test_an_unchanged_person_gets_what_was_prepared_as_a_new_decision(shop) -> None:
    relevo, tenant = shop
    traces: list = []
    service = decider(relevo, {"uncached": UNCACHED}, traces)
    first = service.decide(tenant, ask(placement="uncached"))
    second = service.decide(tenant, ask(placement="uncached"))
    assert second.decision_id != first.decision_id and first.fallback == second.fallback == "none"
    assert second.items == first.items
    assert [t.decision_id for t in traces] == [first.decision_id, second.decision_id]
    assert "model" in traces[0].stages_ms and set(traces[1].stages_ms) == {"person", "prepared"}
    earlier, later = traces
    assert (later.filters, later.reasons, later.scores) == (
        earlier.filters,
        earlier.reasons,
        earlier.scores,
    )
    assert later.person_state["recent_items"] == earlier.person_state["recent_items"]
    assert later.feature_age_s["recent_items"] > earlier.feature_age_s["recent_items"]


def test_every_reused_answer_counts_in_the_metrics(shop) -> None:
    """Reused answers note their metrics in batches; what a scrape reads holds every one."""
    relevo, tenant = shop
    service = decider(relevo, {"uncached": UNCACHED})
    wanted = (
        ("relevo_decisions_total", {"fallback": "none"}),
        ("relevo_feature_age_seconds_count", {"feature": "recent_items"}),
        ("relevo_feature_age_seconds_bucket", {"feature": "recent_items", "le": "+Inf"}),
    )

    def scraped() -> list[float]:
        ANSWERS.fold()
        return [REGISTRY.get_sample_value(name, labels) or 0.0 for name, labels in wanted]

    assert service.decide(tenant, ask(placement="uncached")).fallback == "none"
    before = scraped()
    for _ in range(5):
        service.decide(tenant, ask(placement="uncached"))
    assert [after - was for after, was in zip(scraped(), before, strict=True)] == [5.0] * 3


def test_what_was_prepared_is_dropped_when_the_person_or_the_catalog_changes(shop) -> None:
    relevo, tenant = shop
    traces: list = []
    service = decider(relevo, {"all": {**UNCACHED, "exclude_seen": False}}, traces)
    relevo.people.put(tenant, "u3", {"birth_year": now().year - 30})
    asked = ask(placement="all", user_id="u3", k=30)
    shown = [i.item_id for i in service.decide(tenant, asked).items]
    assert "book-adult" in shown
    relevo.people.put(tenant, "u3", {"birth_year": now().year - 12})  # a correction
    shown = [i.item_id for i in service.decide(tenant, asked).items]
    assert "book-adult" not in shown
    gone = shown[0]
    relevo.catalog.upsert(tenant, [{"item_id": gone, "available": False}])
    assert gone not in {i.item_id for i in service.decide(tenant, asked).items}
    relevo.ingest.ingest(tenant, [event("acted", user_id="u3", item_id="tool-2")])
    service.decide(tenant, asked)
    assert "tool-2" in traces[-1].person_state["recent_items"]
    assert not any("prepared" in t.stages_ms for t in traces)


def test_what_was_prepared_lasts_until_the_day_ends(shop) -> None:
    relevo, tenant = shop
    midnight = (now() + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    moments = [midnight - timedelta(seconds=2)]
    traces: list = []
    service = decider(relevo, {"uncached": UNCACHED}, traces, clock=lambda: moments[-1])
    for seconds in (-2, -1, 1):
        moments.append(midnight + timedelta(seconds=seconds))
        service.decide(tenant, ask(placement="uncached"))
    assert ["prepared" in t.stages_ms for t in traces] == [False, True, False]


def test_what_was_prepared_lasts_while_asked_for_unless_the_fallback_filled_it(shop) -> None:
    """A person who keeps asking is not worked out again every minute (the serving
    benchmark saw every prepared decision made again at once, a minute after the first);
    only a decision the fallback's list filled is, as online popularity is read each minute."""
    relevo, tenant = shop
    start = now().replace(hour=12, minute=0, second=0, microsecond=0)
    moments = [start]
    traces: list = []
    service = decider(relevo, {"uncached": UNCACHED}, traces, clock=lambda: moments[-1])
    kept, filled = ask(placement="uncached", k=2), ask(placement="uncached", k=30)
    for seconds in (0, 50, 110, 170):
        moments.append(start + timedelta(seconds=seconds))
        assert service.decide(tenant, kept).fallback == "none"
        assert service.decide(tenant, filled).fallback == "none"
    sources = traces[1].sources
    assert all(s != ("popular",) for s in traces[0].sources.values())
    assert any(s == ("popular",) for s in sources.values())  # the fill came from the fallback
    reused = ["prepared" in t.stages_ms for t in traces]
    assert reused[0::2] == [False, True, True, True]
    assert reused[1::2] == [False, True, False, False]


def test_the_models_ranking_is_reused_across_requests_of_a_person(shop, monkeypatch) -> None:
    relevo, tenant = shop
    service = decider(relevo)
    calls = counted_runs(service, tenant, monkeypatch)
    service.decide(tenant, ask(k=3))
    service.decide(tenant, ask(k=4, filters=Filters(category=["books"])))
    assert len(calls) == 1
    relevo.ingest.ingest(tenant, [event("acted-again", user_id="u1", item_id="tool-4")])
    service.decide(tenant, ask(k=3))
    assert len(calls) == 2


def test_a_ranking_asked_for_stays_past_ten_minutes(shop, monkeypatch) -> None:
    """Rankings precomputed together at a start must not all expire together: issue 17's
    soak saw every one made again at once ten minutes in, and the model's breaker open."""
    relevo, tenant = shop
    service = decider(relevo)
    calls = counted_runs(service, tenant, monkeypatch)
    seconds = [0.0]
    monkeypatch.setattr(service.candidates.rankings, "_clock", lambda: seconds[0])
    for seconds[0], k in ((0, 3), (400, 4), (800, 5), (1_200, 6)):
        service.decide(tenant, ask(k=k))
    assert len(calls) == 1
    seconds[0] = 1_200 + RANKING_IDLE_S + 1  # asked for by no one in that time: made again
    service.decide(tenant, ask(k=7))
    assert len(calls) == 2


def test_newcomers_share_one_ranking_until_they_act(shop, monkeypatch) -> None:
    """People seen once must not each keep a ranking in memory (issue 17's soak)."""
    relevo, tenant = shop
    service = decider(relevo)
    calls = counted_runs(service, tenant, monkeypatch)
    answers = [service.decide(tenant, ask(user_id=f"new-{n}", k=3)) for n in range(5)]
    assert len(calls) == 1
    assert {tuple(i.item_id for i in a.items) for a in answers} == {
        tuple(i.item_id for i in answers[0].items)
    }
    assert len({a.decision_id for a in answers}) == 5  # each still a decision of its own
    relevo.ingest.ingest(tenant, [event("first", user_id="new-0", item_id="book-1")])
    mine = service.decide(tenant, ask(user_id="new-0", k=3))
    assert len(calls) == 2 and "book-1" not in {i.item_id for i in mine.items}
    service.decide(tenant, ask(user_id="new-9", k=3))
    assert len(calls) == 2  # newcomers still share theirs


def test_when_the_model_fails_the_persons_last_ranking_answers(shop, monkeypatch) -> None:
    relevo, tenant = shop
    service = decider(relevo)
    before = service.decide(tenant, ask(k=3))
    assert before.fallback == "none"
    served = service.serving.model(tenant, "itemknn")

    def broken(*args, **kwargs):
        raise RuntimeError("model exploded")

    monkeypatch.setattr(served.model, "score", broken)
    relevo.ingest.ingest(tenant, [event("moved-on", user_id="u1", item_id=before.items[0].item_id)])
    after = service.decide(tenant, ask(k=3))
    assert after.fallback == "precomputed" and after.model_version == before.model_version
    assert before.items[0].item_id not in {i.item_id for i in after.items}  # seen since
    assert {i.item_id for i in after.items} <= {i.item_id for i in before.items} | {
        i for i in BOOKS + TOOLS
    }


def test_active_peoples_rankings_are_refreshed_ahead_of_their_next_request(
    shop, monkeypatch
) -> None:
    relevo, tenant = shop
    service = decider(relevo)
    service.decide(tenant, ask(k=3))
    calls = counted_runs(service, tenant, monkeypatch)
    assert service.refresh() == 0  # nothing stale
    relevo.ingest.ingest(tenant, [event("later", user_id="u1", item_id="tool-5")])
    assert service.refresh() == 1 and len(calls) == 1
    answer = service.decide(tenant, ask(k=3, explain=True))
    assert len(calls) == 1  # the refreshed ranking answered
    assert answer.fallback == "none" and answer.trace.person_state["recent_items"][0] == "tool-5"
    service.close()


def test_the_refresher_renews_the_versions_of_people_who_keep_asking(shop, monkeypatch) -> None:
    """A remembered version is trusted for a minute; the sweep reads again those of people
    who keep asking before then, so their requests never fall to a read in a thread."""
    clock = [1_000.0]
    monkeypatch.setattr(person_versions, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    relevo, tenant = shop
    service = decider(relevo)
    service.decide(tenant, ask(k=3))
    service.decide(tenant, ask(k=3))  # its version answered from memory: asked lately
    clock[0] += person_versions.REMEMBER_S - person_versions.RENEW_AHEAD_S / 2
    assert service.precomputer.renew_versions() == 1
    clock[0] += person_versions.RENEW_AHEAD_S  # past the first read's trust
    reads: list[str] = []
    read = SqliteRegionPartition.person_version
    monkeypatch.setattr(
        SqliteRegionPartition, "person_version", lambda self, p: reads.append(p) or read(self, p)
    )
    assert service.decide(tenant, ask(k=3)).fallback == "none"
    assert reads == []
    service.close()


def test_precomputed_rankings_answer_as_the_model_would_have(shop, monkeypatch) -> None:
    relevo, tenant = shop
    single = decider(relevo)
    expected = [single.decide(tenant, ask(user_id=f"u{p}", k=4)).items for p in range(6)]
    batched = decider(relevo)
    assert batched.precompute(tenant, "itemknn") == 30  # every person of the shop, one region
    served = batched.serving.model(tenant, "itemknn")
    monkeypatch.setattr(served.model, "score", lambda *a, **k: pytest.fail("not precomputed"))
    monkeypatch.setattr(served.model, "explain", lambda *a, **k: pytest.fail("not explained"))
    found = [batched.decide(tenant, ask(user_id=f"u{p}", k=4)).items for p in range(6)]
    assert found == expected  # the same items, with the reasons found ahead


def test_a_precomputed_state_serves_the_first_request_until_the_person_acts(
    shop, monkeypatch
) -> None:
    relevo, tenant = shop
    service = decider(relevo)
    service.precompute(tenant, "itemknn")
    partition = type(relevo.storage.partition(tenant.tenant_id, tenant.default_region))
    reads: list[str] = []
    read = partition.person_state
    monkeypatch.setattr(
        partition, "person_state", lambda self, p, now_us: reads.append(p) or read(self, p, now_us)
    )
    assert service.decide(tenant, ask(user_id="u1")).fallback == "none"
    assert reads == []  # only the version was read
    relevo.ingest.ingest(tenant, [event("acted-again", user_id="u1", item_id="tool-2")])
    after = service.decide(tenant, ask(user_id="u1", explain=True))
    assert len(reads) == 1 and after.trace.person_state["recent_items"][0] == "tool-2"


def test_a_placement_sets_the_candidate_sources_and_their_counts(shop) -> None:
    relevo, tenant = shop
    data = from_log(relevo.storage, tenant, DEFAULT_WEIGHTS)
    relevo.training.train(tenant, data, ["trending", "ease", "als", "content", "session", "hybrid"])
    others = {name: 0 for name in HYBRID_BASES if name != "itemknn"}
    service = decider(
        relevo,
        {
            "all-sources": {"model": "hybrid"},
            "knn-only": {"model": "hybrid", "sources": {**others, "itemknn": 2}},
        },
    )
    wide = service.decide(tenant, ask(placement="all-sources", k=8, explain=True))
    narrow = service.decide(tenant, ask(placement="knn-only", k=8, explain=True))
    assert wide.fallback == narrow.fallback == "none"
    assert len({s for item in wide.trace.sources.values() for s in item} - {"popular"}) > 1
    contributions = wide.trace.contributions  # the ranker's own per-feature explanation
    assert set(contributions) <= set(wide.trace.items) and contributions
    assert all(len(parts) == 5 and parts[0]["feature"] for parts in contributions.values())
    assert "contributions" in wide.trace.stages_ms
    proposed = [i for i, found in narrow.trace.sources.items() if found != ("popular",)]
    assert 1 <= len(proposed) <= 2
    assert all(narrow.trace.sources[i] == ("itemknn",) for i in proposed)
    with pytest.raises(ValueError, match="unknown candidate source 'magic'"):
        strategies({"bad": {"sources": {"magic": 3}}}, ("itemknn",))


def test_before_any_model_is_trained_popular_means_what_the_events_say(relevo, tenant) -> None:
    relevo.catalog.upsert(tenant, [{"item_id": i} for i in ("a", "b", "c")])
    bought = [("c", 3), ("b", 1)]
    relevo.ingest.ingest(
        tenant,
        [
            event(f"{item}-{n}", type="purchase", user_id=f"p{n}", item_id=item)
            for item, times in bought
            for n in range(times)
        ],
    )
    answer = decider(relevo).decide(tenant, ask(placement="knn", user_id="someone-new"))
    assert answer.fallback == "no_model"
    assert [i.item_id for i in answer.items] == ["c", "b", "a"]  # then the catalog's order


def test_a_persons_ranking_for_an_earlier_event_is_dropped_when_they_act(shop) -> None:
    relevo, tenant = shop
    service = decider(relevo)
    first = service.decide(tenant, ask(k=3))
    assert first.fallback == "none" and len(service.candidates.rankings) == 1
    relevo.ingest.ingest(tenant, [event("acted", user_id="u1", item_id=first.items[0].item_id)])
    assert service.decide(tenant, ask(k=3)).fallback == "none"
    assert len(service.candidates.rankings) == 1  # the new one only: nothing asks for the old again


def test_auto_serves_the_hybrid_until_a_choice_is_registered(shop) -> None:
    """A tenant trained before ``auto`` existed keeps its personal answers: ``auto`` with no
    choice registered is the hybrid; once ``relevo train`` registers one, it is that."""
    relevo, tenant = shop
    data = from_log(relevo.storage, tenant, DEFAULT_WEIGHTS)
    relevo.training.train(tenant, data, ["hybrid"])
    service = decider(relevo)
    before = service.decide(tenant, ask(placement="default"))
    assert before.fallback == "none" and before.model_version.startswith("hybrid:")
    result = relevo.training.train(tenant, data, ["itemknn", "auto"])
    chosen = next(t.record for t in result.trained if t.record.name == "auto")
    ((name, version),) = chosen.lineage["selected"].items()
    after = decider(relevo).decide(tenant, ask(placement="default"))
    assert after.model_version == f"{name}:{version}"
