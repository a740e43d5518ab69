"""The one place that wires adapters to services from configuration."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from relevo.adapters.sqlite.storage import SqliteStorage
from relevo.catalog.service import CatalogService
from relevo.config import Settings, load_settings
from relevo.domain.events import TimePolicy
from relevo.domain.pseudonyms import Pseudonymizer, tenant_key
from relevo.ingest.pipeline import IngestLimits, IngestService
from relevo.ingest.schemas import SchemaService
from relevo.ports import Storage
from relevo.registry.service import RegistryService
from relevo.tenancy.service import TenancyService
from relevo.training.service import TrainingService


@dataclass
class Relevo:
    """The engine's services over one storage, as configured."""

    settings: Settings
    storage: Storage
    tenancy: TenancyService
    catalog: CatalogService
    schemas: SchemaService
    ingest: IngestService
    registry: RegistryService
    training: TrainingService

    def close(self) -> None:
        self.storage.close()


def master_secret(settings: Settings) -> bytes:
    """The configured secret, else one generated once into the data directory (mode 0600).

    A generated secret beside the data suits a laptop; in production set RELEVO_SECRET so the
    files alone never suffice to link pseudonyms back to people.
    """
    if settings.secret is not None:
        return settings.secret.get_secret_value().encode()
    path = Path(settings.data_dir) / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


def build(settings: Settings | None = None) -> Relevo:
    settings = settings or load_settings()
    storage = SqliteStorage(Path(settings.data_dir), settings.sqlite_synchronous)
    secret = master_secret(settings)
    pseudonymizers: dict[str, Pseudonymizer] = {}

    def pseudonymizer_for(tenant_id: str) -> Pseudonymizer:
        found = pseudonymizers.get(tenant_id)
        if found is None:
            found = pseudonymizers[tenant_id] = Pseudonymizer(tenant_key(secret, tenant_id))
        return found

    schemas = SchemaService(storage)
    registry = RegistryService(storage)
    ingest = IngestService(
        storage,
        schemas,
        pseudonymizer_for,
        TimePolicy(settings.late_horizon, settings.future_skew),
        IngestLimits(settings.max_event_bytes, settings.recent_items_limit),
    )
    return Relevo(
        settings=settings,
        storage=storage,
        tenancy=TenancyService(storage.tenants),
        catalog=CatalogService(storage),
        schemas=schemas,
        ingest=ingest,
        registry=registry,
        training=TrainingService(registry, pseudonymizer_for),
    )
