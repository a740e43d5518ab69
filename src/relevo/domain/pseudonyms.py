"""Pseudonymous identifiers: raw ids of people never reach storage or logs.

A keyed HMAC maps each raw id to a stable pseudonym, so the same person is the same row across
events, while the files alone do not tell who they are. Each tenant has its own key, so one
tenant's pseudonyms cannot be joined with another's.
"""

from __future__ import annotations

import hashlib
import hmac

CACHE_LIMIT = 200_000  # pseudonyms remembered; cleared when full (RELEVO_CACHE_ID_ENTRIES)


def tenant_key(master_secret: bytes, tenant_id: str) -> bytes:
    """The tenant's own HMAC key, derived from the configured master secret."""
    return hmac.new(
        master_secret, b"relevo-pseudonym:" + tenant_id.encode(), hashlib.sha256
    ).digest()


class Pseudonymizer:
    """Maps ``(kind, raw id)`` to a pseudonym; ``kind`` keeps user and device ids apart.

    >>> p = Pseudonymizer(b"k" * 32)
    >>> p("user_id", "u-42") == p("user_id", "u-42") != p("anonymous_id", "u-42")
    True
    >>> len(p("user_id", "u-42"))
    32
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
            if len(self._cache) >= self.limit:
                self._cache.clear()
            self._cache[(kind, raw)] = cached
        return cached

    def __len__(self) -> int:
        """Pseudonyms remembered now."""
        return len(self._cache)
