"""The route table is the one list of operations: the server routes exactly its rows (hot ones
past the router), the document states exactly those, and each row's scope is the one its
endpoint enforces."""

from __future__ import annotations

import re

import httpx
import pytest

from relevo.api.operation_table import OPERATIONS, Operation
from relevo.domain.tenants import Scope
from tests.api.conftest import Account, Server

_PATH_VALUES = {"type": "note", "version": "1-0-0"}


def documented(server: Server) -> set[tuple[str, str]]:
    """The (method, path) of every operation in the served document."""
    paths = server.openapi["paths"]
    return {(method.upper(), path) for path, methods in paths.items() for method in methods}


def as_documented(path: str) -> str:
    """A Starlette path as OpenAPI writes it: ``{item_id:item}`` is ``{item_id}``."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def test_every_route_is_documented_and_every_documented_operation_routed(server) -> None:
    routed = {
        (method, as_documented(route.path))
        for route in server.app.app.routes
        for method in route.methods
        if method != "HEAD"  # Starlette's, beside each GET
    }
    assert routed == documented(server)
    assert {(method, as_documented(path)) for method, path in server.app.served} <= routed
    assert {(op.method, op.path) for op in OPERATIONS if op.hot} == server.app.served
    assert server.app.served == {
        ("POST", "/v1/recommend"), ("POST", "/v1/rank"), ("POST", "/v1/events"),
    }  # fmt: skip


def test_a_hot_operation_needs_a_literal_path() -> None:
    with pytest.raises(ValueError, match="cannot be hot"):
        Operation("GET", "/v1/items/{item_id}", OPERATIONS[0].endpoint, None, "", ("200", None),
                  hot=True)  # fmt: skip


def url(operation: Operation) -> str:
    """The operation's path with a value for each parameter."""
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: _PATH_VALUES.get(m[1], "probe"), operation.path)


def call(server: Server, operation: Operation, key: str | None) -> httpx.Response:
    """The operation, with no body (every endpoint checks the key before reading one)."""
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    return httpx.request(operation.method, server.url + url(operation), headers=headers, timeout=30)


def lacking(server: Server, account: Account, scope: Scope) -> str:
    """A key of the account's tenant with every scope but ``scope`` (and ``admin``)."""
    others = [s for s in (Scope.INGEST, Scope.SERVE) if s is not scope]
    return server.relevo.tenancy.create_key(account.tenant.tenant_id, others)[1]


@pytest.mark.parametrize(
    "operation", OPERATIONS, ids=[f"{op.method} {op.document_path}" for op in OPERATIONS]
)
def test_each_operation_enforces_the_scope_its_row_declares(server, account, operation) -> None:
    if operation.scope is None:
        assert call(server, operation, None).status_code not in (401, 403)
        return
    refused = call(server, operation, lacking(server, account, operation.scope))
    assert refused.status_code == 403, refused.text
    assert f"'{operation.scope.value}' scope" in refused.json()["detail"]
    assert call(server, operation, None).status_code == 401
    taken = call(server, operation, account.keys[operation.scope.value])
    assert taken.status_code not in (401, 403), taken.text
