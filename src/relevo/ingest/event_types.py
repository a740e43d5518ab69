"""Registering tenants' custom event types and checking events against them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator

from relevo.decoding import InvalidInput, decode
from relevo.domain.events import BUILTIN_TYPES, Event
from relevo.domain.schema_versions import EventSchema, SchemaVersion, check_new_version
from relevo.domain.violations import Violation
from relevo.ports import Storage


def _pointer(path) -> str:
    return "".join(f"/{part}" for part in path)


class SchemaService:
    def __init__(
        self, storage: Storage, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._storage = storage
        self._clock = clock
        # Registered versions never change, so a compiled validator is good forever.
        self._validators: dict[tuple[str, str, str], Draft202012Validator] = {}

    def register(self, tenant_id: str, payload: Any) -> tuple[EventSchema, bool]:
        """Register a version; True if it is new, False if the same one was already there."""
        schema, problems = decode(payload, EventSchema)
        if schema is None:
            raise InvalidInput(problems, "Invalid event schema")
        if schema.type in BUILTIN_TYPES:
            raise InvalidInput(
                [Violation("/type", "builtin", f"'{schema.type}' is a built-in type")]
            )
        try:
            Draft202012Validator.check_schema(schema.schema)
        except jsonschema.SchemaError as error:
            raise InvalidInput(
                [
                    Violation(
                        "/schema" + _pointer(error.absolute_path), "json_schema", error.message
                    )
                ],
                "Invalid event schema",
            ) from None
        registry = self._storage.schemas(tenant_id)
        problems, existing = check_new_version(schema, registry.versions(schema.type))
        if problems:
            raise InvalidInput(problems, "Schema version refused")
        if not existing:
            registry.add(schema, self._clock())
        return schema, not existing

    def list(self, tenant_id: str) -> list[EventSchema]:
        registered = self._storage.schemas(tenant_id).all()
        return [s for versions in registered.values() for s in versions.values()]

    def get(self, tenant_id: str, type_name: str, version: str) -> EventSchema | None:
        return self._storage.schemas(tenant_id).all().get(type_name, {}).get(version)

    def registered(self, tenant_id: str) -> Mapping[str, Mapping[str, EventSchema]]:
        return self._storage.schemas(tenant_id).all()

    def check_properties(
        self, tenant_id: str, event: Event, versions: Mapping[str, EventSchema]
    ) -> list[Violation]:
        """Check a custom event's properties against its version (the latest if unnamed)."""
        if event.schema_version is None:
            schema = versions[max(versions, key=SchemaVersion.parse)]
        elif event.schema_version in versions:
            schema = versions[event.schema_version]
        else:
            return [
                Violation(
                    "/schema_version",
                    "unknown_version",
                    f"'{event.type}' has no version {event.schema_version};"
                    f" registered: {', '.join(sorted(versions))}",
                )
            ]
        key = (tenant_id, schema.type, schema.version)
        validator = self._validators.get(key)
        if validator is None:
            validator = self._validators[key] = Draft202012Validator(schema.schema)
        return [
            Violation(
                "/properties" + _pointer(error.absolute_path), str(error.validator), error.message
            )
            for error in validator.iter_errors(event.properties)
        ]
