"""Every entry point refuses malformed input with a 4xx problem naming the field and the rule."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tests.conftest import event, iso, now

PROBLEM = "application/problem+json"


def problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def names(body: dict) -> set[tuple[str, str]]:
    return {(e["pointer"], e["rule"]) for e in body.get("errors", [])}


EVENT_CASES = [
    ("wrong type", event(user_id=42), "/user_id", "type"),
    ("missing id", event(event_id=None), "/event_id", "required"),
    ("empty id", event(event_id=""), "/event_id", "min_length"),
    ("id too long", event(event_id="e" * 129), "/event_id", "max_length"),
    ("unknown type", event(type="teleport"), "/type", "unknown_type"),
    ("bad type name", event(type="Add To Cart"), "/type", "pattern"),
    ("bad timestamp", event(occurred_at="yesterday"), "/occurred_at", "format"),
    ("no timezone", event(occurred_at="2026-11-21T10:00:00"), "/occurred_at", "timezone"),
    (
        "future beyond skew",
        event(occurred_at=iso(now() + timedelta(minutes=10))),
        "/occurred_at",
        "future_skew",
    ),
    (
        "older than horizon",
        event(occurred_at=iso(now() - timedelta(days=8))),
        "/occurred_at",
        "late_horizon",
    ),
    ("no person", event(user_id=None), "/user_id", "one_of_required"),
    ("unknown field", event(userid="u-1"), "/userid", "unknown_field"),
    ("missing item", event(item_id=None), "/item_id", "required"),
    ("rate without value", event(type="rate"), "/value", "required"),
    ("value not a number", event(value="three"), "/value", "type"),
    ("region not the tenant's", event(context={"region": "mars"}), "/context/region", "enum"),
    ("context not an object", event(context=["eu"]), "/context", "type"),
    ("search without query", event(type="search", item_id=None), "/properties/query", "required"),
    ("version on a built-in", event(schema_version="1-0-0"), "/schema_version", "custom_only"),
]


@pytest.mark.parametrize(
    ("case", "body", "pointer", "rule"), EVENT_CASES, ids=[c[0] for c in EVENT_CASES]
)
def test_a_bad_event_is_refused_naming_field_and_rule(account, case, body, pointer, rule) -> None:
    found = problem(account.ingest.post("/v1/events", json=body), 422)
    assert (pointer, rule) in names(found)
    assert found["results"][0]["status"] == "rejected"


def test_a_bad_event_in_a_batch_is_pointed_at_by_index(account) -> None:
    found = problem(
        account.ingest.post("/v1/events", json=[event("a", user_id=1), event("b", type="x y")]), 422
    )
    assert {("/0/user_id", "type"), ("/1/type", "pattern")} <= names(found)


def test_invalid_json_is_a_400(account) -> None:
    found = problem(
        account.ingest.post(
            "/v1/events", content=b'[{"event_id": ', headers={"content-type": "application/json"}
        ),
        400,
    )
    assert "JSON" in found["detail"]


def test_a_body_that_is_neither_object_nor_array_is_a_400(account) -> None:
    problem(account.ingest.post("/v1/events", json="hello"), 400)


def test_an_empty_batch_is_refused(account) -> None:
    problem(account.ingest.post("/v1/events", json=[]), 422)


def test_an_oversize_batch_is_a_413(account) -> None:
    found = problem(
        account.ingest.post("/v1/events", json=[event(f"e{i}") for i in range(1001)]), 413
    )
    assert "1000" in found["detail"]


def test_an_oversize_body_is_a_413(account) -> None:
    problem(
        account.ingest.post(
            "/v1/events",
            content=b"[" + b" " * (9 * 1024 * 1024) + b"]",
            headers={"content-type": "application/json"},
        ),
        413,
    )


def test_an_oversize_event_is_refused(account) -> None:
    found = problem(
        account.ingest.post("/v1/events", json=event(properties={"blob": "x" * 70_000})), 422
    )
    assert ("", "max_size") in names(found)


def test_a_non_json_content_type_is_a_415(account) -> None:
    problem(
        account.ingest.post(
            "/v1/events",
            content=b"a=b",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
        415,
    )


def test_no_key_an_unknown_key_and_a_revoked_key_are_401(server, account) -> None:
    bare = httpx.Client(base_url=server.url)
    problem(bare.post("/v1/events", json=event()), 401)
    problem(
        bare.post("/v1/events", json=event(), headers={"Authorization": "Bearer rlv_nope"}), 401
    )
    problem(bare.post("/v1/events", json=event(), headers={"Authorization": "Basic abc"}), 401)
    key_id = next(
        k.key_id
        for k in server.relevo.tenancy.keys(account.tenant.tenant_id)
        if k.scopes == {"ingest"}
    )
    assert server.relevo.tenancy.revoke_key(key_id)
    problem(account.ingest.post("/v1/events", json=event()), 401)


def test_a_key_without_the_scope_is_a_403(account) -> None:
    found = problem(account.ingest.put("/v1/items/sku-1", json={"title": "x"}), 403)
    assert "admin" in found["detail"]
    problem(account.serve.post("/v1/events", json=event()), 403)
    problem(account.ingest.get("/v1/items/sku-1"), 403)


def test_a_custom_types_schema_is_enforced(account) -> None:
    schema = {"type": "object", "properties": {"list": {"type": "string"}}, "required": ["list"]}
    created = account.admin.post(
        "/v1/schemas", json={"type": "wishlist", "version": "1-0-0", "schema": schema}
    )
    assert created.status_code == 201
    found = problem(
        account.ingest.post("/v1/events", json=event(type="wishlist", properties={"list": 7})), 422
    )
    assert ("/properties/list", "type") in names(found)
    ok = account.ingest.post(
        "/v1/events", json=event("w-ok", type="wishlist", properties={"list": "xmas"})
    )
    assert ok.status_code == 200 and ok.json()["counts"] == {"accepted": 1}


@pytest.mark.parametrize(
    ("body", "pointer", "rule"),
    [
        (
            {"type": "wishlist", "version": "1.0.0", "schema": {"type": "object"}},
            "/version",
            "pattern",
        ),
        ({"type": "view", "version": "1-0-0", "schema": {"type": "object"}}, "/type", "builtin"),
        (
            {"type": "wishlist", "version": "2-0-0", "schema": {"type": "object"}},
            "/version",
            "first_version",
        ),
        (
            {"type": "wishlist", "version": "1-0-0", "schema": {"type": "object", "properties": 5}},
            "/schema/properties",
            "json_schema",
        ),
        ({"type": "wishlist", "version": "1-0-0"}, "/schema", "required"),
    ],
)
def test_bad_schema_registrations_name_field_and_rule(account, body, pointer, rule) -> None:
    assert (pointer, rule) in names(problem(account.admin.post("/v1/schemas", json=body), 422))


def test_a_breaking_change_registered_as_minor_is_refused(account) -> None:
    v1 = {"type": "object", "properties": {"list": {"type": "string"}}}
    assert (
        account.admin.post(
            "/v1/schemas", json={"type": "wish", "version": "1-0-0", "schema": v1}
        ).status_code
        == 201
    )
    found = problem(
        account.admin.post(
            "/v1/schemas", json={"type": "wish", "version": "1-1-0", "schema": {"type": "object"}}
        ),
        422,
    )
    assert ("/version", "compatibility") in names(found)
    assert "2-0-0" in found["detail"]


@pytest.mark.parametrize(
    ("body", "pointer", "rule"),
    [
        ({"price": -1}, "/price", "minimum"),
        ({"tags": "red"}, "/tags", "type"),
        ({"min_age": 200}, "/min_age", "maximum"),
        ({"regions": ["mars"]}, "/regions/0", "enum"),
        ({"item_id": "other"}, "/item_id", "path_match"),
        ({"colour": "red"}, "/colour", "unknown_field"),
    ],
)
def test_bad_items_name_field_and_rule(account, body, pointer, rule) -> None:
    assert (pointer, rule) in names(problem(account.admin.put("/v1/items/sku-1", json=body), 422))


def test_bad_query_parameters_are_named(account) -> None:
    assert ("/query/limit", "range") in names(problem(account.serve.get("/v1/items?limit=0"), 422))
    assert ("/query/limit", "range") in names(
        problem(account.serve.get("/v1/items?limit=abc"), 422)
    )


def test_unknown_routes_and_methods_are_problems_too(account) -> None:
    problem(account.admin.get("/v1/nothing"), 404)
    problem(account.admin.delete("/v1/events"), 405)


@pytest.mark.parametrize(
    "body", [b'{"a":', b'{"event_id": "e", "type": 3', b"{", b'{"user_id": "x"} trailing']
)
def test_truncated_or_broken_single_events_are_422_never_500(account, body) -> None:
    found = problem(
        account.ingest.post(
            "/v1/events", content=body, headers={"content-type": "application/json"}
        ),
        422,
    )
    assert ("", "json") in names(found)


def test_refused_items_in_a_batch_say_which_item_they_were(account) -> None:
    response = account.admin.post(
        "/v1/items", json=[{"item_id": "ok"}, {"item_id": "bad", "price": -1}]
    )
    assert [(r["item_id"], r["status"]) for r in response.json()["results"]] == [
        ("ok", "upserted"),
        ("bad", "rejected"),
    ]
