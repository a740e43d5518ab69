"""Pseudonymous identifiers: raw ids of people never reach storage or logs.

A keyed HMAC maps each raw id to a stable pseudonym, so the same person is the same row across
events, while the files alone do not tell who they are. Each tenant has its own key, so one
tenant's pseudonyms cannot be joined with another's.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

import msgspec

CACHE_LIMIT = 200_000  # pseudonyms remembered; cleared when full (RELEVO_CACHE_ID_ENTRIES)


def tenant_key(master_secret: bytes, tenant_id: str) -> bytes:
    """The tenant's own HMAC key, derived from the configured master secret."""
    return hmac.new(
        master_secret, b"relevo-pseudonym:" + tenant_id.encode(), hashlib.sha256
    ).digest()


class Pseudonymizer:
    """Maps ``(kind, raw id)`` to a pseudonym; ``kind`` keeps user and device ids apart.

    People's ids are remembered (up to ``limit``), session ids are not: a session lasts one
    visit, so remembering its id only fills the cache (in a soak, most of its new entries).

    >>> p = Pseudonymizer(b"k" * 32)
    >>> p("user_id", "u-42") == p("user_id", "u-42") != p("anonymous_id", "u-42")
    True
    >>> len(p("user_id", "u-42")), p("session_id", "s-1") == p("session_id", "s-1"), len(p)
    (32, True, 2)
    """

    __slots__ = ("__weakref__", "_cache", "_key", "limit")

    def __init__(self, key: bytes, limit: int = CACHE_LIMIT) -> None:
        self._key = key
        self._cache: dict[tuple[str, str], str] = {}
        self.limit = limit

    def __call__(self, kind: str, raw: str) -> str:
        cached = self._cache.get((kind, raw))
        if cached is None:
            message = f"{kind}:{raw}".encode()
            cached = hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]
            if kind == "session_id":
                return cached
            if len(self._cache) >= self.limit:
                self._cache.clear()
            self._cache[(kind, raw)] = cached
        return cached

    def __len__(self) -> int:
        """Pseudonyms remembered now."""
        return len(self._cache)


PERSON_FIELDS = ("user_id", "anonymous_id", "session_id")
"""The fields that identify a person; they are pseudonymized before anything is stored."""

_SPELLINGS = {field.replace("_", ""): field for field in PERSON_FIELDS}
_NOT_LETTERS = re.compile(r"[^a-z0-9]")


def person_field(name: str) -> str | None:
    """The person field a key names, however it is spelt (case and separators aside), so that
    a misspelt id is still taken for one.

    >>> person_field("userId"), person_field("Anonymous-ID"), person_field("item_id")
    ('user_id', 'anonymous_id', None)
    """
    return _SPELLINGS.get(_NOT_LETTERS.sub("", name.lower()))


def pseudonymized(value: Any, pseudonymize: Pseudonymizer) -> Any:
    """``value`` (a refused record, which may be kept) with every person id in it, at any
    depth and under any spelling of its field, replaced by its pseudonym. A string id keeps
    its pseudonym, so a replay after a fix finds the same person; an id of another type becomes
    ``{"redacted": pseudonym}``, which stays refused on replay.

    >>> p = Pseudonymizer(b"k" * 32)
    >>> kept = pseudonymized({"userId": "bob", "context": {"Session-ID": 7}, "n": 1}, p)
    >>> kept["userId"] == p("user_id", "bob"), list(kept["context"]["Session-ID"]), kept["n"]
    (True, ['redacted'], 1)
    """
    if isinstance(value, list):
        return [pseudonymized(item, pseudonymize) for item in value]
    if not isinstance(value, dict):
        return value
    kept: dict[str, Any] = {}
    for key, item in value.items():
        field = person_field(key)
        if field is None:
            kept[key] = pseudonymized(item, pseudonymize)
        elif isinstance(item, str):
            kept[key] = pseudonymize(field, item)
        elif item is not None:
            kept[key] = {"redacted": pseudonymize(field, msgspec.json.encode(item).decode())}
        else:
            kept[key] = None
    return kept
