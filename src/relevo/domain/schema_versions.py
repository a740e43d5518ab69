"""Custom event types: versions in ``MAJOR-MINOR-PATCH`` form and the rules between them.

A new version must say how much it changed: adding an optional field is a new MINOR version;
removing a field, changing one, or adding a required one needs a new MAJOR version; a PATCH may
only touch documentation (``title``, ``description``, ``examples``, ``$comment``). Registered
versions never change, so an event validated once stays valid forever.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, NamedTuple

import msgspec

from relevo.domain.events import SchemaVersionText, TypeName
from relevo.domain.violations import Violation


class SchemaVersion(NamedTuple):
    """
    >>> SchemaVersion.parse("1-2-0") > SchemaVersion.parse("1-1-9")
    True
    >>> str(SchemaVersion(2, 0, 0))
    '2-0-0'
    """

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> SchemaVersion:
        major, minor, patch = (int(part) for part in text.split("-"))
        return cls(major, minor, patch)

    def __str__(self) -> str:
        return f"{self.major}-{self.minor}-{self.patch}"


class Change(IntEnum):
    NONE = 0
    PATCH = 1
    MINOR = 2
    MAJOR = 3


class EventSchema(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A tenant's JSON Schema for the ``properties`` of one custom type, at one version."""

    type: TypeName
    version: SchemaVersionText
    schema: dict[str, Any]

    @property
    def parsed_version(self) -> SchemaVersion:
        return SchemaVersion.parse(self.version)


_DOC_KEYWORDS = frozenset({"title", "description", "examples", "$comment"})


def _without_docs(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_docs(v) for k, v in schema.items() if k not in _DOC_KEYWORDS}
    if isinstance(schema, list):
        return [_without_docs(v) for v in schema]
    return schema


def classify_change(old: dict[str, Any], new: dict[str, Any]) -> tuple[Change, str]:
    """How big the change from ``old`` to ``new`` is, and the first reason it is that big.

    >>> old = {"type": "object", "properties": {"a": {"type": "string"}}}
    >>> classify_change(old, {**old, "properties": {"a": {"type": "string"}, "b": {}}})[0].name
    'MINOR'
    >>> classify_change(old, {"type": "object", "properties": {}})
    (<Change.MAJOR: 3>, "field 'a' was removed")
    """
    if old == new:
        return Change.NONE, "identical"
    old_core, new_core = _without_docs(old), _without_docs(new)
    if old_core == new_core:
        return Change.PATCH, "documentation only"
    old_props, new_props = old_core.get("properties", {}), new_core.get("properties", {})
    old_required, new_required = (
        set(old_core.get("required", [])),
        set(new_core.get("required", [])),
    )
    for name in old_props:
        if name not in new_props:
            return Change.MAJOR, f"field '{name}' was removed"
        if old_props[name] != new_props[name]:
            return Change.MAJOR, f"field '{name}' was changed"
    for name in sorted(new_required - old_required):
        return Change.MAJOR, f"field '{name}' became required"
    rest_old = {k: v for k, v in old_core.items() if k not in ("properties", "required")}
    rest_new = {k: v for k, v in new_core.items() if k not in ("properties", "required")}
    if rest_old != rest_new:
        changed = sorted(
            k for k in rest_old.keys() | rest_new.keys() if rest_old.get(k) != rest_new.get(k)
        )
        return Change.MAJOR, f"keyword '{changed[0]}' was changed"
    return Change.MINOR, "optional fields were added or fields became optional"


def check_new_version(
    candidate: EventSchema, existing: list[EventSchema]
) -> tuple[list[Violation], bool]:
    """Whether ``candidate`` may be registered after ``existing`` versions of its type.

    Returns the violations, and True when the very same schema is already registered (an
    idempotent re-registration).
    """
    version = candidate.parsed_version
    same = next((s for s in existing if s.version == candidate.version), None)
    if same is not None:
        if same.schema == candidate.schema:
            return [], True
        return [
            Violation(
                "/version",
                "immutable",
                f"{candidate.type} {candidate.version} is registered with another schema;"
                " register a new version instead",
            )
        ], False
    if candidate.schema.get("type") != "object":
        return [
            Violation("/schema/type", "const", "a properties schema must be of type 'object'")
        ], False
    if not existing:
        if version != SchemaVersion(1, 0, 0):
            return [
                Violation("/version", "first_version", "the first version of a type is 1-0-0")
            ], False
        return [], False
    latest = max(existing, key=lambda s: s.parsed_version)
    last = latest.parsed_version
    if version <= last:
        return [
            Violation("/version", "increasing", f"must be greater than the latest {latest.version}")
        ], False
    next_versions = {
        Change.MAJOR: SchemaVersion(last.major + 1, 0, 0),
        Change.MINOR: SchemaVersion(last.major, last.minor + 1, 0),
        Change.PATCH: SchemaVersion(last.major, last.minor, last.patch + 1),
    }
    bump = next((kind for kind, v in next_versions.items() if v == version), None)
    if bump is None:
        allowed = ", ".join(str(v) for v in next_versions.values())
        return [Violation("/version", "next_version", f"must be one of {allowed}")], False
    needed, why = classify_change(latest.schema, candidate.schema)
    if needed > bump:
        return [
            Violation(
                "/version",
                "compatibility",
                f"{why}: that needs a new {needed.name.lower()} version"
                f" ({next_versions[needed]}), not {candidate.version}",
            )
        ], False
    return [], False
