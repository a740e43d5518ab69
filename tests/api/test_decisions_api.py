"""``GET /v1/decisions/{id}`` over the real HTTP server: trace, outcomes, problems, scopes."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import msgspec

from relevo.domain.decisions import FilterReport, Trace, new_decision_id
from relevo.ports import EncodedTrace
from tests.conftest import event


def recorded(server, account, region: str = "eu") -> Trace:
    """A trace written to the account's log, as an answer would leave it."""
    trace = Trace(
        decision_id=new_decision_id(region),
        at=datetime(2026, 1, 1, 9, 0, tzinfo=UTC),
        placement="home",
        person="u:pseudonym",
        region=region,
        strategy="hybrid",
        model="hybrid:1",
        variant="control",
        fallback="none",
        request={"k": 2, "placement": "home"},
        person_state={"recent": 1},
        sources={"sku-1": ("model",), "sku-2": ("popular",)},
        filters=[FilterReport("availability", 1)],
        scores={"sku-1": 0.9, "sku-2": 0.4},
        stages_ms={"retrieve": 0.7, "rank": 0.2},
        items=["sku-1", "sku-2"],
        reasons={"sku-1": ("Because you viewed sku-9",)},
    )
    server.relevo.decision_log.record(account.tenant.tenant_id, region, EncodedTrace.of(trace))
    assert server.relevo.decision_log.flush()
    return trace


def test_a_decision_is_read_with_its_outcomes(server, account) -> None:
    trace = recorded(server, account)
    outcomes = [
        event("imp-1", type="impression", decision_id=trace.decision_id, item_id=None),
        event("click-1", type="click", decision_id=trace.decision_id, item_id="sku-1"),
    ]
    for _ in range(2):  # sent twice, joined once
        assert account.ingest.post("/v1/events", json=outcomes).status_code == 200
    for client in (account.serve, account.admin):
        response = client.get(f"/v1/decisions/{trace.decision_id}")
        assert response.status_code == 200
        body = response.json()
        assert body["trace"] == msgspec.json.decode(msgspec.json.encode(trace))
        assert sorted((o["event_id"], o["type"], o["item_id"]) for o in body["outcomes"]) == [
            ("click-1", "click", "sku-1"),
            ("imp-1", "impression", None),
        ]
        assert all(
            set(o) == {"event_id", "type", "item_id", "occurred_at"} for o in body["outcomes"]
        )


def test_unknown_and_malformed_ids_are_404_problems(server, account) -> None:
    _, other_key = server.relevo.tenancy.create_tenant("decisions-other", ["eu"])
    theirs = recorded(server, account)
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {other_key}"}
    ) as stranger:
        assert stranger.get(f"/v1/decisions/{theirs.decision_id}").status_code == 404
    for wrong in (new_decision_id("eu"), "nonsense", "ap.abc", "eu.", "%2E%2E.x"):
        response = account.serve.get(f"/v1/decisions/{wrong}")
        assert response.status_code == 404, wrong
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == 404
        assert "written asynchronously" in problem["detail"]


def test_keys_without_the_serve_scope_are_refused(server, account) -> None:
    path = f"/v1/decisions/{recorded(server, account).decision_id}"
    assert account.ingest.get(path).status_code == 403
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get(path).status_code == 401
        refused = anonymous.get(path, headers={"Authorization": "Bearer rlv_not-a-key"})
        assert refused.status_code == 401
