"""Tenants and API key hashes, in ``control.sqlite3``."""

from __future__ import annotations

from datetime import datetime

import msgspec

from relevo.adapters.sqlite.database import Database, to_datetime
from relevo.domain.derived import micros
from relevo.domain.tenants import ApiKey, Scope, Tenant

MIGRATIONS = (
    """
    CREATE TABLE tenants (
        tenant_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        regions TEXT NOT NULL,
        created_at_us INTEGER NOT NULL
    );
    CREATE TABLE api_keys (
        key_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id),
        secret_hash TEXT NOT NULL UNIQUE,
        scopes TEXT NOT NULL,
        label TEXT NOT NULL,
        created_at_us INTEGER NOT NULL,
        revoked_at_us INTEGER
    );
    CREATE INDEX api_keys_tenant ON api_keys(tenant_id)
    """,
)

_KEY_COLUMNS = "key_id, tenant_id, scopes, label, created_at_us, revoked_at_us"


def _tenant(row: tuple) -> Tenant:
    tenant_id, name, regions, created = row
    return Tenant(tenant_id, name, tuple(msgspec.json.decode(regions)), to_datetime(created))


def _key(row: tuple) -> ApiKey:
    key_id, tenant_id, scopes, label, created, revoked = row
    return ApiKey(
        key_id,
        tenant_id,
        frozenset(Scope(s) for s in msgspec.json.decode(scopes)),
        label,
        to_datetime(created),
        None if revoked is None else to_datetime(revoked),
    )


class SqliteTenantDirectory:
    def __init__(self, database: Database) -> None:
        self._db = database

    def add_tenant(self, tenant: Tenant) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO tenants VALUES (?, ?, ?, ?)",
                (
                    tenant.tenant_id,
                    tenant.name,
                    msgspec.json.encode(tenant.regions),
                    micros(tenant.created_at),
                ),
            )

    def tenant(self, tenant_id: str) -> Tenant | None:
        with self._db.reading() as db:
            row = db.execute("SELECT * FROM tenants WHERE tenant_id = ?", (tenant_id,)).fetchone()
        return None if row is None else _tenant(row)

    def tenants(self) -> list[Tenant]:
        with self._db.reading() as db:
            return [_tenant(r) for r in db.execute("SELECT * FROM tenants ORDER BY tenant_id")]

    def add_key(self, key: ApiKey, secret_hash: str) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key.key_id,
                    key.tenant_id,
                    secret_hash,
                    msgspec.json.encode(sorted(s.value for s in key.scopes)),
                    key.label,
                    micros(key.created_at),
                    None,
                ),
            )

    def key_by_hash(self, secret_hash: str) -> ApiKey | None:
        with self._db.reading() as db:
            row = db.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE secret_hash = ?", (secret_hash,)
            ).fetchone()
        return None if row is None else _key(row)

    def keys(self, tenant_id: str) -> list[ApiKey]:
        with self._db.reading() as db:
            rows = db.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE tenant_id = ? ORDER BY created_at_us",
                (tenant_id,),
            ).fetchall()
        return [_key(r) for r in rows]

    def revoke_key(self, key_id: str, at: datetime) -> bool:
        with self._db.transaction() as db:
            cursor = db.execute(
                "UPDATE api_keys SET revoked_at_us = ? WHERE key_id = ? AND revoked_at_us IS NULL",
                (micros(at), key_id),
            )
            return cursor.rowcount == 1

    def ping(self) -> None:
        with self._db.reading() as db:
            db.execute("SELECT 1 FROM tenants LIMIT 1").fetchall()
