"""Tenants own data; API keys act for one tenant with a set of scopes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec

TenantId = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9-]{1,39}$")]
RegionName = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9-]{0,15}$")]


class Scope(StrEnum):
    """``ingest`` is safe to ship in a browser; ``serve`` answers; ``admin`` may do anything."""

    INGEST = "ingest"
    SERVE = "serve"
    ADMIN = "admin"


class Tenant(msgspec.Struct, frozen=True):
    tenant_id: TenantId
    name: str
    regions: tuple[RegionName, ...]
    created_at: datetime

    @property
    def default_region(self) -> str:
        """Where a person with no region of their own lives: the first region listed."""
        return self.regions[0]


class ApiKey(msgspec.Struct, frozen=True):
    """A key as stored: never the secret itself, only its hash."""

    key_id: str
    tenant_id: str
    scopes: frozenset[Scope]
    label: str
    created_at: datetime
    revoked_at: datetime | None = None

    def allows(self, scope: Scope) -> bool:
        """
        >>> from datetime import datetime
        >>> key = ApiKey("k", "t", frozenset({Scope.INGEST}), "", datetime(2026, 1, 1))
        >>> key.allows(Scope.INGEST), key.allows(Scope.SERVE)
        (True, False)
        """
        return self.revoked_at is None and (scope in self.scopes or Scope.ADMIN in self.scopes)
