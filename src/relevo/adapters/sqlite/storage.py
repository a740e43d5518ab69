"""The SQLite ``Storage``: opens each file once, on first use, and hands out tenant-scoped stores."""

from __future__ import annotations

import threading
from pathlib import Path

from relevo.adapters.sqlite import control, region, tenant
from relevo.adapters.sqlite.change_board import ChangeBoard
from relevo.adapters.sqlite.control import SqliteTenantDirectory
from relevo.adapters.sqlite.database import Database, Synchronous
from relevo.adapters.sqlite.region import SqliteRegionPartition
from relevo.adapters.sqlite.registry import SqliteModelRegistry
from relevo.adapters.sqlite.tenant import SqliteCatalog, SqlitePeopleDirectory, SqliteSchemaRegistry
from relevo.domain.tenants import RegionName, TenantId


class SqliteStorage:
    def __init__(self, data_dir: Path, synchronous: Synchronous = "full") -> None:
        self.data_dir = data_dir
        self._synchronous: Synchronous = synchronous
        self._lock = threading.RLock()
        self._databases: dict[Path, Database] = {}
        self._stores: dict[
            str,
            tuple[SqliteCatalog, SqliteSchemaRegistry, SqlitePeopleDirectory, SqliteModelRegistry],
        ] = {}
        self._partitions: dict[tuple[str, str], SqliteRegionPartition] = {}
        self.tenants = SqliteTenantDirectory(
            self._open(data_dir / "control.sqlite3", control.MIGRATIONS)
        )

    def _open(self, path: Path, migrations: tuple[str, ...]) -> Database:
        with self._lock:
            database = self._databases.get(path)
            if database is None:
                database = Database(path, migrations, self._synchronous)
                self._databases[path] = database
            return database

    def _tenant_dir(self, tenant_id: TenantId) -> Path:
        # Tenant ids are validated slugs; refuse anything else so a path can never escape.
        if not tenant_id.replace("-", "").isalnum() or not tenant_id.islower():
            raise ValueError(f"invalid tenant id {tenant_id!r}")
        return self.data_dir / "tenants" / tenant_id

    def _tenant_stores(self, tenant_id: str):
        stores = self._stores.get(tenant_id)
        if stores is None:
            folder = self._tenant_dir(tenant_id)
            db = self._open(folder / "tenant.sqlite3", tenant.MIGRATIONS)
            stores = (
                SqliteCatalog(db),
                SqliteSchemaRegistry(db),
                SqlitePeopleDirectory(db),
                SqliteModelRegistry(db, folder / "models"),
            )
            self._stores[tenant_id] = stores
        return stores

    def catalog(self, tenant_id: str) -> SqliteCatalog:
        return self._tenant_stores(tenant_id)[0]

    def schemas(self, tenant_id: str) -> SqliteSchemaRegistry:
        return self._tenant_stores(tenant_id)[1]

    def people(self, tenant_id: str) -> SqlitePeopleDirectory:
        return self._tenant_stores(tenant_id)[2]

    def models(self, tenant_id: str) -> SqliteModelRegistry:
        return self._tenant_stores(tenant_id)[3]

    def partition(self, tenant_id: str, region_name: RegionName) -> SqliteRegionPartition:
        key = (tenant_id, region_name)
        found = self._partitions.get(key)
        if found is not None:
            return found
        if not region_name.replace("-", "").isalnum():
            raise ValueError(f"invalid region {region_name!r}")
        path = self._tenant_dir(tenant_id) / f"region-{region_name}.sqlite3"
        with self._lock:  # one partition, and one board mapping, per file
            found = self._partitions.get(key)
            if found is None:
                found = SqliteRegionPartition(
                    self._open(path, region.MIGRATIONS), ChangeBoard(path.with_suffix(".changes"))
                )
                self._partitions[key] = found
        return found

    def close(self) -> None:
        with self._lock:
            for database in self._databases.values():
                database.close()
            self._databases.clear()
            for partition in self._partitions.values():
                partition.close()
            self._partitions.clear()
