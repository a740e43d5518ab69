"""Untrusted records in, domain objects out, with every violation named.

Every body and record passes one decoding step: bytes that are not JSON as this engine reads it
(broken syntax, invalid UTF-8, nesting deeper than ``MAX_DEPTH``, a number beyond a 64-bit
float) are refused with the rule they break, never with a decoder's exception. msgspec decodes
a valid record fast but stops at the first error; when a record fails, it is
decoded again field by field so that the caller hears about every bad field at once, each with
its JSON Pointer and rule.
"""

from __future__ import annotations

import functools
import re
from typing import Any, TypeVar

import msgspec

from relevo.domain.violations import Violation, from_msgspec_error

T = TypeVar("T", bound=msgspec.Struct)

MAX_DEPTH = 32
"""The deepest nesting of objects and arrays a record may have. Deeper input is refused at the
door: what is stored must decode again wherever it is read (replay, schema checks, export),
and a decoder's recursion limit depends on how deep its caller's stack already is."""

MALFORMED_RULES = frozenset({"json", "encoding", "max_depth", "number_range"})
"""The rules a body breaks when it cannot be read at all (400, where other rules give 422)."""

# A JSON string (skipped whole, escapes included) or one structural character.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*+"|[\[\]{},]', re.S)


class InvalidInput(Exception):
    """Input that breaks the contract; carries every violation found."""

    def __init__(self, violations: list[Violation], title: str = "Invalid input") -> None:
        super().__init__("; ".join(f"{v.field or '(record)'}: {v.detail}" for v in violations))
        self.violations = violations
        self.title = title

    def __reduce__(self):  # crosses process boundaries (import workers) intact
        return (type(self), (self.violations, self.title))


def parse(data: bytes | msgspec.Raw) -> Any:
    """JSON bytes as builtin objects, or ``InvalidInput`` naming the one rule they break.

    >>> parse(b'{"a": [1, 2.5]}')
    {'a': [1, 2.5]}
    >>> parse(b'{"user_id": "\\xff"}')
    Traceback (most recent call last):
    relevo.decoding.InvalidInput: (record): is not valid UTF-8
    >>> parse(b'{"a":' * 40 + b"1" + b"}" * 40)
    Traceback (most recent call last):
    relevo.decoding.InvalidInput: (record): nests objects and arrays deeper than 32
    >>> parse(b'{"price": 1e400}')
    Traceback (most recent call last):
    relevo.decoding.InvalidInput: (record): is a number beyond a 64-bit float
    """
    try:
        value = msgspec.json.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError) as e:
        raise InvalidInput([malformed(e)], "Malformed JSON") from None
    too_deep = _too_deep(data)
    if too_deep:
        raise InvalidInput([too_deep], "Malformed JSON")
    return value


def decode(payload: Any, kind: type[T]) -> tuple[T | None, list[Violation]]:
    """Decode JSON bytes (``msgspec.Raw``/``bytes``) or builtin objects into ``kind``.

    >>> from relevo.domain.items import Item
    >>> [(v.pointer, v.rule) for v in decode({"item_id": "a", "price": -1, "colour": 1}, Item)[1]]
    [('/price', 'minimum'), ('/colour', 'unknown_field')]
    >>> decode(b'{"item_id": "a", "min_age": 18.0}', Item)[0].min_age  # JSON: 18.0 is 18
    18
    """
    raw = isinstance(payload, (bytes, msgspec.Raw))
    try:
        found = _decoder(kind).decode(payload) if raw else msgspec.convert(payload, kind)
    except msgspec.ValidationError as error:
        first = str(error)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as error:
        return None, [malformed(error)]
    else:
        too_deep = _too_deep(payload) if raw else None
        return (None, [too_deep]) if too_deep else (found, [])
    try:
        record = _whole_numbers(parse(payload) if raw else payload)
        return msgspec.convert(record, kind), []
    except InvalidInput as error:
        return None, error.violations
    except msgspec.ValidationError:
        return None, all_violations(record, kind) or [from_msgspec_error(first)]


def malformed(error: Exception) -> Violation:
    """The rule that bytes a JSON decoder refused have broken."""
    if isinstance(error, UnicodeDecodeError):
        return Violation("", "encoding", "is not valid UTF-8")
    if isinstance(error, RecursionError):
        return Violation("", "max_depth", f"nests objects and arrays deeper than {MAX_DEPTH}")
    if isinstance(error, msgspec.ValidationError) and str(error).startswith("Number out of"):
        found = from_msgspec_error(str(error))
        return Violation(found.pointer, "number_range", "is a number beyond a 64-bit float")
    return Violation("", "json", f"is not valid JSON: {error}")


def split_array(data: bytes) -> list[msgspec.Raw] | None:
    """The elements of a JSON array, found by its brackets and commas alone, so that each can be
    decoded, and refused, on its own; ``None`` if the brackets do not balance.

    For a batch the fast splitter cannot take (one record too deep, or broken): the good
    records beside a bad one are still read.

    >>> [bytes(r) for r in split_array(b'[{"a": "],"}, [[1]] , x]')]
    [b'{"a": "],"}', b'[[1]]', b'x']
    >>> split_array(b"[1, [2]"), split_array(b"[ ]")
    (None, [])
    """
    depth, start, parts = 0, 0, []
    for token in _TOKENS.finditer(data):
        char = token.group()
        if char in (b"[", b"{"):
            depth += 1
            if depth == 1:
                start = token.end()
        elif char in (b"]", b"}"):
            depth -= 1
            if depth == 0:
                parts.append(data[start : token.start()].strip())
                if data[token.end() :].strip():
                    return None
                return [msgspec.Raw(p) for p in parts] if parts != [b""] else []
        elif char == b"," and depth == 1:
            parts.append(data[start : token.start()].strip())
            start = token.end()
    return None


@functools.cache
def _decoder(kind: type[T]) -> msgspec.json.Decoder[T]:
    """One decoder per type, made once: ``msgspec.json.decode(payload, type=kind)`` looks the
    type up again on every call."""
    return msgspec.json.Decoder(kind)


def _too_deep(data: bytes | msgspec.Raw) -> Violation | None:
    """A violation if ``data`` nests deeper than ``MAX_DEPTH``. Counting brackets first keeps
    this to two scans in C for any record with fewer brackets than the limit (nearly all)."""
    data = data if isinstance(data, bytes) else bytes(data)
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return None
    depth = 0
    for token in _TOKENS.finditer(data):
        char = token.group()
        if char in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                return Violation(
                    "", "max_depth", f"nests objects and arrays deeper than {MAX_DEPTH}"
                )
        elif char in (b"]", b"}"):
            depth -= 1
    return None


def _whole_numbers(value: Any) -> Any:
    """``value`` with every whole float as an int: JSON does not tell 19.0 from 19 (JSON Schema
    calls both integers), where msgspec refuses a float for an ``int`` field. Used only once a
    strict decode has failed, so valid records never pay for it."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    return value


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
