"""The one place that wires adapters to services from configuration."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING

from relevo.adapters.sqlite.storage import SqliteStorage
from relevo.catalog.service import CatalogService
from relevo.config import (
    Settings,
    interaction_weights,
    load_settings,
    placement_strategies,
    validation_protocol,
)
from relevo.decide.decision_log import DecisionLog
from relevo.domain.events import TimePolicy
from relevo.domain.pseudonyms import Pseudonymizer, tenant_key
from relevo.domain.tenants import Tenant
from relevo.ingest.event_types import SchemaService
from relevo.ingest.pipeline import IngestLimits, IngestService
from relevo.monitoring import CACHE_SIZES
from relevo.people.service import PeopleService
from relevo.ports import Storage
from relevo.registry.service import RegistryService
from relevo.tenancy.service import TenancyService
from relevo.training.service import TrainingService

if TYPE_CHECKING:
    from relevo.decide.pipeline import DecisionService
    from relevo.decide.promoted import ServingState
    from relevo.registry.loading import ModelLoader


@dataclass
class Relevo:
    """The engine's services over one storage, as configured."""

    settings: Settings
    storage: Storage
    tenancy: TenancyService
    catalog: CatalogService
    schemas: SchemaService
    ingest: IngestService
    people: PeopleService
    registry: RegistryService
    training: TrainingService
    decision_log: DecisionLog
    pseudonymizer_for: Callable[[str], Pseudonymizer]

    @cached_property
    def model_loader(self) -> ModelLoader:
        """Registered models back as objects that score; built on first use, since it loads
        every model's numerical library, which most commands never need."""
        from relevo.registry.loading import ModelLoader

        return ModelLoader(self.registry)

    @cached_property
    def serving(self) -> ServingState:
        """The promoted models and catalogs decisions serve from, loaded on first use."""
        from relevo.decide.promoted import ServingState

        return ServingState(self.catalog, self.registry, self.model_loader)

    @cached_property
    def decisions(self) -> DecisionService:
        """Built on first use: it loads the numerical libraries, which commands that never
        decide (import, --help...) should not pay for."""
        from relevo.decide.pipeline import DecisionService

        settings = self.settings
        service = DecisionService(
            self.storage,
            self.serving,
            self.pseudonymizer_for,
            self.people.home_region,
            placement_strategies(settings),
            lambda tenant_id: interaction_weights(settings, tenant_id),
            self.decision_log.record,
            people_entries=settings.cache_people_entries,
            answer_entries=settings.cache_answer_entries,
            known_people=settings.cache_id_entries,
        )
        service.start_refreshing()
        return service

    def warm_up(self) -> int:
        """Load what the first decisions need, so that none waits for it: the decision service
        (and its libraries), then each tenant's catalog and promoted models. Returns how many
        tenants were warmed."""
        from relevo.decide.warmup import served_models, warm_serving

        assert self.decisions is not None  # built now, not by the first request
        models = served_models(placement_strategies(self.settings))
        return warm_serving(self.serving, self.tenancy.tenants(), models)

    def close(self) -> None:
        if "decisions" in self.__dict__:  # built (and refreshing) only if something decided
            self.decisions.close()
        self.decision_log.close()  # first: its queued traces still need the storage
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


def import_worker(settings: Settings, tenant_id: str) -> tuple[IngestService, Tenant]:
    """The ingest service and tenant of a worker process of a parallel import: an engine of
    its own, since SQLite handles do not cross processes."""
    relevo = build(settings)
    return relevo.ingest, relevo.tenancy.tenant(tenant_id)


def build(settings: Settings | None = None) -> Relevo:
    settings = settings or load_settings()
    placement_strategies(settings)  # a bad strategy stops the start, naming the field
    storage = SqliteStorage(Path(settings.data_dir), settings.sqlite_synchronous)
    secret = master_secret(settings)
    pseudonymizers: dict[str, Pseudonymizer] = {}

    def pseudonymizer_for(tenant_id: str) -> Pseudonymizer:
        found = pseudonymizers.get(tenant_id)
        if found is None:
            found = pseudonymizers[tenant_id] = Pseudonymizer(
                tenant_key(secret, tenant_id), settings.cache_id_entries
            )
            CACHE_SIZES.track("pseudonyms", found, len, found.limit)
        return found

    schemas = SchemaService(storage)
    registry = RegistryService(storage)
    ingest = IngestService(
        storage,
        schemas,
        pseudonymizer_for,
        TimePolicy(settings.late_horizon, settings.future_skew),
        IngestLimits(settings.max_event_bytes, settings.recent_items_limit),
        weights_for=lambda tenant_id: interaction_weights(settings, tenant_id),
        remembered_homes=settings.cache_id_entries,
    )
    return Relevo(
        settings=settings,
        storage=storage,
        tenancy=TenancyService(storage.tenants),
        catalog=CatalogService(storage),
        schemas=schemas,
        ingest=ingest,
        people=PeopleService(storage, pseudonymizer_for, remembered=settings.cache_id_entries),
        registry=registry,
        training=TrainingService(
            registry, pseudonymizer_for, partial(validation_protocol, settings)
        ),
        decision_log=DecisionLog(storage),
        pseudonymizer_for=pseudonymizer_for,
    )
