"""The person stage: who asks (their pseudonymous key and home region), their online state,
and what policy knows of them (``Audience``).

What is in memory is answered inline; anything that must read storage runs in a worker
thread, so the event loop never waits on disk. A person whose state cannot be read is
decided for as nobody, with the most restrictive policy (fail closed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from relevo.decide.asking import Asking
from relevo.decide.cache import TtlCache
from relevo.domain.decisions import DecisionRequest
from relevo.domain.derived import DAY_US
from relevo.domain.people import age_on
from relevo.domain.person_state import PersonState
from relevo.domain.policy import Audience
from relevo.domain.pseudonyms import Pseudonymizer
from relevo.domain.tenants import Tenant
from relevo.ports import Storage

STATE_TTL_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class Person:
    """The person as the rest of the decision sees them."""

    audience: Audience
    state: PersonState


NOBODY = PersonState()


class PersonStage:
    def __init__(
        self,
        storage: Storage,
        pseudonymizer_for: Callable[[str], Pseudonymizer],
        home_region: Callable[[Tenant, str], str | None],
        people_entries: int,
        known_people: int,
    ) -> None:
        """``people_entries`` bounds the kept states; ``known_people`` the keys and homes
        remembered (cleared when full)."""
        self._storage = storage
        self._pseudonymizer_for = pseudonymizer_for
        self._home_region = home_region
        self.known: dict[tuple[str, str | None, str | None], tuple[str, str]] = {}
        self.homes: dict[tuple[str, str], str] = {}  # (tenant, person key): home region
        self._known_limit = known_people
        # Each person's online state, as of a version and a day: read once per change, and
        # ahead of the first request for active people (precompute).
        self.states = TtlCache(max_entries=people_entries, ttl_s=STATE_TTL_S)

    async def whom(self, tenant: Tenant, request: DecisionRequest) -> tuple[str | None, str]:
        """The person's key and region: their home, else (someone never seen, or nobody) the
        region the request names, else the tenant's default. Raises if policy cannot know.

        A person's key and home never change once they have a home, so those are remembered;
        a home precompute found (``remember_home``) is answered from memory too, and only a
        home that must be read from storage is looked up in a worker thread."""
        asked = (tenant.tenant_id, request.user_id, request.anonymous_id)
        known = self.known.get(asked)
        if known is not None:
            return known
        person = self._key(tenant, request)
        if person is None:
            return None, asked_region(tenant, request) or tenant.default_region
        home = self.homes.get((tenant.tenant_id, person))
        if home is None:
            home = await asyncio.to_thread(self._home_region, tenant, person)
        if home is None:
            return person, asked_region(tenant, request) or tenant.default_region
        _remember(self.known, asked, (person, home), self._known_limit)
        return person, home

    def remember_home(self, tenant_id: str, person: str, region: str) -> None:
        """Note where a person's data lives (precompute reads people region by region)."""
        _remember(self.homes, (tenant_id, person), region, self._known_limit)

    def _key(self, tenant: Tenant, request: DecisionRequest) -> str | None:
        pseudonymize = self._pseudonymizer_for(tenant.tenant_id)
        if request.user_id is not None:
            return "u:" + pseudonymize("user_id", request.user_id)
        if request.anonymous_id is not None:
            return "a:" + pseudonymize("anonymous_id", request.anonymous_id)
        return None

    async def version(self, asking: Asking) -> int:
        """The person's state version (see ``versions``), from memory when storage can tell
        it without a read."""
        assert asking.person is not None
        partition = self._storage.partition(asking.tenant.tenant_id, asking.region)
        known = partition.known_person_version(asking.person)
        if known is not None:
            return known
        return await asyncio.to_thread(partition.person_version, asking.person)

    async def seen(self, asking: Asking) -> Person:
        """The person and what policy knows of them; nobody known when policy cannot be
        evaluated (``asking.policy_known``, cleared here if the state cannot be read)."""
        if not asking.policy_known:
            return Person(Audience(None, None), NOBODY)
        if asking.person is None:
            return Person(Audience(asked_region(asking.tenant, asking.request), None), NOBODY)
        try:
            state = await self.state(asking.tenant.tenant_id, asking.person, asking)
        except Exception:  # policy cannot be evaluated: the safest answer, for nobody known
            asking.person, asking.region = None, asking.tenant.default_region
            asking.policy_known = False
            return Person(Audience(None, None), NOBODY)
        attributes = state.attributes
        age = None if attributes is None else age_on(attributes.birth_year, asking.now.date())
        return Person(Audience(asking.region, age), state)

    async def state(self, tenant_id: str, person: str, asking: Asking) -> PersonState:
        """The person's state: the one kept for this day while its version is still theirs,
        else read whole (in a worker thread) and kept."""
        kept = self.kept_state(tenant_id, person, asking.region, asking.now_us, asking.version)
        if kept is not None:
            return kept
        return await asyncio.to_thread(
            self.read_state, tenant_id, person, asking.region, asking.now_us
        )

    def kept_state(
        self, tenant_id: str, person: str, region: str, now_us: int, version: int | None
    ) -> PersonState | None:
        """The state kept for this day, if it is still the person's (``version``, when not
        given, as storage tells it from memory); None when it must be read."""
        kept = self.states.get((tenant_id, person, region))
        if kept is None or kept[0] != now_us // DAY_US:
            return None
        if version is None:
            version = self._storage.partition(tenant_id, region).known_person_version(person)
        return kept[1] if kept[1].version == version else None

    def read_state(self, tenant_id: str, person: str, region: str, now_us: int) -> PersonState:
        """Read the person's state whole, and keep it (decay is by day, so it is kept for the
        day it was read on); someone never written has nothing worth keeping."""
        state = self._storage.partition(tenant_id, region).person_state(person, now_us)
        if state.version:
            self.states.put((tenant_id, person, region), (now_us // DAY_US, state))
        return state


def _remember(memory: dict, key: object, value: object, limit: int) -> None:
    """Keep ``value`` under ``key``, forgetting everything first when ``limit`` is reached."""
    if len(memory) >= limit:
        memory.clear()
    memory[key] = value


def asked_region(tenant: Tenant, request: DecisionRequest) -> str | None:
    """The region the request's context names, if it is one of the tenant's."""
    asked = request.context.get("region")
    return asked if asked in tenant.regions else None
