"""Every storage adapter, for the contract suites: each test runs once per adapter.

Only SQLite exists so far; PostgreSQL and Redis adapters join ``ADAPTERS`` in a later issue and
must pass the very same tests against real servers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relevo.adapters.sqlite.storage import SqliteStorage
from relevo.domain.tenants import Tenant
from relevo.ports import Storage

ADAPTERS: dict[str, Callable[[Path], Storage]] = {
    "sqlite": lambda root: SqliteStorage(root / "data", "normal"),
}


@pytest.fixture(params=sorted(ADAPTERS))
def open_storage(request, tmp_path: Path) -> Iterator[Callable[[], Storage]]:
    """Opens the adapter's storage (again, to show what survives a restart); closes them all."""
    opened: list[Storage] = []

    def open_one() -> Storage:
        opened.append(ADAPTERS[request.param](tmp_path))
        return opened[-1]

    yield open_one
    for storage in opened:
        storage.close()


@pytest.fixture
def storage(open_storage) -> Storage:
    return open_storage()


@pytest.fixture
def tenant(storage: Storage) -> Tenant:
    created = Tenant("acme", "acme", ("eu", "us"), datetime(2026, 1, 1, tzinfo=UTC))
    storage.tenants.add_tenant(created)
    return created
