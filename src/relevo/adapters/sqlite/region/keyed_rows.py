"""Reading the rows of many keys at once, within SQLite's cap on one statement's parameters."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

CHUNK = 500
"""Keys bound to one statement, well under SQLite's parameter cap."""


def rows_for_keys(db: sqlite3.Connection, query: str, keys: Sequence[str]) -> Iterator[Any]:
    """The rows of ``query`` (ending in ``IN``) for the keys, ``CHUNK`` keys a statement."""
    keys = list(keys)
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        yield from db.execute(f"{query} ({','.join('?' * len(chunk))})", chunk)
