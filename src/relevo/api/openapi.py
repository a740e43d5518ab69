"""The OpenAPI 3.1 document, built from the domain's own types and the route table (the same
rows the server routes) so it states what the server enforces: every status an operation answers, the business rules it
checks beyond its schemas, and the limits configured."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from relevo.api.operation_table import OPERATIONS, Operation
from relevo.api.problems import PROBLEM_JSON
from relevo.catalog.service import ItemResult
from relevo.decoding import MAX_DEPTH
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
from relevo.domain.schema_versions import EventSchema
from relevo.domain.violations import Violation
from relevo.ingest.pipeline import EventResult
from relevo.ports import Outcome, QuarantineRecord

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


# The answer of GET /v1/items/{id}/similar. Its struct lives in relevo.decide.similar, which
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

_MALFORMED = (
    "The body is not JSON as the engine reads it (rules `json`, `encoding`: UTF-8 only,"
    f" `max_depth`: nesting at most {MAX_DEPTH} deep, `number_range`: numbers within a 64-bit"
    " float)"
)
_MULTI_STATUS = "Some records were refused; the others were taken (see each result)"
_IDENTIFIER = {"type": "string", "minLength": 1, "maxLength": 256}
_PATH_PARAMETERS = {
    "item_id": {**_IDENTIFIER, "not": {"pattern": "/similar$"}},
    "user_id": _IDENTIFIER,
    "decision_id": {"type": "string", "minLength": 1},
    "type": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,63}$"},
    "version": {"type": "string", "pattern": "^\\d{1,4}-\\d{1,4}-\\d{1,4}$"},
}


def openapi_document(
    version: str, max_batch: int = 1000, placements: Sequence[str] = ("default",), year: int = 9999
) -> dict[str, Any]:
    """The document for a server whose largest batch is ``max_batch``, whose configured
    placements are ``placements``, and where ``year`` is the latest birth year taken.

    >>> document = openapi_document("1", 50, ("home", "default"), 2026)
    >>> events = document["paths"]["/v1/events"]["post"]
    >>> events["requestBody"]["content"]["application/json"]["schema"]["oneOf"][1]["maxItems"]
    50
    >>> document["components"]["schemas"]["DecisionRequest"]["properties"]["placement"]["enum"]
    ['home', 'default']
    """
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        methods = paths.setdefault(operation.document_path, {})
        methods[operation.method.lower()] = _operation(operation, max_batch)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Relevo", "version": version},
        "paths": paths,
        "components": {
            "schemas": _components(placements, year),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _components(placements: Sequence[str], year: int) -> dict[str, Any]:
    """The schemas of the domain's types, with what the server checks beyond their types."""
    _, components = msgspec.json.schema_components(
        [Event, Item, PersonAttributes, EventSchema, EventResult, ItemResult, Violation,
         QuarantineRecord, DecisionRequest, Decision, RecommendedItem, Trace, Outcome],
        schema_hook=schema_hook,
        ref_template="#/components/schemas/{name}",
    )  # fmt: skip
    in_path = {**components["Item"], "required": [], "title": "ItemInPath"}
    in_path["description"] = "An item whose id is the path's; `item_id` may be left out."
    components.update(
        Problem=_PROBLEM,
        EventResults=_results("EventResult"),
        ItemResults=_results("ItemResult"),
        SimilarItems=_SIMILAR,
        DecisionRecord=_DECISION_RECORD,
        ItemInPath=in_path,
    )
    for name, field in (("Event", "occurred_at"), ("Item", "created_at"), ("Trace", "at"),
                        ("Outcome", "occurred_at")):  # fmt: skip
        components[name]["properties"][field]["format"] = "date-time"
    placement = components["DecisionRequest"]["properties"]["placement"]
    placement["enum"] = list(placements)
    birth_year = components["PersonAttributes"]["properties"]["birth_year"]["anyOf"][0]
    birth_year["maximum"] = year
    return components


def _operation(operation: Operation, max_batch: int) -> dict[str, Any]:
    """One operation's entry: its parameters, body, and every status it may answer."""
    document: dict[str, Any] = {"summary": operation.summary}
    responses: dict[str, Any] = {operation.success[0]: _success(operation)}
    if operation.scope is not None:
        scope = operation.scope.value
        document["security"] = [{"bearer": []}]
        document["description"] = f"Needs a key with the `{scope}` scope (or `admin`)."
        responses["401"] = _problem("No key, or an unknown or revoked one")
        responses["403"] = _problem(f"The key lacks the `{scope}` scope")
    if operation.request is not None:
        document["requestBody"] = {"required": True, "content": _json(_body(operation, max_batch))}
        responses.update(_body_responses(operation, max_batch))
    elif operation.query:
        responses["422"] = _problem(_with_rules("A query parameter is out of range", operation))
    if operation.rules:
        document["x-business-rules"] = list(operation.rules)
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": _PATH_PARAMETERS[name]}
        for name in (p[1:-1] for p in operation.document_path.split("/") if p.startswith("{"))
    ]
    if parameters:
        responses["404"] = _problem("No such resource")
    if parameters or operation.query:
        document["parameters"] = parameters + list(operation.query)
    responses["503"] = {
        "description": "Storage cannot take the request now; try again after `Retry-After` s",
        "headers": {"Retry-After": {"required": True, "schema": {"type": "string"}}},
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    responses["default"] = _problem("A problem, naming each field and rule")
    document["responses"] = responses
    return document


def _body(operation: Operation, max_batch: int) -> Any:
    if not operation.batch:
        return operation.request
    records = {"type": "array", "items": operation.request, "minItems": 1, "maxItems": max_batch}
    return {"oneOf": [operation.request, records]}


def _body_responses(operation: Operation, max_batch: int) -> dict[str, Any]:
    """What an operation that takes a body may answer about it."""
    too_large = "The body is larger than the configured limit"
    responses = {}
    if operation.batch:
        too_large += f", or a batch holds more than {max_batch} records (rule `max_items`)"
        responses["207"] = {"description": _MULTI_STATUS, "content": _json(operation.success[1])}
    contract = "The body breaks its schema; `errors` names each field and rule"
    return {
        **responses,
        "400": _problem(_MALFORMED),
        "413": _problem(too_large),
        "415": _problem("The body is not sent as JSON"),
        "422": _problem(_with_rules(contract, operation)),
    }


def _success(operation: Operation) -> dict[str, Any]:
    success: dict[str, Any] = {"description": "Success"}
    if operation.success[1] is not None:
        success["content"] = {operation.media: {"schema": operation.success[1]}}
    return success


def _json(schema: Any) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _with_rules(description: str, operation: Operation) -> str:
    if not operation.rules:
        return description
    return description + "; or a business rule is broken: " + "; ".join(operation.rules)
