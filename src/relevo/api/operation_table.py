"""What each endpoint takes and answers, as the OpenAPI document states it: one row per
operation, with the query parameters it reads and the business rules it enforces beyond its
schema (each a 422 naming the rule)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
    """One operation: ``request`` is its body schema, ``success`` its status and answer schema,
    ``rules`` the business rules it checks beyond the schema (answered 422 when broken), and
    ``batch`` marks the batch writes (207 when some records are refused, 413 past the limit)."""

    method: str
    path: str
    summary: str
    scope: str | None
    success: tuple[str, Any]
    request: Any = None
    query: tuple[dict[str, Any], ...] = ()
    rules: tuple[str, ...] = ()
    batch: bool = False


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
        "post", "/v1/events", "Ingest one event or a batch", "ingest", ("200", ref("EventResults")),
        request=ref("Event"), rules=_EVENT_RULES, batch=True,
    ),
    Operation(
        "post", "/v1/items", "Upsert one item or a batch", "admin", ("200", ref("ItemResults")),
        request=ref("Item"), rules=_ITEM_RULES, batch=True,
    ),
    Operation(
        "get", "/v1/items", "List items by id", "serve", ("200", _LIST["items"]),
        query=(text("after", "List the items after this id"), _LIMIT),
    ),
    Operation(
        "put", "/v1/items/{item_id}", "Create or replace an item", "admin", ("200", ref("Item")),
        request=ref("ItemInPath"),
        rules=(*_ITEM_RULES, "a body's `item_id`, if given, must be the path's (`path_match`)"),
    ),
    Operation("get", "/v1/items/{item_id}", "Read an item", "serve", ("200", ref("Item"))),
    Operation("delete", "/v1/items/{item_id}", "Delete an item", "admin", ("204", None)),
    Operation(
        "put", "/v1/people/{user_id}", "Set (replace) a person's attributes", "serve",
        ("200", ref("PersonAttributes")), request=ref("PersonAttributes"), rules=_PERSON_RULES,
    ),
    Operation(
        "get", "/v1/people/{user_id}", "Read a person's attributes", "serve",
        ("200", ref("PersonAttributes")),
    ),
    Operation(
        "post", "/v1/schemas", "Register a custom event type version", "admin",
        ("201", ref("EventSchema")), request=ref("EventSchema"), rules=_SCHEMA_RULES,
    ),
    Operation(
        "get", "/v1/schemas", "List registered custom event types", "admin",
        ("200", _LIST["schemas"]),
    ),
    Operation(
        "get", "/v1/schemas/{type}/{version}", "Read one custom event type version", "admin",
        ("200", ref("EventSchema")),
    ),
    Operation(
        "get", "/v1/quarantine", "List refused events", "admin", ("200", _LIST["records"]),
        rules=("`region` must be one of the tenant's regions (rule `enum`)",),
        query=(
            text("region", "One of the tenant's regions (default: its first)"),
            integer("after", 0, 2**62, 0, "List the records after this quarantine id"),
            _LIMIT,
        ),
    ),
    Operation(
        "post", "/v1/recommend", "Recommend items for a person in a placement", "serve",
        ("200", ref("Decision")),
        request={
            "allOf": [
                ref("DecisionRequest"),
                {"not": {"required": ["candidates"], "properties": {"candidates": {"type": "array"}}}},
            ],
            "description": "`candidates` belongs to POST /v1/rank (rule `rank_only`).",
        },
    ),
    Operation(
        "post", "/v1/rank", "Rank the caller's candidates for a person", "serve",
        ("200", ref("Decision")),
        request={
            "allOf": [
                ref("DecisionRequest"),
                {"required": ["candidates"], "properties": {"candidates": {"type": "array"}}},
            ]
        },
    ),
    Operation(
        "get", "/v1/items/{item_id}/similar", "Items similar to one", "serve",
        ("200", ref("SimilarItems")), query=(integer("k", 1, 100, 10, "How many items"),),
    ),
    Operation(
        "get", "/v1/decisions/{decision_id}", "Read a decision's trace and its outcomes", "serve",
        ("200", ref("DecisionRecord")),
    ),
    Operation("get", "/healthz", "The process is alive", None, ("200", {"type": "object"})),
    Operation(
        "get", "/readyz",
        "Warm (models and catalogs loaded) and every store takes a write; else 503 naming why",
        None, ("200", {"type": "object"}),
    ),
    Operation(
        "get", "/metrics", "Prometheus metrics (text exposition format)", None,
        ("200", {"type": "string"}),
    ),
)  # fmt: skip
