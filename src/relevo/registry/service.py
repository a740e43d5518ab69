"""Registering trained models, choosing the version that serves, and rolling back.

Every model is checked before it is stored, and every question about a name or version that
does not exist is answered with a violation naming the field (``/name``, ``/version``), so the
CLI and the API can tell a person exactly what to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec
import numpy as np

from relevo.decoding import InvalidInput, decode
from relevo.domain.model_records import (
    CorruptArtifact,
    ModelRecord,
    NewModel,
    Promotion,
    check_model,
)
from relevo.domain.tenants import Tenant
from relevo.domain.violations import Violation
from relevo.ports import ModelRegistry, Storage


class ModelVersions(msgspec.Struct, frozen=True):
    """One model name: the version that serves (if any) and every version, newest first."""

    name: str
    promoted: int | None
    versions: list[ModelRecord]


def _plain(value: Any) -> Any:
    """NumPy scalars (what trainers naturally produce) as the Python numbers they hold."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _unknown_name(tenant: Tenant, name: str) -> InvalidInput:
    return InvalidInput(
        [Violation("/name", "exists", f"no model '{name}' in tenant '{tenant.tenant_id}'")],
        "Unknown model",
    )


class RegistryService:
    def __init__(
        self, storage: Storage, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._storage = storage
        self._clock = clock

    def _registry(self, tenant: Tenant) -> ModelRegistry:
        return self._storage.models(tenant.tenant_id)

    def register(
        self,
        tenant: Tenant,
        model: NewModel,
        files: Mapping[str, bytes],
        promote: bool = False,
    ) -> ModelRecord:
        """Store a trained model as its name's next version; promote it too if asked."""
        checked = _checked(model, files)
        registry = self._registry(tenant)
        record = registry.register(checked, files, self._clock())
        if promote:
            registry.promote(record.name, record.version, self._clock())
        return record

    def list(self, tenant: Tenant) -> list[ModelVersions]:
        """Every model name, sorted, with its versions and the one promoted."""
        registry = self._registry(tenant)
        found = []
        for name in registry.names():
            promoted = registry.promoted(name)
            found.append(
                ModelVersions(
                    name, None if promoted is None else promoted.version, registry.versions(name)
                )
            )
        return found

    def show(self, tenant: Tenant, name: str, version: int | None = None) -> ModelRecord:
        """One version's record; by default the promoted one, else the newest."""
        registry = self._registry(tenant)
        if version is not None:
            return self._record(tenant, registry, name, version)
        found = registry.promoted(name) or next(iter(registry.versions(name)), None)
        if found is None:
            raise _unknown_name(tenant, name)
        return found

    def promote(self, tenant: Tenant, name: str, version: int) -> bool:
        """Make a version the one that serves, from now on; False if it already was.

        Its artifact is verified first: a version whose files were changed or lost never serves.
        """
        registry = self._registry(tenant)
        self._record(tenant, registry, name, version)
        try:
            registry.files(name, version)
        except CorruptArtifact as error:
            raise InvalidInput(
                [Violation("/version", "artifact", str(error))], "Corrupt model artifact"
            ) from None
        return registry.promote(name, version, self._clock())

    def rollback(self, tenant: Tenant, name: str) -> ModelRecord:
        """Serve the version promoted before the current one again, at once; the record of the
        version now promoted. Each further rollback goes one promotion further back."""
        registry = self._registry(tenant)
        if not registry.versions(name):
            raise _unknown_name(tenant, name)
        version = registry.rollback(name, self._clock())
        if version is None:
            current = registry.promoted(name)
            detail = (
                f"'{name}' has no promoted version"
                if current is None
                else f"no version of '{name}' was promoted before version {current.version}"
            )
            raise InvalidInput([Violation("/name", "rollback", detail)], "Nothing to roll back to")
        return self._record(tenant, registry, name, version)

    def promoted(self, tenant: Tenant, name: str) -> ModelRecord | None:
        """The version that serves, or None: serving asks this before any model is trained, so
        an unknown name is an ordinary answer here rather than an error."""
        return self._registry(tenant).promoted(name)

    def promotions(self, tenant: Tenant, name: str) -> list[Promotion]:
        """Every change of the promoted version of ``name``, oldest first."""
        return self._registry(tenant).promotions(name)

    def load(
        self, tenant: Tenant, name: str, version: int | None = None
    ) -> tuple[ModelRecord, dict[str, bytes]]:
        """A version's record and verified files; by default the promoted version.

        Raises ``CorruptArtifact`` if the stored files no longer match the record: the caller
        (serving) falls back rather than answer with a model nobody evaluated.
        """
        record = self.loadable(tenant, name, version)
        return record, self._registry(tenant).files(name, record.version)

    def loadable(self, tenant: Tenant, name: str, version: int | None = None) -> ModelRecord:
        """The record ``load`` would load (by default the promoted version), without reading
        its files."""
        registry = self._registry(tenant)
        if version is not None:
            record = self._record(tenant, registry, name, version)
        else:
            promoted = registry.promoted(name)
            if promoted is None:
                if not registry.versions(name):
                    raise _unknown_name(tenant, name)
                raise InvalidInput(
                    [
                        Violation(
                            "/version",
                            "promoted",
                            f"no version of '{name}' is promoted; promote one or name a version",
                        )
                    ],
                    "No promoted version",
                )
            record = promoted
        return record

    @staticmethod
    def _record(tenant: Tenant, registry: ModelRegistry, name: str, version: int) -> ModelRecord:
        found = registry.get(name, version)
        if found is not None:
            return found
        versions = registry.versions(name)
        if not versions:
            raise _unknown_name(tenant, name)
        raise InvalidInput(
            [
                Violation(
                    "/version",
                    "exists",
                    f"'{name}' has no version {version} (it has 1 to {versions[0].version})",
                )
            ],
            "Unknown model version",
        )


def _checked(model: NewModel, files: Mapping[str, bytes]) -> NewModel:
    """The model as it will be stored, after every rule: a Struct built in code skips its field
    constraints, so it goes through JSON (as the store keeps it) and is decoded again."""
    try:
        encoded = msgspec.json.encode(model, enc_hook=_plain)
    except TypeError as error:
        raise InvalidInput(
            [Violation("", "json", f"params, metrics and lineage must hold JSON values: {error}")],
            "Invalid model",
        ) from None
    checked, problems = decode(encoded, NewModel)
    if checked is not None:
        problems = check_model(checked, files)
    if checked is None or problems:
        raise InvalidInput(problems, "Invalid model")
    return checked
