"""Rankings worked out ahead of requests, in a background thread: for the most recently
active people when a model is promoted (or the server starts), and again for people who
asked lately once they act, so that their next request finds its ranking ready. Each sweep
also has storage read again the versions of people who keep asking before memory stops
trusting them, so that their requests are answered without a read.

The same thread freezes the garbage collector's view of what the caches hold (a full
collection would scan every long-lived entry, pausing requests) and gives the C heap's free
pages back every ``TRIM_EVERY_S`` (docs/operations.md).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime

from relevo.decide.candidates import CandidateStage
from relevo.decide.person import PersonStage
from relevo.decide.promoted import ServingModel, ServingState
from relevo.decide.ranking import people_of, rankings, score, stack
from relevo.decide.reasons import explain_ahead
from relevo.domain.derived import micros
from relevo.domain.person_state import PersonState, seen_items
from relevo.domain.strategies import Ranker
from relevo.domain.tenants import Tenant
from relevo.models.base import spans
from relevo.monitoring import PRECOMPUTED, release_free_memory
from relevo.ports import Storage

TRIM_EVERY_S = 30.0
BATCH = 256  # people ranked in one model call, fewer for a large catalog (``spans``)


class Precomputer:
    def __init__(
        self,
        storage: Storage,
        serving: ServingState,
        person: PersonStage,
        candidates: CandidateStage,
        weights_for: Callable[[str], Mapping[str, float]],
        clock: Callable[[], datetime],
    ) -> None:
        self._storage = storage
        self._serving = serving
        self._person = person
        self._candidates = candidates
        self._weights_for = weights_for
        self._clock = clock
        self._stopped = threading.Event()

    def precompute(self, tenant: Tenant, ranker: Ranker | str, limit: int = 10_000) -> int:
        """Rank, in batches, each region's ``limit`` most recently active people with the
        ranker's promoted model, so that their first request after a start or a promotion
        finds their ranking and their state ready. Returns how many were ranked."""
        ranker = Ranker(ranker) if isinstance(ranker, str) else ranker
        served = self._serving.model(tenant, ranker.model)
        if served is None:
            return 0
        done = 0
        for region in tenant.regions:
            people = self._storage.partition(tenant.tenant_id, region).recent_people(limit)
            for start, end in spans(len(people), len(served.index), BATCH):
                chunk = people[start:end]
                self._rank_batch(tenant, ranker, served, region, chunk)
                done += len(chunk)
                PRECOMPUTED.inc(len(chunk))
        return done

    def _rank_batch(
        self, tenant: Tenant, ranker: Ranker, served: ServingModel, region: str, chunk: list[str]
    ) -> None:
        now_us = micros(self._clock())
        states = [self._state(tenant.tenant_id, person, region, now_us) for person in chunk]
        weights = self._weights_for(tenant.tenant_id)
        batch = [people_of(served, state.recent, region, weights) for state in states]
        catalog = self._serving.catalog(tenant)
        found = rankings(served, stack(batch), None, ranker.sources)
        for person, state, one, ranking in zip(chunk, states, batch, found, strict=True):
            explain_ahead(ranking, served, one, state.recent, catalog)
            self._candidates.keep(
                tenant.tenant_id, person, region, state.version, served, ranker, None, ranking
            )
            self._candidates.active.put((tenant.tenant_id, person, region), (tenant, ranker))
            self._person.remember_home(tenant.tenant_id, person, region)  # where it was read

    def _state(self, tenant_id: str, person: str, region: str, now_us: int) -> PersonState:
        kept = self._person.kept_state(tenant_id, person, region, now_us, None)
        return kept or self._person.read_state(tenant_id, person, region, now_us)

    def refresh(self, limit: int = 1_000) -> int:
        """Rank again the people who asked lately whose ranking is stale (they acted since,
        or a model was promoted). Returns how many it ranked."""
        ranked = 0
        for tenant, ranker, person, region in self._stale(limit):
            served = self._serving.model(tenant, ranker.model)
            if served is None:
                continue
            partition = self._storage.partition(tenant.tenant_id, region)
            version = partition.person_version(person)  # first: a later event makes it stale
            recent = seen_items(partition.recent_items(person))
            try:
                one = people_of(served, recent, region, self._weights_for(tenant.tenant_id))
                outcome = score(served, one, None, ranker.sources)
                explain_ahead(outcome, served, one, recent, self._serving.catalog(tenant))
            except Exception:  # a broken model is the request path's to report
                continue
            self._candidates.keep(
                tenant.tenant_id, person, region, version, served, ranker, None, outcome
            )
            PRECOMPUTED.inc()
            ranked += 1
        return ranked

    def _stale(self, limit: int) -> list[tuple[Tenant, Ranker, str, str]]:
        """The last ``limit`` people to ask whose kept ranking is not for their version."""
        by_partition: dict[tuple[str, str], list[tuple[Tenant, Ranker, str]]] = {}
        active = self._candidates.active
        for key in active.keys()[-limit:]:
            found = active.get(key)
            tenant_id, person, region = key
            if found is not None and person is not None:
                by_partition.setdefault((tenant_id, region), []).append((*found, person))
        stale = []
        for (tenant_id, region), asked in by_partition.items():
            partition = self._storage.partition(tenant_id, region)
            versions = partition.person_versions([person for _, _, person in asked])
            for tenant, ranker, person in asked:
                served = self._serving.model(tenant, ranker.model)
                if served is not None and not self._candidates.is_kept(
                    tenant_id, person, region, versions[person], served, ranker
                ):
                    stale.append((tenant, ranker, person, region))
        return stale

    def renew_versions(self) -> int:
        """Have each served region renew the versions it remembers for people who asked
        lately (``RegionPartition.renew_known_versions``); the number read."""
        served = list(self._candidates.served_models.values())  # the event loop may add to it
        tenants = {tenant.tenant_id: tenant for tenant, _ in served}
        return sum(
            self._storage.partition(tenant.tenant_id, region).renew_known_versions()
            for tenant in tenants.values()
            for region in tenant.regions
        )

    def precompute_promoted(self) -> None:
        """Precompute for every model a placement of a tenant seen here uses, once per
        promoted version."""
        served_models = self._candidates.served_models
        for (tenant_id, ranker), (tenant, done) in list(served_models.items()):
            served = self._serving.model(tenant, ranker.model)
            if served is not None and served.version != done:
                self.precompute(tenant, ranker)
                served_models[(tenant_id, ranker)] = (tenant, served.version)

    def start(self, every_s: float = 5.0) -> None:
        """Precompute and refresh in a daemon thread, every ``every_s`` seconds."""
        loop = threading.Thread(
            target=self._loop, args=(every_s,), name="relevo-refresh", daemon=True
        )
        loop.start()

    def _loop(self, every_s: float) -> None:
        trimmed = time.monotonic()
        while not self._stopped.wait(every_s):
            try:
                self.precompute_promoted()
                self.refresh()
                self.renew_versions()
            except Exception:  # a failed sweep is retried at the next one
                continue
            # Moving what exists now out of the collector's view bounds each scan to what is
            # new since the last sweep (evicted entries are still freed by reference count).
            gc.freeze()
            if time.monotonic() - trimmed >= TRIM_EVERY_S:
                release_free_memory()
                trimmed = time.monotonic()

    def stop(self) -> None:
        self._stopped.set()
