"""The OpenAPI 3.1 document, built from the domain's own types so it cannot drift from them."""

from __future__ import annotations

from typing import Any

import msgspec

from relevo.catalog.service import ItemResult
from relevo.domain.decisions import (
    Decision,
    DecisionRequest,
    RecommendedItem,
    Trace,
    schema_hook,
)
from relevo.domain.events import Event
from relevo.domain.items import Item
from relevo.domain.people import PersonAttributes
from relevo.domain.schemas import EventSchema
from relevo.domain.violations import Violation
from relevo.ingest.pipeline import EventResult
from relevo.ports import Outcome, QuarantineRecord

# (method, path, summary, scope, request schema, success status and schema)
OPERATIONS: tuple[tuple[str, str, str, str | None, Any, tuple[str, Any]], ...] = (
    (
        "post",
        "/v1/events",
        "Ingest one event or a batch of up to 1,000",
        "ingest",
        {
            "oneOf": [
                {"$ref": "#/components/schemas/Event"},
                {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/Event"},
                    "maxItems": 1000,
                },
            ]
        },
        ("200", {"$ref": "#/components/schemas/EventResults"}),
    ),
    (
        "post",
        "/v1/items",
        "Upsert one item or a batch",
        "admin",
        {
            "oneOf": [
                {"$ref": "#/components/schemas/Item"},
                {"type": "array", "items": {"$ref": "#/components/schemas/Item"}, "maxItems": 1000},
            ]
        },
        ("200", {"$ref": "#/components/schemas/ItemResults"}),
    ),
    (
        "get",
        "/v1/items",
        "List items by id (query: after, limit)",
        "serve",
        None,
        (
            "200",
            {
                "type": "object",
                "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
                    "next_after": {"type": ["string", "null"]},
                },
            },
        ),
    ),
    (
        "put",
        "/v1/items/{item_id}",
        "Create or replace an item",
        "admin",
        {"$ref": "#/components/schemas/Item"},
        ("200", {"$ref": "#/components/schemas/Item"}),
    ),
    (
        "get",
        "/v1/items/{item_id}",
        "Read an item",
        "serve",
        None,
        ("200", {"$ref": "#/components/schemas/Item"}),
    ),
    ("delete", "/v1/items/{item_id}", "Delete an item", "admin", None, ("204", None)),
    (
        "put",
        "/v1/people/{user_id}",
        "Set (replace) a person's attributes",
        "serve",
        {"$ref": "#/components/schemas/PersonAttributes"},
        ("200", {"$ref": "#/components/schemas/PersonAttributes"}),
    ),
    (
        "get",
        "/v1/people/{user_id}",
        "Read a person's attributes",
        "serve",
        None,
        ("200", {"$ref": "#/components/schemas/PersonAttributes"}),
    ),
    (
        "post",
        "/v1/schemas",
        "Register a custom event type version",
        "admin",
        {"$ref": "#/components/schemas/EventSchema"},
        ("201", {"$ref": "#/components/schemas/EventSchema"}),
    ),
    (
        "get",
        "/v1/schemas",
        "List registered custom event types",
        "admin",
        None,
        (
            "200",
            {
                "type": "object",
                "properties": {
                    "schemas": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/EventSchema"},
                    }
                },
            },
        ),
    ),
    (
        "get",
        "/v1/schemas/{type}/{version}",
        "Read one custom event type version",
        "admin",
        None,
        ("200", {"$ref": "#/components/schemas/EventSchema"}),
    ),
    (
        "get",
        "/v1/quarantine",
        "List refused events (query: region, after, limit)",
        "admin",
        None,
        (
            "200",
            {
                "type": "object",
                "properties": {
                    "records": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/QuarantineRecord"},
                    }
                },
            },
        ),
    ),
    (
        "post",
        "/v1/recommend",
        "Recommend items for a person in a placement",
        "serve",
        {
            "allOf": [
                {"$ref": "#/components/schemas/DecisionRequest"},
                {
                    "not": {
                        "required": ["candidates"],
                        "properties": {"candidates": {"type": "array"}},
                    }
                },
            ],
            "description": "`candidates` belongs to POST /v1/rank (rule `rank_only`).",
        },
        ("200", {"$ref": "#/components/schemas/Decision"}),
    ),
    (
        "post",
        "/v1/rank",
        "Rank the caller's candidates for a person",
        "serve",
        {
            "allOf": [
                {"$ref": "#/components/schemas/DecisionRequest"},
                {"required": ["candidates"], "properties": {"candidates": {"type": "array"}}},
            ]
        },
        ("200", {"$ref": "#/components/schemas/Decision"}),
    ),
    (
        "get",
        "/v1/items/{item_id}/similar",
        "Items similar to one (query: k, 1-100, default 10)",
        "serve",
        None,
        ("200", {"$ref": "#/components/schemas/SimilarItems"}),
    ),
    (
        "get",
        "/v1/decisions/{decision_id}",
        "Read a decision's trace and the outcomes joined to it",
        "serve",
        None,
        ("200", {"$ref": "#/components/schemas/DecisionRecord"}),
    ),
    ("get", "/healthz", "The process is alive", None, None, ("200", {"type": "object"})),
    (
        "get",
        "/readyz",
        "Warm (models and catalogs loaded) and every store takes a write; else 503 naming why",
        None,
        None,
        ("200", {"type": "object"}),
    ),
    (
        "get",
        "/metrics",
        "Prometheus metrics (text exposition format)",
        None,
        None,
        ("200", {"type": "string"}),
    ),
)

_PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/Violation"}},
    },
}


def _results(name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "results": {"type": "array", "items": {"$ref": f"#/components/schemas/{name}"}},
        },
    }


# The answer of GET /v1/items/{id}/similar. Its struct lives in relevo.decide.service, which
# loads the numerical libraries; the API module must not, so its shape is written out here.
_SIMILAR = {
    "type": "object",
    "properties": {
        "item_id": {"type": "string"},
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/RecommendedItem"}},
        "model_version": {"type": "string"},
        "fallback": {"type": "string"},
    },
    "required": ["item_id", "items", "model_version", "fallback"],
}
_DECISION_RECORD = {
    "type": "object",
    "properties": {
        "trace": {"$ref": "#/components/schemas/Trace"},
        "outcomes": {"type": "array", "items": {"$ref": "#/components/schemas/Outcome"}},
    },
    "required": ["trace", "outcomes"],
}

_BATCHES = {("post", "/v1/events"), ("post", "/v1/items")}
_TEXT = {("get", "/metrics")}
_MULTI_STATUS = "Some records were refused; the others were taken (see each result)"


def openapi_document(version: str, max_batch: int = 1000) -> dict[str, Any]:
    """The document; ``max_batch`` is the configured largest batch."""
    _, components = msgspec.json.schema_components(
        [
            Event,
            Item,
            PersonAttributes,
            EventSchema,
            EventResult,
            ItemResult,
            Violation,
            QuarantineRecord,
            DecisionRequest,
            Decision,
            RecommendedItem,
            Trace,
            Outcome,
        ],
        schema_hook=schema_hook,
        ref_template="#/components/schemas/{name}",
    )
    components.update(
        Problem=_PROBLEM,
        EventResults=_results("EventResult"),
        ItemResults=_results("ItemResult"),
        SimilarItems=_SIMILAR,
        DecisionRecord=_DECISION_RECORD,
    )
    for name, field in (
        ("Event", "occurred_at"),
        ("Item", "created_at"),
        ("Trace", "at"),
        ("Outcome", "occurred_at"),
    ):
        components[name]["properties"][field]["format"] = "date-time"
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, scope, request, (status, response) in OPERATIONS:
        operation: dict[str, Any] = {"summary": summary, "responses": {}}
        if scope:
            operation["security"] = [{"bearer": []}]
            operation["description"] = f"Needs a key with the `{scope}` scope (or `admin`)."
        if request is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": request}},
            }
        success: dict[str, Any] = {"description": "Success"}
        if response is not None:
            media = "text/plain" if (method, path) in _TEXT else "application/json"
            success["content"] = {media: {"schema": response}}
        operation["responses"][status] = success
        if (method, path) in _BATCHES:
            operation["requestBody"]["content"]["application/json"]["schema"] = _with_max(
                request, max_batch
            )
            operation["responses"]["207"] = {
                "description": _MULTI_STATUS,
                "content": {"application/json": {"schema": response}},
            }
        operation["responses"]["default"] = {
            "description": "A problem (4xx for bad input, naming each field and rule)",
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
        params = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        if params:
            operation["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in params
            ]
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Relevo", "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _with_max(schema: Any, max_batch: int) -> Any:
    if isinstance(schema, dict):
        return {
            k: (max_batch if k == "maxItems" else _with_max(v, max_batch))
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_with_max(v, max_batch) for v in schema]
    return schema


DOCS_HTML = """<!doctype html>
<html><head><title>Relevo API</title><meta charset="utf-8">
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head><body><div id="ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});</script>
</body></html>"""
