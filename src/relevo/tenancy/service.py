"""Creating tenants, issuing and revoking keys, and telling who a request acts for.

Only a hash of each key is stored: keys are 256-bit random secrets, so a plain SHA-256 is enough
to make a leaked database useless for calling the API, and it is fast enough for every request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from relevo.decoding import InvalidInput
from relevo.domain.tenants import ApiKey, Scope, Tenant
from relevo.domain.violations import Violation
from relevo.monitoring import CACHE_SIZES
from relevo.ports import TenantDirectory

_TENANT_ID = re.compile(r"^[a-z][a-z0-9-]{1,39}$")
_REGION = re.compile(r"^[a-z][a-z0-9-]{0,15}$")


KEY_CACHE_S = 5.0
"""How long an authenticated (or refused) key is trusted without asking the directory again."""
MAX_CACHED_KEYS = 10_000


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TenancyService:
    def __init__(
        self, directory: TenantDirectory, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._directory = directory
        self._clock = clock
        # Presented secret -> (what it authenticated as, when to look again). Every request
        # carries a key, and reading the directory for each would weigh on the cheapest
        # answers; a key revoked by another process stops working within KEY_CACHE_S.
        self._verified: dict[str, tuple[tuple[ApiKey, Tenant] | None, float]] = {}
        CACHE_SIZES.track("api_keys", self, lambda s: len(s._verified), MAX_CACHED_KEYS)

    def create_tenant(
        self, tenant_id: str, regions: Iterable[str] = ("default",)
    ) -> tuple[Tenant, str]:
        """Create a tenant and its first admin key; the key's secret is returned only here."""
        regions = tuple(regions)
        problems = []
        if not _TENANT_ID.match(tenant_id):
            problems.append(
                Violation(
                    "/name", "pattern", "must be 2-40 of a-z, 0-9 and '-', starting with a letter"
                )
            )
        if not regions:
            problems.append(
                Violation("/regions", "min_items", "a tenant needs at least one region")
            )
        problems += [
            Violation(
                f"/regions/{i}",
                "pattern",
                "must be 1-16 of a-z, 0-9 and '-', starting with a letter",
            )
            for i, region in enumerate(regions)
            if not _REGION.match(region)
        ]
        if len(set(regions)) != len(regions):
            problems.append(Violation("/regions", "unique", "regions must not repeat"))
        if not problems and self._directory.tenant(tenant_id) is not None:
            problems.append(Violation("/name", "unique", f"tenant '{tenant_id}' already exists"))
        if problems:
            raise InvalidInput(problems, "Invalid tenant")
        tenant = Tenant(tenant_id, tenant_id, regions, self._clock())
        self._directory.add_tenant(tenant)
        _, secret = self.create_key(tenant_id, [Scope.ADMIN], label="first admin key")
        return tenant, secret

    def create_key(
        self, tenant_id: str, scopes: Iterable[Scope], label: str = ""
    ) -> tuple[ApiKey, str]:
        scopes = frozenset(scopes)
        if self._directory.tenant(tenant_id) is None:
            raise InvalidInput(
                [Violation("/tenant", "exists", f"no tenant '{tenant_id}'")], "Unknown tenant"
            )
        if not scopes:
            raise InvalidInput(
                [Violation("/scopes", "min_items", "a key needs at least one scope")]
            )
        key_id = secrets.token_hex(6)
        secret = f"rlv_{key_id}_{secrets.token_urlsafe(32)}"
        key = ApiKey(key_id, tenant_id, scopes, label, self._clock())
        self._directory.add_key(key, hash_secret(secret))
        return key, secret

    def revoke_key(self, key_id: str) -> bool:
        self._verified.clear()  # in this process, at once
        return self._directory.revoke_key(key_id, self._clock())

    def authenticate(self, secret: str) -> tuple[ApiKey, Tenant] | None:
        """The key and tenant a presented secret acts for, or None if unknown or revoked.

        Answers are remembered for ``KEY_CACHE_S`` seconds (unknown secrets too, so a flood
        of bad keys costs no reads either)."""
        now = time.monotonic()
        found = self._verified.get(secret)
        if found is not None and found[1] > now:
            return found[0]
        answer = self._look_up(secret)
        if len(self._verified) >= MAX_CACHED_KEYS:
            self._verified.clear()
        self._verified[secret] = (answer, now + KEY_CACHE_S)
        return answer

    def _look_up(self, secret: str) -> tuple[ApiKey, Tenant] | None:
        key = self._directory.key_by_hash(hash_secret(secret))
        if key is None or key.revoked_at is not None:
            return None
        tenant = self._directory.tenant(key.tenant_id)
        return None if tenant is None else (key, tenant)

    def tenant(self, tenant_id: str) -> Tenant:
        tenant = self._directory.tenant(tenant_id)
        if tenant is None:
            raise InvalidInput(
                [Violation("/tenant", "exists", f"no tenant '{tenant_id}'")], "Unknown tenant"
            )
        return tenant

    def ping(self) -> None:
        """Raise if the tenant directory cannot be reached."""
        self._directory.ping()

    def tenants(self) -> list[Tenant]:
        return self._directory.tenants()

    def keys(self, tenant_id: str) -> list[ApiKey]:
        return self._directory.keys(self.tenant(tenant_id).tenant_id)
