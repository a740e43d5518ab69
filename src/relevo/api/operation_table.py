"""The API's one route table: each operation's method, path, endpoint, required scope and
schema, declared once. The Starlette routes, the hot dispatch (``hot=True``) and the OpenAPI
document are all made from it, so none can name an operation the others lack.

The schema columns state what the document promises: the query parameters an operation reads
and the business rules it enforces beyond its schema (each a 422 naming the rule). The scope is
the one the endpoint passes to ``http.authorize``; a test calls every operation with a key
lacking it (tests/api/test_route_table.py).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from relevo.api import decisions, documentation, events, items, operations, people, recommend
from relevo.api import schemas as event_schemas
from relevo.api.metrics import metrics_endpoint
from relevo.domain.tenants import Scope

Endpoint = Callable[[Request], Awaitable[Response]]
"""An endpoint function; a hot one also takes the lighter ``hot_routes.HotRequest``."""


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def array_of(name: str) -> dict[str, Any]:
    return {"type": "array", "items": ref(name)}


def integer(name: str, low: int, high: int, default: int, about: str) -> dict[str, Any]:
    """A query parameter written as a whole number in ASCII digits (``http.query_int``)."""
    schema = {"type": "integer", "minimum": low, "maximum": high, "default": default}
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": about}


def text(name: str, about: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": "string"},
            "description": about}  # fmt: skip


@dataclass(frozen=True)
class Operation:
    """One operation. ``path`` is Starlette's, where a convertor after an id's name says what
    the id may hold (``app.WholeId``); ``scope`` is what a key needs (None: no key);
    ``request`` is its body schema, ``success`` its status and answer schema, ``media`` that
    answer's type, ``rules`` the business rules it checks beyond the schema (answered 422 when
    broken), and ``batch`` marks the batch writes (207 when some records are refused, 413
    past the limit). ``hot`` ones are served without Starlette's middleware and router
    (``hot_routes``), so their path must be literal."""

    method: str
    path: str
    endpoint: Endpoint
    scope: Scope | None
    summary: str
    success: tuple[str, Any]
    request: Any = None
    query: tuple[dict[str, Any], ...] = ()
    rules: tuple[str, ...] = ()
    batch: bool = False
    hot: bool = False
    media: str = "application/json"

    def __post_init__(self) -> None:
        if self.hot and "{" in self.path:
            raise ValueError(f"a hot route is matched whole, so {self.path} cannot be hot")

    @property
    def document_path(self) -> str:
        """The path as OpenAPI writes it: ``/v1/items/{item_id}``, convertors left out."""
        return _CONVERTOR.sub(r"{\1}", self.path)


_CONVERTOR = re.compile(r"\{(\w+):\w+\}")

_EVENT_RULES = (
    "`context.region` must be one of the tenant's regions (rule `enum`)",
    "`occurred_at` must not be further in the future than the configured skew (`future_skew`)"
    " nor, for live events, older than the late horizon (`late_horizon`)",
    "an event needs `user_id` or `anonymous_id` (`one_of_required`); each type its fields:"
    " `item_id` for item events, `value` for `rate`, `properties.query` for `search` (`required`)",
    "a custom `type` needs a registered schema (`unknown_type`), its `properties` must match it,"
    " and `schema_version` belongs to custom types only (`custom_only`)",
    "`properties.person` holds valid person attributes, as for PUT /v1/people/{user_id}",
)
_ITEM_RULES = ("`regions` must each be one of the tenant's regions (rule `enum`)",)
_PERSON_RULES = (
    "`home_region` must be one of the tenant's regions (`enum`), and once a person's data is"
    " stored it stays in that region (`fixed`)",
    "`birth_year` must not be after the current year (`maximum`)",
)
_SCHEMA_RULES = (
    "`schema` must be a valid JSON Schema of type object (`schema`, `const`)",
    "a type's first version is 1-0-0 (`first_version`); later ones increase (`increasing`,"
    " `next_version`), and a built-in type cannot be redefined (`builtin`)",
)
_LIST = {
    "schemas": {"type": "object", "properties": {"schemas": array_of("EventSchema")}},
    "records": {"type": "object", "properties": {"records": array_of("QuarantineRecord")}},
    "items": {
        "type": "object",
        "properties": {"items": array_of("Item"), "next_after": {"type": ["string", "null"]}},
    },
}
_LIMIT = integer("limit", 1, 1000, 100, "How many to list at most")

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "POST", "/v1/events", events.post_events, Scope.INGEST, "Ingest one event or a batch",
        ("200", ref("EventResults")), request=ref("Event"), rules=_EVENT_RULES, batch=True,
        hot=True,
    ),
    Operation(
        "POST", "/v1/items", items.post_items, Scope.ADMIN, "Upsert one item or a batch",
        ("200", ref("ItemResults")), request=ref("Item"), rules=_ITEM_RULES, batch=True,
    ),
    Operation(
        "GET", "/v1/items", items.list_items, Scope.SERVE, "List items by id",
        ("200", _LIST["items"]), query=(text("after", "List the items after this id"), _LIMIT),
    ),
    Operation(
        "PUT", "/v1/items/{item_id:item}", items.put_item, Scope.ADMIN,
        "Create or replace an item", ("200", ref("Item")), request=ref("ItemInPath"),
        rules=(*_ITEM_RULES, "a body's `item_id`, if given, must be the path's (`path_match`)"),
    ),
    Operation(
        "GET", "/v1/items/{item_id:item}", items.get_item, Scope.SERVE, "Read an item",
        ("200", ref("Item")),
    ),
    Operation(
        "DELETE", "/v1/items/{item_id:item}", items.delete_item, Scope.ADMIN, "Delete an item",
        ("204", None),
    ),
    Operation(
        "PUT", "/v1/people/{user_id:id}", people.put_person, Scope.SERVE,
        "Set (replace) a person's attributes", ("200", ref("PersonAttributes")),
        request=ref("PersonAttributes"), rules=_PERSON_RULES,
    ),
    Operation(
        "GET", "/v1/people/{user_id:id}", people.get_person, Scope.SERVE,
        "Read a person's attributes", ("200", ref("PersonAttributes")),
    ),
    Operation(
        "POST", "/v1/schemas", event_schemas.post_schema, Scope.ADMIN,
        "Register a custom event type version", ("201", ref("EventSchema")),
        request=ref("EventSchema"), rules=_SCHEMA_RULES,
    ),
    Operation(
        "GET", "/v1/schemas", event_schemas.list_schemas, Scope.ADMIN,
        "List registered custom event types", ("200", _LIST["schemas"]),
    ),
    Operation(
        "GET", "/v1/schemas/{type}/{version}", event_schemas.get_schema, Scope.ADMIN,
        "Read one custom event type version", ("200", ref("EventSchema")),
    ),
    Operation(
        "GET", "/v1/quarantine", operations.list_quarantine, Scope.ADMIN, "List refused events",
        ("200", _LIST["records"]),
        rules=("`region` must be one of the tenant's regions (rule `enum`)",),
        query=(
            text("region", "One of the tenant's regions (default: its first)"),
            integer("after", 0, 2**62, 0, "List the records after this quarantine id"),
            _LIMIT,
        ),
    ),
    Operation(
        "POST", "/v1/recommend", recommend.post_recommend, Scope.SERVE,
        "Recommend items for a person in a placement", ("200", ref("Decision")),
        request={
            "allOf": [
                ref("DecisionRequest"),
                {"not": {"required": ["candidates"], "properties": {"candidates": {"type": "array"}}}},
            ],
            "description": "`candidates` belongs to POST /v1/rank (rule `rank_only`).",
        },
        hot=True,
    ),
    Operation(
        "POST", "/v1/rank", recommend.post_rank, Scope.SERVE,
        "Rank the caller's candidates for a person", ("200", ref("Decision")),
        request={
            "allOf": [
                ref("DecisionRequest"),
                {"required": ["candidates"], "properties": {"candidates": {"type": "array"}}},
            ]
        },
        hot=True,
    ),
    Operation(
        "GET", "/v1/items/{item_id:id}/similar", recommend.get_similar, Scope.SERVE,
        "Items similar to one", ("200", ref("SimilarItems")),
        query=(integer("k", 1, 100, 10, "How many items"),),
    ),
    Operation(
        "GET", "/v1/decisions/{decision_id}", decisions.get_decision, Scope.SERVE,
        "Read a decision's trace and its outcomes", ("200", ref("DecisionRecord")),
    ),
    Operation(
        "GET", "/healthz", operations.healthz, None, "The process is alive",
        ("200", {"type": "object"}),
    ),
    Operation(
        "GET", "/readyz", operations.readyz, None,
        "Warm (models and catalogs loaded) and every store takes a write; else 503 naming why",
        ("200", {"type": "object"}),
    ),
    Operation(
        "GET", "/metrics", metrics_endpoint, None, "Prometheus metrics (text exposition format)",
        ("200", {"type": "string"}), media="text/plain",
    ),
    Operation(
        "GET", "/openapi.json", documentation.get_openapi, None,
        "This document (OpenAPI 3.1)", ("200", {"type": "object"}),
    ),
    Operation(
        "GET", "/docs", documentation.get_docs, None, "This document, for reading (Swagger UI)",
        ("200", {"type": "string"}), media="text/html",
    ),
)  # fmt: skip
