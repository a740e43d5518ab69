"""Issue 17's findings, each as a request that once gave a 500 or broke the spec: deep JSON,
invalid UTF-8, non-ASCII digits, raw ids in quarantine and logs, and the spec and server
agreeing (whole-float integers, PUT without an id, empty batches, business rules, Allow,
similar items after a delete)."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from starlette.requests import Request

from relevo.api.problems import handle_unexpected
from tests.api.test_malformed_input import names, problem
from tests.conftest import event

JSON = {"content-type": "application/json"}
DEEP = b'{"context": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"}"
NESTED_40 = b'{"a": ' * 40 + b"1" + b"}" * 40

# Every endpoint that reads a JSON body: (client scope, method, path).
BODY_ENDPOINTS = [
    ("serve", "POST", "/v1/recommend"),
    ("serve", "POST", "/v1/rank"),
    ("ingest", "POST", "/v1/events"),
    ("admin", "POST", "/v1/items"),
    ("admin", "PUT", "/v1/items/sku-1"),
    ("serve", "PUT", "/v1/people/u-1"),
    ("admin", "POST", "/v1/schemas"),
]


def send(account, scope: str, method: str, path: str, body: bytes) -> httpx.Response:
    return getattr(account, scope).request(method, path, content=body, headers=JSON)


@pytest.mark.parametrize(("scope", "method", "path"), BODY_ENDPOINTS)
@pytest.mark.parametrize(
    ("body", "rule"),
    [(DEEP, "max_depth"), (NESTED_40, "max_depth"), (b'{"user_id": "\xff"}', "encoding")],
    ids=["5000 deep", "40 deep", "invalid UTF-8"],
)
def test_a_malformed_body_is_refused_naming_the_rule(account, scope, method, path, body, rule):
    """A 400, or a 422 from a batch write, whose one record was refused with its result."""
    batch = (method, path) in {("POST", "/v1/events"), ("POST", "/v1/items")}
    found = problem(send(account, scope, method, path, body), 422 if batch else 400)
    assert rule in {rule for _, rule in names(found)}


@pytest.mark.parametrize(
    "bad",
    [
        b'{"event_id": "deep", "context": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"}",
        b'{"event_id": "utf", "type": "view", "user_id": "\xff"}',
        b'{"event_id": "num", "type": "rate", "value": 1e400}',
    ],
    ids=["deep", "invalid UTF-8", "number beyond a float"],
)
def test_a_malformed_event_in_a_batch_never_loses_the_good_ones(account, bad) -> None:
    good = [httpx.Request("POST", "/", json=event(f"good-{i}")).content for i in range(2)]
    body = b"[" + good[0] + b", " + bad + b", " + good[1] + b"]"
    response = send(account, "ingest", "POST", "/v1/events", body)
    assert response.status_code == 207, response.text
    statuses = [r["status"] for r in response.json()["results"]]
    assert statuses == ["accepted", "rejected", "accepted"]
    reasons = response.json()["results"][1]["reasons"]
    assert reasons[0]["rule"] in {"max_depth", "encoding", "number_range"}


@pytest.mark.parametrize(
    ("scope", "path"),
    [
        ("serve", "/v1/items?limit=%C2%B2"),
        ("serve", "/v1/items/sku-1/similar?k=%C2%B2"),
        ("admin", "/v1/quarantine?limit=%D9%A3"),
        ("admin", "/v1/quarantine?after=%C2%B2"),
    ],
)
def test_unicode_digits_in_a_query_number_are_a_422(account, scope, path) -> None:
    account.admin.put("/v1/items/sku-1", json={"title": "A thing"})
    found = problem(getattr(account, scope).get(path), 422)
    assert {rule for _, rule in names(found)} == {"range"}


def test_a_misspelt_id_is_never_kept_raw(server, account) -> None:
    raw = "misspelt-raw-person-42"
    sent = [
        {**event("m-1", user_id=None), "userId": raw},
        {**event("m-2", user_id=None), "USER-ID": raw, "context": {"Anonymous_Id": raw}},
    ]
    response = account.ingest.post("/v1/events", json=sent)
    assert response.status_code == 422
    records = account.admin.get("/v1/quarantine").json()["records"]
    assert len(records) == 2 and raw not in str(records)
    assert {"userId", "USER-ID"} <= {k for r in records for k in r["payload"]}
    data_dir = server.relevo.settings.data_dir
    for path in data_dir.rglob("*.sqlite*"):
        assert raw.encode() not in path.read_bytes(), path


def test_a_500_is_logged_without_the_path_or_message(server, caplog) -> None:
    raw = "raw-person-in-a-path"
    scope = {
        "type": "http", "method": "GET", "path": f"/v1/people/{raw}", "raw_path": b"",
        "query_string": b"", "headers": [], "app": server.app.app,
    }  # fmt: skip
    with caplog.at_level(logging.ERROR, logger="relevo.api"):
        response = asyncio.run(handle_unexpected(Request(scope), KeyError(raw)))
    assert response.status_code == 500
    logged = caplog.text
    assert "KeyError" in logged and "/v1/people/{user_id:id}" in logged
    assert raw not in logged


def test_a_whole_float_is_an_integer(account) -> None:
    answer = account.serve.post("/v1/recommend", json={"user_id": "u-1", "k": 3.0})
    assert answer.status_code == 200, answer.text
    problem(account.serve.post("/v1/recommend", json={"user_id": "u-1", "k": 3.5}), 422)


def test_put_without_an_id_takes_the_paths_as_the_spec_says(server, account) -> None:
    put = server.openapi["paths"]["/v1/items/{item_id}"]["put"]
    schema = put["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert server.openapi["components"]["schemas"][schema]["required"] == []
    answer = account.admin.put("/v1/items/from-path", json={})
    assert answer.status_code == 200 and answer.json()["item_id"] == "from-path"


def test_an_empty_batch_is_refused_as_the_spec_says(server, account) -> None:
    body = server.openapi["paths"]["/v1/events"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"]["oneOf"][1]["minItems"] == 1
    assert ("", "min_items") in names(problem(account.ingest.post("/v1/events", json=[]), 422))


def test_business_rules_are_declared_in_the_spec(server) -> None:
    paths = server.openapi["paths"]
    for method, path in [("post", "/v1/events"), ("put", "/v1/people/{user_id}")]:
        assert paths[path][method]["x-business-rules"]
        assert "business rule" in paths[path][method]["responses"]["422"]["description"]
    components = server.openapi["components"]["schemas"]
    assert components["DecisionRequest"]["properties"]["placement"]["enum"] == ["default"]
    assert "maximum" in components["PersonAttributes"]["properties"]["birth_year"]["anyOf"][0]


def test_a_405_lists_every_method_of_the_path(account) -> None:
    answer = account.admin.request("PATCH", "/v1/items/sku-1")
    assert answer.status_code == 405
    assert set(answer.headers["allow"].split(", ")) == {"GET", "HEAD", "PUT", "DELETE"}
    similar = account.admin.put("/v1/items/sku-1/similar", json={})
    assert similar.status_code == 405 and set(similar.headers["allow"].split(", ")) == {
        "GET",
        "HEAD",
    }
    assert set(account.admin.request("TRACE", "/healthz").headers["allow"].split(", ")) == {
        "GET",
        "HEAD",
    }


def test_similar_items_follow_the_catalog_at_once(account) -> None:
    account.admin.post("/v1/items", json=[{"item_id": f"s-{i}"} for i in range(3)])
    assert account.serve.get("/v1/items/s-1/similar").status_code == 200
    assert account.admin.delete("/v1/items/s-1").status_code == 204
    problem(account.serve.get("/v1/items/s-1/similar"), 404)
    account.admin.put("/v1/items/new%2Fone", json={})
    assert account.serve.get("/v1/items/new%2Fone/similar").status_code == 200
    assert account.serve.get("/v1/items/new%2Fone").json()["item_id"] == "new/one"
    account.admin.put("/v1/items/two%0Alines", json={})
    assert account.serve.get("/v1/items/two%0Alines").json()["item_id"] == "two\nlines"


def test_a_record_that_is_not_json_is_kept_only_as_a_fingerprint(account) -> None:
    response = send(account, "ingest", "POST", "/v1/events", b'[{"user_id": "\xff\xfe"}]')
    assert response.status_code == 422
    record = account.admin.get("/v1/quarantine").json()["records"][-1]
    assert set(record["payload"]) == {"unreplayable", "length"}
