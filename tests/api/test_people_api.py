"""People's attributes over HTTP: set and read with a server key, refused to browser keys, bad
input named field by field, and raw user ids never stored."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import event

PROBLEM = "application/problem+json"


def problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    return response.json()


def names(body: dict) -> set[tuple[str, str]]:
    return {(e["pointer"], e["rule"]) for e in body.get("errors", [])}


def test_attributes_round_trip_and_are_replaced_whole(account) -> None:
    body = {
        "birth_year": 1990,
        "segments": ["vip", "early-adopter"],
        "attributes": {"plan": "pro", "seats": 3, "score": 0.5, "trial": False},
    }
    put = account.serve.put("/v1/people/u-1", json=body)
    assert put.status_code == 200
    assert put.json() == {**body, "home_region": "eu"}  # the tenant's default region
    assert account.serve.get("/v1/people/u-1").json() == {**body, "home_region": "eu"}
    replaced = account.admin.put("/v1/people/u-1", json={"segments": ["churned"]})
    assert replaced.json() == {
        "birth_year": None,
        "segments": ["churned"],
        "attributes": {},
        "home_region": "eu",
    }
    assert account.serve.get("/v1/people/u-1").json() == replaced.json()


def test_a_person_without_attributes_is_a_404(account) -> None:
    assert problem(account.serve.get("/v1/people/nobody"), 404)["title"] == "Not found"
    account.ingest.post("/v1/events", json=event(user_id="seen-only"))
    problem(account.serve.get("/v1/people/seen-only"), 404)


def test_a_new_person_may_choose_a_home_that_then_never_moves(account) -> None:
    put = account.serve.put("/v1/people/u-us", json={"home_region": "us"})
    assert put.json()["home_region"] == "us"
    again = account.serve.put("/v1/people/u-us", json={"home_region": "us", "segments": ["a"]})
    assert again.status_code == 200
    assert account.serve.put("/v1/people/u-us", json={}).json()["home_region"] == "us"
    moved = problem(account.serve.put("/v1/people/u-us", json={"home_region": "eu"}), 422)
    assert names(moved) == {("/home_region", "fixed")}
    assert account.serve.get("/v1/people/u-us").json()["segments"] == []


def test_attributes_join_the_person_the_events_name(server, account) -> None:
    """Same pseudonym, same home region: the one the person's first event claimed."""
    sent = account.ingest.post("/v1/events", json=event(user_id="u-7", context={"region": "us"}))
    assert sent.json()["counts"] == {"accepted": 1}
    put = account.serve.put("/v1/people/u-7", json={"birth_year": 2001})
    assert put.json()["home_region"] == "us"
    moved = problem(account.serve.put("/v1/people/u-7", json={"home_region": "eu"}), 422)
    assert ("/home_region", "fixed") in names(moved)
    tenant, people = account.tenant, server.relevo.people
    (logged,) = server.relevo.storage.partition(tenant.tenant_id, "us").events()
    region, attributes = people.of(tenant, logged.event.person_key)
    assert region == "us" and attributes is not None and attributes.birth_year == 2001
    assert people.of(tenant, "a:never-seen") == ("eu", None)


def test_raw_user_ids_never_reach_a_file(server, account) -> None:
    raw = "raw-person-q7zk"
    marker = "segment-q7zk"
    assert account.serve.put(f"/v1/people/{raw}", json={"segments": [marker]}).status_code == 200
    assert account.serve.put(f"/v1/people/{raw}", json={"home_region": "us"}).status_code == 422
    assert account.serve.get(f"/v1/people/{raw}").json()["segments"] == [marker]
    folder = Path(server.relevo.settings.data_dir) / "tenants" / account.tenant.tenant_id
    files = [p for p in Path(server.relevo.settings.data_dir).rglob("*") if p.is_file()]
    for path in files:
        assert raw.encode() not in path.read_bytes(), f"{raw} found in {path}"
    holding = {p.name.split(".")[0] for p in folder.iterdir() if marker.encode() in p.read_bytes()}
    assert holding == {"region-eu"}  # personal data: in the home region, not the tenant file


def test_browser_keys_may_neither_read_nor_write_attributes(account) -> None:
    account.serve.put("/v1/people/u-2", json={"birth_year": 1980})
    for response in (
        account.ingest.get("/v1/people/u-2"),
        account.ingest.put("/v1/people/u-2", json={"birth_year": 2010}),
    ):
        assert "serve" in problem(response, 403)["detail"]
    assert account.serve.get("/v1/people/u-2").json()["birth_year"] == 1980
    problem(httpx.get(f"{account.serve.base_url}/v1/people/u-2"), 401)


MALFORMED = [
    ("birth year not a number", {"birth_year": "1990"}, "/birth_year", "type"),
    ("birth year before 1900", {"birth_year": 1899}, "/birth_year", "minimum"),
    ("birth year in the future", {"birth_year": 3000}, "/birth_year", "maximum"),
    ("segments not a list", {"segments": "vip"}, "/segments", "type"),
    ("segment with capitals", {"segments": ["ok", "VIP"]}, "/segments/1", "pattern"),
    ("segment too long", {"segments": ["x" * 65]}, "/segments/0", "max_length"),
    ("too many segments", {"segments": ["s"] * 101}, "/segments", "max_length"),
    ("attribute value a list", {"attributes": {"tags": ["a"]}}, "/attributes", "type"),
    (
        "too many attributes",
        {"attributes": {f"k{i}": 1 for i in range(101)}},
        "/attributes",
        "max_length",
    ),
    ("region not the tenant's", {"home_region": "mars"}, "/home_region", "enum"),
    ("unknown field", {"age": 30}, "/age", "unknown_field"),
    ("not an object", ["vip"], "", "type"),
]


@pytest.mark.parametrize(
    ("case", "body", "pointer", "rule"), MALFORMED, ids=[c[0] for c in MALFORMED]
)
def test_bad_attributes_are_refused_naming_field_and_rule(
    account, case, body, pointer, rule
) -> None:
    found = problem(account.serve.put("/v1/people/u-bad", json=body), 422)
    assert (pointer, rule) in names(found)
    assert found["title"] == "Invalid person attributes" and found["detail"]
    problem(account.serve.get("/v1/people/u-bad"), 404)  # nothing was stored


def test_every_bad_field_is_named_at_once(account) -> None:
    found = problem(
        account.serve.put(
            "/v1/people/u-bad", json={"birth_year": 1800, "segments": ["A"], "colour": "red"}
        ),
        422,
    )
    assert names(found) == {
        ("/birth_year", "minimum"),
        ("/segments/0", "pattern"),
        ("/colour", "unknown_field"),
    }


def test_invalid_json_a_long_user_id_and_a_wrong_content_type(account) -> None:
    broken = account.serve.put(
        "/v1/people/u-1", content=b'{"birth_year": ', headers={"content-type": "application/json"}
    )
    assert "JSON" in problem(broken, 400)["detail"]
    long_id = problem(account.serve.put("/v1/people/" + "u" * 257, json={}), 422)
    assert names(long_id) == {("/path/user_id", "max_length")}
    problem(
        account.serve.put("/v1/people/u-1", content=b"a=b", headers={"content-type": "text/plain"}),
        415,
    )


def test_the_operations_are_documented(account) -> None:
    document = account.serve.get("/openapi.json").json()
    operations = document["paths"]["/v1/people/{user_id}"]
    assert set(operations) == {"put", "get"}
    assert "`serve`" in operations["put"]["description"]
    schema = document["components"]["schemas"]["PersonAttributes"]
    assert set(schema["properties"]) == {"birth_year", "segments", "attributes", "home_region"}
