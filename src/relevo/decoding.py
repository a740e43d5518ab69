"""Untrusted records in, domain objects out, with every violation named.

msgspec decodes a valid record in about a microsecond but stops at the first error; when a
record fails, it is decoded again field by field so that the caller hears about every bad
field at once, each with its JSON Pointer and rule.
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

import msgspec

from relevo.domain.violations import Violation, from_msgspec_error

T = TypeVar("T", bound=msgspec.Struct)


class InvalidInput(Exception):
    """Input that breaks the contract; carries every violation found."""

    def __init__(self, violations: list[Violation], title: str = "Invalid input") -> None:
        super().__init__("; ".join(f"{v.field or '(record)'}: {v.detail}" for v in violations))
        self.violations = violations
        self.title = title

    def __reduce__(self):  # crosses process boundaries (import workers) intact
        return (type(self), (self.violations, self.title))


def decode(payload: Any, kind: type[T]) -> tuple[T | None, list[Violation]]:
    """Decode JSON bytes (``msgspec.Raw``/``bytes``) or builtin objects into ``kind``.

    >>> from relevo.domain.items import Item
    >>> [(v.pointer, v.rule) for v in decode({"item_id": "a", "price": -1, "colour": 1}, Item)[1]]
    [('/price', 'minimum'), ('/colour', 'unknown_field')]
    """
    try:
        if isinstance(payload, (bytes, msgspec.Raw)):
            return _decoder(kind).decode(payload), []
        return msgspec.convert(payload, kind), []
    except msgspec.ValidationError as error:
        first = str(error)
    except msgspec.DecodeError as error:
        return None, [Violation("", "json", f"is not valid JSON: {error}")]
    if isinstance(payload, (bytes, msgspec.Raw)):
        try:
            payload = msgspec.json.decode(payload)
        except msgspec.DecodeError as error:  # a field error came first, then broken JSON
            return None, [Violation("", "json", f"is not valid JSON: {error}")]
    return None, all_violations(payload, kind) or [from_msgspec_error(first)]


@functools.cache
def _decoder(kind: type[T]) -> msgspec.json.Decoder[T]:
    """One decoder per type, made once: ``msgspec.json.decode(payload, type=kind)`` looks the
    type up again on every call."""
    return msgspec.json.Decoder(kind)


def all_violations(record: Any, kind: type[msgspec.Struct]) -> list[Violation]:
    """Every field-level violation of ``record`` against ``kind``."""
    if not isinstance(record, dict):
        return [Violation("", "type", f"must be a JSON object, got {type(record).__name__}")]
    found: list[Violation] = []
    fields = msgspec.structs.fields(kind)
    for info in fields:
        if info.encode_name not in record:
            if info.required:
                found.append(Violation("/" + info.encode_name, "required", "is required"))
            continue
        try:
            msgspec.convert(record[info.encode_name], info.type)
        except msgspec.ValidationError as error:
            found.append(from_msgspec_error(str(error)).under("/" + info.encode_name))
    known = {info.encode_name for info in fields}
    found.extend(
        Violation("/" + str(name), "unknown_field", "is not a field of the contract")
        for name in record
        if name not in known
    )
    return found
