"""Setting and reading people's attributes, pseudonymized and kept in each person's home region.

A person is addressed by the application's raw ``user_id``, which never reaches storage: it is
pseudonymized exactly as the ingest pipeline does, so the attributes and the events of one
person share one key and one home region.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from relevo.decoding import InvalidInput, decode
from relevo.domain.people import PersonAttributes, check_attributes
from relevo.domain.pseudonyms import Pseudonymizer
from relevo.domain.tenants import Tenant
from relevo.domain.violations import Violation
from relevo.monitoring import CACHE_SIZES
from relevo.ports import Storage

MAX_REMEMBERED_HOMES = 200_000
MAX_USER_ID = 256  # the longest user_id an event may carry; no longer one can name a person


class PeopleService:
    def __init__(
        self,
        storage: Storage,
        pseudonymizer_for: Callable[[str], Pseudonymizer],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        remembered: int = MAX_REMEMBERED_HOMES,
    ) -> None:
        self._storage = storage
        self._pseudonymizer_for = pseudonymizer_for
        self._clock = clock
        # A person's home region never changes once set, so it is read once per process;
        # at most ``remembered`` of them, forgotten all at once when full.
        self._homes: dict[tuple[str, str], str] = {}
        self._remembered = remembered
        CACHE_SIZES.track("people_homes", self, lambda s: len(s._homes), remembered)

    def put(self, tenant: Tenant, user_id: str, payload: Any) -> PersonAttributes:
        """Replace a person's attributes; returns them as stored, with their home region.

        A person seen for the first time is given ``home_region`` if set, else the tenant's
        default region. Their home never moves afterwards, so a ``home_region`` that differs
        from it is refused rather than silently ignored.
        """
        now = self._clock()
        key = self._person_key(tenant, user_id)
        attributes, problems = decode(payload, PersonAttributes)
        if attributes is not None:
            problems = check_attributes(attributes, tenant.regions, now.date())
        if attributes is None or problems:
            raise InvalidInput(problems, "Invalid person attributes")
        home = self.home_region(tenant, key)
        if home is None:  # claimed, not set: a concurrent first write may have won the claim
            wanted = attributes.home_region or tenant.default_region
            home = self._storage.people(tenant.tenant_id).claim_home_regions({key: wanted})[key]
        if attributes.home_region not in (None, home):
            raise InvalidInput(
                [
                    Violation(
                        "/home_region",
                        "fixed",
                        f"a person's data stays in the region it was first stored in ({home})",
                    )
                ],
                "Invalid person attributes",
            )
        stored = msgspec.structs.replace(attributes, home_region=home)
        with self._storage.partition(tenant.tenant_id, home).transaction() as writer:
            writer.set_attributes(key, stored, now)
        return stored

    def get(self, tenant: Tenant, user_id: str) -> PersonAttributes | None:
        """A person's attributes, or None if none were ever set."""
        return self.of(tenant, self._person_key(tenant, user_id))[1]

    def of(
        self, tenant: Tenant, person_key: str, region_if_new: str | None = None
    ) -> tuple[str, PersonAttributes | None]:
        """The home region and attributes of an already pseudonymized person (``u:...`` or
        ``a:...``), as the decision engine needs them. A person never seen has no attributes
        and would live where their first event names: ``region_if_new`` (the request's
        region), else the tenant's default region."""
        home = self.home_region(tenant, person_key)
        if home is None:
            return region_if_new or tenant.default_region, None
        found = self._storage.partition(tenant.tenant_id, home).attributes([person_key])
        return home, found.get(person_key)

    def home_region(self, tenant: Tenant, person_key: str) -> str | None:
        """Where a person's data lives, None for a person never seen (not remembered: their
        first event or PUT will claim one)."""
        key = (tenant.tenant_id, person_key)
        home = self._homes.get(key)
        if home is None:
            home = self._storage.people(tenant.tenant_id).home_regions([person_key]).get(person_key)
            if home is not None:
                if len(self._homes) >= self._remembered:
                    self._homes.clear()
                self._homes[key] = home
        return home

    def _person_key(self, tenant: Tenant, user_id: str) -> str:
        """The key the ingest pipeline files this user's events under (``Event.person_key``)."""
        if len(user_id) > MAX_USER_ID:
            raise InvalidInput(
                [
                    Violation(
                        "/path/user_id", "max_length", f"must be at most {MAX_USER_ID} characters"
                    )
                ],
                "Invalid user id",
            )
        return "u:" + self._pseudonymizer_for(tenant.tenant_id)("user_id", user_id)
