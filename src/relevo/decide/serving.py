"""What serving keeps in memory per tenant: the promoted models and the catalog.

A decision must not read artifacts or the whole catalog from disk, so both are cached and
checked for change every ``refresh_s`` seconds: a promotion or rollback serves within that
time in every process, and a catalog change too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from relevo.domain.items import Item
from relevo.domain.models import ModelRecord
from relevo.domain.tenants import Tenant
from relevo.models.base import Model
from relevo.ports import Storage
from relevo.registry.service import RegistryService
from relevo.training.data import catalog_of
from relevo.training.service import TrainingService


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


class ServingState:
    def __init__(
        self,
        storage: Storage,
        registry: RegistryService,
        training: TrainingService,
        refresh_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._storage = storage
        self._registry = registry
        self._training = training
        self._refresh = refresh_s
        self._clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()

    def model(self, tenant: Tenant, name: str) -> ServingModel | None:
        """The promoted version of ``name``, or None when none is promoted."""

        def current() -> object:
            record = self._registry.promoted(tenant, name)
            return None if record is None else (record.version, record.checksum)

        def load(key: object) -> ServingModel | None:
            if key is None:
                return None
            record, model = self._training.load(tenant, name)
            index = {str(item): i for i, item in enumerate(model.item_ids.tolist())}
            return ServingModel(record, model, index)

        return self._cached(tenant, f"model:{name}", current, load)  # type: ignore[return-value]

    def catalog(self, tenant: Tenant) -> dict[str, Item]:
        def current() -> object:
            return self._clock()  # no cheap change marker yet: reload every refresh

        return self._cached(  # type: ignore[return-value]
            tenant, "catalog", current, lambda _: catalog_of(self._storage, tenant)
        )

    def _cached(
        self,
        tenant: Tenant,
        what: str,
        current: Callable[[], object],
        load: Callable[[object], object],
    ) -> object:
        key = (tenant.tenant_id, what)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(None, object(), -float("inf"))
        now = self._clock()
        if now - entry.checked_at < self._refresh:
            return entry.value
        with entry.lock:  # one loader per entry; the others keep the value they had
            if now - entry.checked_at >= self._refresh:
                marker = current()
                if marker != entry.key:
                    entry.value = load(marker)
                    entry.key = marker
                entry.checked_at = self._clock()
        return entry.value
