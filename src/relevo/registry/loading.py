"""Registered models loaded back, ready to score: next to the registry that stores them, so
serving and batch answers load models without depending on training."""

from __future__ import annotations

import threading
from weakref import WeakValueDictionary

from relevo.domain.model_names import SELECTION_KIND
from relevo.domain.model_records import ModelRecord
from relevo.domain.tenants import Tenant
from relevo.models.abilities import Composite
from relevo.models.base import Artifact, Model
from relevo.models.kinds import MODEL_CLASSES
from relevo.registry.service import RegistryService


class ModelLoader:
    """Turns a registered version's verified files into the model they hold.

    A version is loaded once while anything holds it: the hybrid's bases are the very objects
    that serve their own names (similar items use item-kNN, the fallbacks popularity), not
    copies, which at 100,000 items would double the largest matrices in memory. Loads take a
    lock (re-entrant: a composite loads its bases), so two threads asking for one version at
    once build it once. A version is known by its checksum too: a tenant deleted and created
    again numbers its versions from 1 anew.
    """

    def __init__(self, registry: RegistryService) -> None:
        self._registry = registry
        self._loaded: WeakValueDictionary[tuple[str, str, int, str], Model] = WeakValueDictionary()
        self._lock = threading.RLock()

    def load(
        self, tenant: Tenant, name: str, version: int | None = None
    ) -> tuple[ModelRecord, Model]:
        """A registered model ready to score: the promoted version unless one is named. A
        composite (the hybrid) comes back with the very base versions it was trained with; a
        selection (``auto``) as the version it chose, with that version's record."""
        record = self._registry.loadable(tenant, name, version)
        if record.kind == SELECTION_KIND:  # ``auto``: the version it chose, as itself
            ((chosen, chosen_version),) = record.lineage["selected"].items()
            return self.load(tenant, chosen, chosen_version)
        key = (tenant.tenant_id, record.name, record.version, record.checksum)
        with self._lock:
            model = self._loaded.get(key)
            if model is None:
                model = self._built(tenant, record)
                self._loaded[key] = model
        return record, model

    def _built(self, tenant: Tenant, record: ModelRecord) -> Model:
        _, files = self._registry.load(tenant, record.name, record.version)
        artifact = Artifact.from_files(files)
        model = MODEL_CLASSES[artifact.kind].load(artifact)
        if isinstance(model, Composite):
            model.bases = {
                base: self.load(tenant, base, base_version)[1]
                for base, base_version in record.lineage["bases"].items()
            }
        return model
