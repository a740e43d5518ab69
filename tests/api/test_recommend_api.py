"""``POST /v1/recommend``, ``POST /v1/rank`` and ``GET /v1/items/{id}/similar`` over real HTTP:
the answer's shape, its trace, and a 4xx naming the field for every bad request."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from relevo.domain.events import DEFAULT_WEIGHTS, IngestMode
from relevo.training.data import from_log
from tests.api.test_malformed_input import names, problem
from tests.conftest import event, iso, now


@pytest.fixture
def trained(server, account):
    """Two kinds of buyers, and promoted models, so answers are personal."""
    relevo = server.relevo
    items = [{"item_id": f"cup-{i}", "title": f"Cup {i}", "category": "kitchen"} for i in range(6)]
    items += [{"item_id": f"pen-{i}", "title": f"Pen {i}", "category": "office"} for i in range(6)]
    assert account.admin.post("/v1/items", json=items).status_code in (200, 207)
    events = [
        event(
            f"e{p}-{j}",
            type="purchase",
            user_id=f"u{p}",
            item_id=f"{'cup' if p % 2 else 'pen'}-{(p + j) % 6}",
            occurred_at=iso(now() - timedelta(days=10 - j)),
        )
        for p in range(20)
        for j in range(3)
    ]
    relevo.ingest.ingest(account.tenant, events, mode=IngestMode.BACKFILL)
    data = from_log(relevo.storage, account.tenant, DEFAULT_WEIGHTS)
    relevo.training.train(account.tenant, data, ["hybrid"])
    return account


def test_recommend_answers_in_the_documented_shape(trained) -> None:
    response = trained.serve.post("/v1/recommend", json={"user_id": "u1", "k": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "decision_id", "items", "strategy", "model_version", "variant", "fallback", "took_ms",
    }  # fmt: skip
    assert body["model_version"].startswith("hybrid:") and body["fallback"] == "none"
    assert len(body["items"]) == 3
    assert all(set(i) == {"item_id", "score", "reasons"} and i["reasons"] for i in body["items"])
    assert body["items"][0]["item_id"].startswith("cup")


def test_explain_puts_the_trace_in_the_answer_and_it_is_kept(trained, server) -> None:
    body = trained.serve.post(
        "/v1/recommend", json={"user_id": "someone-private", "k": 2, "explain": True}
    ).json()
    trace = body["trace"]
    assert trace["decision_id"] == body["decision_id"] and trace["filters"]
    assert trace["model"] == body["model_version"] and trace["stages_ms"]
    assert "someone-private" not in str(trace)  # person ids appear only as pseudonyms
    server.relevo.decision_log.flush()
    kept = trained.serve.get(f"/v1/decisions/{body['decision_id']}")
    assert kept.status_code == 200 and kept.json()["trace"]["items"] == trace["items"]


def test_rank_and_similar(trained) -> None:
    ranked = trained.serve.post(
        "/v1/rank", json={"user_id": "u1", "candidates": ["pen-1", "cup-4", "cup-5"], "k": 3}
    )
    assert ranked.status_code == 200, ranked.text
    assert {i["item_id"] for i in ranked.json()["items"]} <= {"pen-1", "cup-4", "cup-5"}
    similar = trained.serve.get("/v1/items/cup-1/similar", params={"k": 2})
    assert similar.status_code == 200, similar.text
    assert similar.json()["item_id"] == "cup-1" and len(similar.json()["items"]) == 2
    problem(trained.serve.get("/v1/items/nope/similar"), 404)


@pytest.mark.parametrize(
    ("path", "body", "pointer", "rule"),
    [
        ("/v1/recommend", {"placement": "nowhere"}, "/placement", "enum"),
        ("/v1/recommend", {"k": 0}, "/k", "minimum"),
        ("/v1/recommend", {"k": 1000}, "/k", "maximum"),
        ("/v1/recommend", {"k": "ten"}, "/k", "type"),
        ("/v1/recommend", {"filters": {"colour": "red"}}, "/filters/colour", "unknown_field"),
        ("/v1/recommend", {"filters": {"price_min": -1}}, "/filters/price_min", "minimum"),
        ("/v1/recommend", {"filters": {"category": "books"}}, "/filters/category", "type"),
        ("/v1/recommend", {"candidates": ["a"]}, "/candidates", "rank_only"),
        ("/v1/rank", {"user_id": "u1"}, "/candidates", "required"),
        ("/v1/rank", {"candidates": []}, "/candidates", "min_length"),
        ("/v1/recommend", {"user_id": 7}, "/user_id", "type"),
    ],
)
def test_bad_requests_name_the_field(account, path, body, pointer, rule) -> None:
    found = problem(account.serve.post(path, json=body), 422)
    assert (pointer, rule) in names(found), found


def test_keys_and_json(account) -> None:
    problem(account.ingest.post("/v1/recommend", json={}), 403)
    problem(
        account.serve.post(
            "/v1/recommend", content=b"{nope", headers={"Content-Type": "application/json"}
        ),
        400,
    )


def test_with_no_model_the_answer_still_comes(account) -> None:
    account.admin.put("/v1/items/solo", json={"title": "The only item"})
    body = account.serve.post("/v1/recommend", json={"user_id": "someone"}).json()
    assert body["fallback"] == "no_model" and [i["item_id"] for i in body["items"]] == ["solo"]


def test_metrics_count_decisions_filters_and_latency(trained, server) -> None:
    trained.serve.post("/v1/recommend", json={"user_id": "u1", "k": 2})
    trained.serve.post(
        "/v1/recommend", json={"user_id": "u1", "context": {"consent": {"personalization": False}}}
    )
    text = httpx.get(server.url + "/metrics").text
    assert 'relevo_decisions_total{fallback="none"}' in text
    assert 'relevo_decisions_total{fallback="no_consent"}' in text
    assert 'relevo_request_seconds_count{method="POST",route="/v1/recommend"}' in text
    assert 'relevo_filter_removed_total{filter="seen"}' in text
    assert "relevo_feature_age_seconds_count" in text and "relevo_event_to_feature_lag" in text


def test_a_candidate_the_model_never_saw_is_ranked_last_and_the_trace_reads_back(
    trained, server
) -> None:
    trained.admin.put("/v1/items/cup-new", json={"title": "New cup", "category": "kitchen"})
    body = trained.serve.post(
        "/v1/rank", json={"user_id": "u1", "candidates": ["cup-new", "cup-4"], "k": 2}
    ).json()
    assert [i["item_id"] for i in body["items"]] == ["cup-4", "cup-new"]
    assert all(isinstance(i["score"], float) for i in body["items"])
    server.relevo.decision_log.flush()
    assert trained.serve.get(f"/v1/decisions/{body['decision_id']}").status_code == 200


def test_a_new_person_is_placed_in_the_region_the_request_names(trained) -> None:
    body = trained.serve.post(
        "/v1/recommend", json={"user_id": "brand-new", "context": {"region": "us"}}
    ).json()
    assert body["decision_id"].startswith("us.")


def test_a_failure_inside_a_hot_route_is_a_500_problem_and_other_methods_a_405(
    account, server, monkeypatch
) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(server.relevo.decisions, "decide_async", broken)
    answer = account.serve.post("/v1/recommend", json={"user_id": "someone"})
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert "disk on fire" not in answer.text and answer.json()["instance"] == "/v1/recommend"
    assert account.serve.get("/v1/recommend").status_code == 405
