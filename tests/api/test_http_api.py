"""The HTTP API's behaviour on good input: batches, items, schemas, isolation, operations."""

from __future__ import annotations

import httpx
import msgspec

from relevo.decide.similar import SimilarItems
from tests.conftest import event


def test_a_mixed_batch_keeps_the_good_events_and_quarantines_the_bad(account) -> None:
    response = account.ingest.post(
        "/v1/events", json=[event("a"), event("b", user_id=1), event("a"), event("c")]
    )
    assert response.status_code == 207
    body = response.json()
    assert [r["status"] for r in body["results"]] == [
        "accepted",
        "rejected",
        "duplicate",
        "accepted",
    ]
    assert body["counts"] == {"accepted": 2, "rejected": 1, "duplicate": 1}
    assert body["results"][1]["reasons"][0]["pointer"] == "/user_id"
    records = account.admin.get("/v1/quarantine").json()["records"]
    assert [r["payload"]["event_id"] for r in records] == ["b"]
    again = account.ingest.post("/v1/events", json=[event("a"), event("c")])
    assert again.status_code == 200 and again.json()["counts"] == {"duplicate": 2}


def test_items_can_be_put_read_listed_and_deleted(account) -> None:
    put = account.admin.put(
        "/v1/items/sku-1", json={"title": "Lamp", "price": 9.5, "tags": ["home"], "regions": ["eu"]}
    )
    assert put.status_code == 200 and put.json()["item_id"] == "sku-1"
    batch = account.admin.post(
        "/v1/items", json=[{"item_id": "sku-2"}, {"item_id": "sku-3", "price": -2}]
    )
    assert batch.status_code == 207
    assert [r["status"] for r in batch.json()["results"]] == ["upserted", "rejected"]
    assert account.serve.get("/v1/items/sku-1").json() == {
        "item_id": "sku-1",
        "title": "Lamp",
        "tags": ["home"],
        "price": 9.5,
        "regions": ["eu"],
    }
    page = account.serve.get("/v1/items?limit=1").json()
    assert [i["item_id"] for i in page["items"]] == ["sku-1"] and page["next_after"] == "sku-1"
    rest = account.serve.get("/v1/items?limit=5&after=sku-1").json()
    assert [i["item_id"] for i in rest["items"]] == ["sku-2"] and rest["next_after"] is None
    assert account.admin.delete("/v1/items/sku-1").status_code == 204
    assert account.serve.get("/v1/items/sku-1").status_code == 404
    assert account.admin.delete("/v1/items/sku-1").status_code == 404


def test_tenant_a_can_never_read_or_write_tenant_bs_data(server, account) -> None:
    other, other_key = server.relevo.tenancy.create_tenant("other-co", ["eu"])
    b = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {other_key}"})
    assert b.put("/v1/items/b-secret", json={"title": "B only"}).status_code == 200
    assert b.post("/v1/events", json=event("b-1")).status_code == 200
    # A's keys see nothing of B's, and A's writes under the same ids land in A alone.
    assert account.serve.get("/v1/items/b-secret").status_code == 404
    assert account.admin.delete("/v1/items/b-secret").status_code == 404
    assert account.ingest.post("/v1/events", json=event("b-1")).json()["counts"] == {"accepted": 1}
    assert account.admin.put("/v1/items/b-secret", json={"title": "A's own"}).status_code == 200
    assert b.get("/v1/items/b-secret").json()["title"] == "B only"
    assert server.relevo.ingest.logged_events(other) == 1
    b.close()


def test_schemas_are_listed_and_read(account) -> None:
    schema = {"type": "object", "properties": {"q": {"type": "string"}}}
    assert (
        account.admin.post(
            "/v1/schemas", json={"type": "note", "version": "1-0-0", "schema": schema}
        ).status_code
        == 201
    )
    assert (
        account.admin.post(
            "/v1/schemas", json={"type": "note", "version": "1-0-0", "schema": schema}
        ).status_code
        == 200
    )
    listed = account.admin.get("/v1/schemas").json()["schemas"]
    assert [(s["type"], s["version"]) for s in listed] == [("note", "1-0-0")]
    assert account.admin.get("/v1/schemas/note/1-0-0").json()["schema"] == schema
    assert account.admin.get("/v1/schemas/note/9-0-0").status_code == 404


def test_health_readiness_and_openapi(server) -> None:
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready"}
        document = client.get("/openapi.json").json()
        assert document["openapi"].startswith("3.1")
        assert {"/v1/events", "/v1/items/{item_id}", "/v1/schemas"} <= set(document["paths"])
        assert "Event" in document["components"]["schemas"]
        assert "swagger" in client.get("/docs").text.lower()


def test_openapi_describes_the_decision_routes(server) -> None:
    with httpx.Client(base_url=server.url) as client:
        document = client.get("/openapi.json").json()
    paths = document["paths"]
    assert {
        "/v1/recommend", "/v1/rank", "/v1/items/{item_id}/similar",
        "/v1/decisions/{decision_id}", "/metrics",
    } <= set(paths)  # fmt: skip
    assert "`serve`" in paths["/v1/rank"]["post"]["description"]
    assert "text/plain" in paths["/metrics"]["get"]["responses"]["200"]["content"]
    assert "security" not in paths["/metrics"]["get"]
    schemas = document["components"]["schemas"]
    assert {"DecisionRequest", "Decision", "Trace", "Outcome", "SimilarItems"} <= set(schemas)
    assert schemas["Trace"]["properties"]["at"]["format"] == "date-time"
    # SimilarItems is written out by hand in the document: it must keep the struct's fields.
    fields = {f.encode_name for f in msgspec.structs.fields(SimilarItems)}
    assert set(schemas["SimilarItems"]["properties"]) == fields


def test_a_single_event_round_trips_into_the_log_pseudonymized(server, account) -> None:
    response = account.ingest.post(
        "/v1/events", json=event("solo", user_id="jane@example.com", context={"region": "us"})
    )
    assert response.status_code == 200
    assert response.json()["results"] == [{"index": 0, "event_id": "solo", "status": "accepted"}]
    logged = server.relevo.storage.partition(account.tenant.tenant_id, "us").events()
    stored = msgspec.json.encode(logged[0].event).decode()
    assert "jane@example.com" not in stored and logged[0].event.item_id == "sku-1"
