"""What serving keeps in memory per tenant: the promoted models and the catalog.

A decision must not read artifacts or the whole catalog from disk, so both are cached and
checked for change every ``refresh_s`` seconds: a promotion or rollback serves within that
time in every process, and a catalog change too. Only the very first use waits for a load; a
later check, and the reload it may start, run in a background thread while requests go on with
the value they had (stale while revalidating), so no request pays for a reload. ``refresh_s=0``
checks on every use, inline (tests, one-shot commands).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from relevo.catalog.service import CatalogService
from relevo.domain.items import Item
from relevo.domain.model_names import AUTO
from relevo.domain.model_records import ModelRecord
from relevo.domain.tenants import Tenant
from relevo.models.base import Model
from relevo.registry.loading import ModelLoader
from relevo.registry.service import RegistryService


@dataclass(frozen=True)
class ServingModel:
    """A promoted model, ready to score, with its item index by id."""

    record: ModelRecord
    model: Model
    index: dict[str, int]

    @property
    def version(self) -> str:
        return f"{self.record.name}:{self.record.version}"


@dataclass
class _Entry:
    value: object
    key: object
    checked_at: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    loaded: bool = False


class ServingState:
    def __init__(
        self,
        catalog: CatalogService,
        registry: RegistryService,
        loader: ModelLoader,
        refresh_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._catalog = catalog
        self._registry = registry
        self._loader = loader
        self._refresh = refresh_s
        self._clock = clock
        self._entries: dict[tuple[str, str, str], _Entry] = {}  # (tenant, kind, name)
        self._lock = threading.Lock()
        # One long-lived thread for every check: a thread each time would also open a new
        # SQLite reader each time (readers are per thread).
        self._checker = ThreadPoolExecutor(1, thread_name_prefix="relevo-serving-check")

    def model(self, tenant: Tenant, name: str) -> ServingModel | None:
        """The promoted version of ``name``, or None when none is promoted."""
        entry = self._entries.get((tenant.tenant_id, "model", name))
        if entry is not None and self._clock() - entry.checked_at < self._refresh:
            return entry.value  # type: ignore[return-value]  # checked lately: no closures

        def current() -> object:
            record = self._promoted(tenant, name)
            return None if record is None else (record.name, record.version, record.checksum)

        def load(key: object) -> ServingModel | None:
            if key is None:
                return None
            record, model = self._loader.load(tenant, key[0])  # type: ignore[index]
            index = {str(item): i for i, item in enumerate(model.item_ids.tolist())}
            return ServingModel(record, model, index)

        return self._cached((tenant.tenant_id, "model", name), current, load)  # type: ignore[return-value]

    def _promoted(self, tenant: Tenant, name: str) -> ModelRecord | None:
        """The promoted record of ``name``; for ``auto`` before any choice was registered (a
        tenant trained before ``auto`` existed), the hybrid's, as placements served then."""
        record = self._registry.promoted(tenant, name)
        if record is None and name == AUTO:
            return self._registry.promoted(tenant, "hybrid")
        return record

    def catalog(self, tenant: Tenant) -> dict[str, Item]:
        entry = self._entries.get((tenant.tenant_id, "catalog", ""))
        if entry is not None and self._clock() - entry.checked_at < self._refresh:
            return entry.value  # type: ignore[return-value]  # checked lately: no closures

        return self._cached(  # type: ignore[return-value]
            (tenant.tenant_id, "catalog", ""),
            lambda: self._catalog.version(tenant),
            lambda _: self._catalog.items_by_id(tenant),
        )

    def loaded(self, tenant: Tenant, name: str | None = None) -> bool:
        """Whether the model ``name`` (the catalog when None) is in memory, so that using it
        now waits for no load."""
        kind = "catalog" if name is None else "model"
        entry = self._entries.get((tenant.tenant_id, kind, name or ""))
        return entry is not None and entry.loaded

    def _cached(
        self,
        key: tuple[str, str, str],
        current: Callable[[], object],
        load: Callable[[object], object],
    ) -> object:
        entry = self._entries.get(key)
        if entry is None:
            with self._lock:
                entry = self._entries.setdefault(key, _Entry(None, object(), -float("inf")))
        if self._clock() - entry.checked_at < self._refresh:
            return entry.value
        if entry.loaded and self._refresh > 0:
            if entry.lock.acquire(blocking=False):  # one check at a time; it releases the lock
                self._checker.submit(self._check, entry, current, load)
            return entry.value
        with entry.lock:  # first use: everyone waits for the one load
            if not entry.loaded or self._clock() - entry.checked_at >= self._refresh:
                self._reload(entry, current, load)
        return entry.value

    def close(self) -> None:
        self._checker.shutdown(wait=False, cancel_futures=True)

    def _check(
        self, entry: _Entry, current: Callable[[], object], load: Callable[[object], object]
    ) -> None:
        try:
            self._reload(entry, current, load)
        except Exception:  # a failed check keeps the value; the next use tries again
            pass
        finally:
            entry.lock.release()

    def _reload(
        self, entry: _Entry, current: Callable[[], object], load: Callable[[object], object]
    ) -> None:
        marker = current()
        if marker != entry.key:
            entry.value = load(marker)
            entry.key = marker
        entry.loaded = True
        entry.checked_at = self._clock()
