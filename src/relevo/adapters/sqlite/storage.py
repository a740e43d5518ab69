"""The SQLite ``Storage``: opens each file once, on first use, and hands out tenant-scoped stores."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

from relevo.adapters.sqlite import control, region, tenant
from relevo.adapters.sqlite.change_board import ChangeBoard
from relevo.adapters.sqlite.control import SqliteTenantDirectory
from relevo.adapters.sqlite.database import Database, Synchronous
from relevo.adapters.sqlite.faults import fault_of
from relevo.adapters.sqlite.region import SqliteRegionPartition
from relevo.adapters.sqlite.registry import SqliteModelRegistry
from relevo.adapters.sqlite.tenant import SqliteCatalog, SqlitePeopleDirectory, SqliteSchemaRegistry
from relevo.domain.tenants import RegionName, TenantId
from relevo.ports import StorageUnavailable


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
        self._control = self._open(data_dir / "control.sqlite3", control.MIGRATIONS, "control")
        self.tenants = SqliteTenantDirectory(self._control)

    def _open(self, path: Path, migrations: tuple[str, ...], name: str) -> Database:
        """The file's one ``Database``; one that cannot be opened now is tried again next time."""
        with self._lock:
            database = self._databases.get(path)
            if database is None:
                database = Database(path, migrations, self._synchronous, name)
                self._databases[path] = database
            return database

    def _tenant_database(self, tenant_id: str) -> Database:
        folder = self._tenant_dir(tenant_id)
        return self._open(folder / "tenant.sqlite3", tenant.MIGRATIONS, f"tenant {tenant_id}")

    def _region_database(self, tenant_id: str, region_name: str) -> Database:
        if not region_name.replace("-", "").isalnum():
            raise ValueError(f"invalid region {region_name!r}")
        path = self._tenant_dir(tenant_id) / f"region-{region_name}.sqlite3"
        return self._open(path, region.MIGRATIONS, f"tenant {tenant_id} region {region_name}")

    def _tenant_dir(self, tenant_id: TenantId) -> Path:
        # Tenant ids are validated slugs; refuse anything else so a path can never escape.
        if not tenant_id.replace("-", "").isalnum() or not tenant_id.islower():
            raise ValueError(f"invalid tenant id {tenant_id!r}")
        return self.data_dir / "tenants" / tenant_id

    def _tenant_stores(self, tenant_id: str):
        stores = self._stores.get(tenant_id)
        if stores is None:
            folder = self._tenant_dir(tenant_id)
            db = self._tenant_database(tenant_id)
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
        with self._lock:  # one partition, and one board mapping, per file
            found = self._partitions.get(key)
            if found is None:
                database = self._region_database(tenant_id, region_name)
                found = SqliteRegionPartition(database, _board(database))
                self._partitions[key] = found
        return found

    def unwritable(self) -> list[StorageUnavailable]:
        """Probes the control file, then every tenant's file and region files."""
        faults = [self._control.probe()]
        try:
            tenants = self.tenants.tenants()
        except StorageUnavailable as fault:
            return [f for f in (*faults, fault) if f is not None]
        for one in tenants:
            faults.append(self._probe(partial(self._tenant_database, one.tenant_id)))
            for name in one.regions:
                faults.append(self._probe(partial(self._region_database, one.tenant_id, name)))
        return [f for f in faults if f is not None]

    @staticmethod
    def _probe(database: Callable[[], Database]) -> StorageUnavailable | None:
        try:
            return database().probe()
        except StorageUnavailable as fault:  # it could not even be opened
            return fault

    def close(self) -> None:
        with self._lock:
            for database in self._databases.values():
                database.close()
            self._databases.clear()
            for partition in self._partitions.values():
                partition.close()
            self._partitions.clear()


def _board(database: Database) -> ChangeBoard:
    """The change board beside a region file; a folder that refuses it is a storage fault."""
    try:
        return ChangeBoard(database.path.with_suffix(".changes"))
    except OSError as error:
        fault = fault_of(database.name, error)
        assert fault is not None  # every OSError is one
        raise fault from error
