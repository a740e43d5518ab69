"""A tenant's catalog, event schemas and people's home regions, in ``tenant.sqlite3``.

The same file holds the model registry's records (see ``registry.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import msgspec

from relevo.adapters.sqlite.database import Database
from relevo.domain.derived import micros
from relevo.domain.items import Item
from relevo.domain.schema_versions import EventSchema

MIGRATIONS = (
    """
    CREATE TABLE items (
        item_id TEXT PRIMARY KEY,
        body BLOB NOT NULL,
        updated_at_us INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE event_schemas (
        type TEXT NOT NULL,
        version TEXT NOT NULL,
        body BLOB NOT NULL,
        created_at_us INTEGER NOT NULL,
        PRIMARY KEY (type, version)
    ) WITHOUT ROWID;
    CREATE TABLE people (
        person TEXT PRIMARY KEY,
        home_region TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE models (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_at_us INTEGER NOT NULL,
        body BLOB NOT NULL,
        PRIMARY KEY (name, version)
    ) WITHOUT ROWID;
    CREATE TABLE model_promotions (
        seq INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('promote', 'rollback')),
        at_us INTEGER NOT NULL,
        FOREIGN KEY (name, version) REFERENCES models (name, version)
    );
    CREATE INDEX model_promotions_name ON model_promotions (name, seq)
    """,
)


class _Facets(msgspec.Struct):
    category: str | None = None
    tags: list[str] = []


_item_decoder = msgspec.json.Decoder(Item)
_facets_decoder = msgspec.json.Decoder(_Facets)  # reads two fields of a body, skips the rest
_schema_decoder = msgspec.json.Decoder(EventSchema)
_encode = msgspec.json.encode


def _chunks(values: Sequence[str], size: int = 500):
    for start in range(0, len(values), size):
        yield values[start : start + size]


class SqliteCatalog:
    def __init__(self, database: Database) -> None:
        self._db = database

    def upsert(self, items: Sequence[Item], at: datetime) -> None:
        stamp = micros(at)
        with self._db.transaction() as db:
            db.executemany(
                "INSERT INTO items VALUES (?, ?, ?) ON CONFLICT (item_id) DO UPDATE"
                " SET body = excluded.body, updated_at_us = excluded.updated_at_us",
                [(item.item_id, _encode(item), stamp) for item in items],
            )

    def get(self, item_id: str) -> Item | None:
        with self._db.reading() as db:
            row = db.execute("SELECT body FROM items WHERE item_id = ?", (item_id,)).fetchone()
        return None if row is None else _item_decoder.decode(row[0])

    def delete(self, item_id: str) -> bool:
        with self._db.transaction() as db:
            return db.execute("DELETE FROM items WHERE item_id = ?", (item_id,)).rowcount == 1

    def page(self, after: str | None, limit: int) -> list[Item]:
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT body FROM items WHERE item_id > ? ORDER BY item_id LIMIT ?",
                (after or "", limit),
            ).fetchall()
        return [_item_decoder.decode(body) for (body,) in rows]

    def facets(self, item_ids: Sequence[str]) -> dict[str, tuple[str | None, list[str]]]:
        found: dict[str, tuple[str | None, list[str]]] = {}
        decode = _facets_decoder.decode
        with self._db.reading() as db:
            for chunk in _chunks(list(item_ids)):
                marks = ",".join("?" * len(chunk))
                for item_id, body in db.execute(
                    f"SELECT item_id, body FROM items WHERE item_id IN ({marks})", chunk
                ):
                    facets = decode(body)
                    found[item_id] = (facets.category, facets.tags)
        return found

    def version(self) -> tuple[int, int]:
        """(items, latest change): an upsert stamps the time, a delete lowers the count."""
        with self._db.reading() as db:
            return db.execute(
                "SELECT count(*), coalesce(max(updated_at_us), 0) FROM items"
            ).fetchone()


class SqliteSchemaRegistry:
    """Schemas are immutable once added, so the whole registry is cached and re-read only when
    the file changes (another process registered a version)."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._cache: dict[str, dict[str, EventSchema]] | None = None
        self._cache_version = -1

    def add(self, schema: EventSchema, at: datetime) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO event_schemas VALUES (?, ?, ?, ?)",
                (schema.type, schema.version, _encode(schema), micros(at)),
            )
        self._cache = None

    def versions(self, type_name: str) -> list[EventSchema]:
        return list(self.all().get(type_name, {}).values())

    def all(self) -> Mapping[str, Mapping[str, EventSchema]]:
        version = self._db.data_version()
        if self._cache is None or version != self._cache_version:
            with self._db.reading() as db:
                rows = db.execute("SELECT body FROM event_schemas ORDER BY type").fetchall()
            cache: dict[str, dict[str, EventSchema]] = {}
            for (body,) in rows:
                schema = _schema_decoder.decode(body)
                cache.setdefault(schema.type, {})[schema.version] = schema
            self._cache, self._cache_version = cache, version
        return self._cache


class SqlitePeopleDirectory:
    def __init__(self, database: Database) -> None:
        self._db = database

    def home_regions(self, person_keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        with self._db.reading() as db:
            for chunk in _chunks(list(person_keys)):
                marks = ",".join("?" * len(chunk))
                found.update(
                    db.execute(
                        f"SELECT person, home_region FROM people WHERE person IN ({marks})", chunk
                    ).fetchall()
                )
        return found

    def claim_home_regions(self, homes: Mapping[str, str]) -> dict[str, str]:
        with self._db.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO people VALUES (?, ?)", homes.items())
        return self.home_regions(list(homes))
