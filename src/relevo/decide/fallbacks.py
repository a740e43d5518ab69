"""The answer that never fails: popular in the person's region (the promoted popularity model,
else the region's items by their online weight), then the placement's static list, then the
catalog's own order; filtered like any other answer.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from datetime import datetime

import numpy as np

from relevo.decide.cache import TtlCache
from relevo.decide.promoted import ServingState
from relevo.decide.ranking import POOL
from relevo.domain.decisions import FilterReport
from relevo.domain.derived import micros
from relevo.domain.items import Item
from relevo.domain.policy import Check, apply_checks
from relevo.domain.strategies import Strategy
from relevo.domain.tenants import Tenant
from relevo.models.abilities import ScoresRegions
from relevo.ports import Storage

POPULAR_HALF_LIFE_DAYS = 14.0  # online popularity when no popularity model is promoted
ONLINE_POPULAR_TTL_S = 60.0


class Fallbacks:
    def __init__(
        self, storage: Storage, serving: ServingState, clock: Callable[[], datetime]
    ) -> None:
        self._storage = storage
        self._serving = serving
        self._clock = clock
        self._lists = TtlCache(max_entries=1_000, ttl_s=24 * 3600)

    async def items(
        self,
        tenant: Tenant,
        strategy: Strategy,
        region: str,
        catalog: Mapping[str, Item],
        checks: list[Check],
        free: frozenset[str],
        want: int | None = None,
    ) -> tuple[list[str], list[FilterReport], str]:
        """The allowed fallback items, what the checks removed, and which of the three kinds
        answered first ("popular", "static" or "catalog")."""
        popular = self.kept_popular(tenant, region)
        if popular is None:
            popular = await asyncio.to_thread(self.popular_or_none, tenant, region)
        return self.allowed(strategy, popular, catalog, checks, free, want)

    def popular_or_none(self, tenant: Tenant, region: str) -> list[str]:
        """``popular``, or nothing when it cannot be had: the static list still answers."""
        try:
            return self.popular(tenant, region)
        except Exception:  # the registry or storage is down
            return []

    @staticmethod
    def allowed(
        strategy: Strategy,
        popular: list[str],
        catalog: Mapping[str, Item],
        checks: list[Check],
        free: frozenset[str],
        want: int | None = None,
    ) -> tuple[list[str], list[FilterReport], str]:
        kind = "popular" if popular else "static" if strategy.fallback_items else "catalog"
        candidates = [*popular, *strategy.fallback_items, *itertools.islice(catalog, POOL)]
        allowed, reports = apply_checks(
            list(dict.fromkeys(candidates)), catalog.get, checks, want, free
        )
        return allowed, reports, kind

    def kept_popular(self, tenant: Tenant, region: str) -> list[str] | None:
        """The region's popular items if kept in memory, else None (``popular`` reads them)."""
        try:
            return self._lists.get(self._key(tenant, region))
        except Exception:  # the registry is down: ``popular_or_none`` will say so
            return None

    def popular(self, tenant: Tenant, region: str) -> list[str]:
        """The promoted popularity model's best items in a region, sorted once per version;
        with none promoted, the region's items by their online weight (what every event adds,
        decayed), read at most once a minute."""
        key = self._key(tenant, region)
        found = self._lists.get(key)
        if found is not None:
            return found
        served = self._serving.model(tenant, "popularity")
        if served is None or not isinstance(served.model, ScoresRegions):
            partition = self._storage.partition(tenant.tenant_id, region)
            now_us = micros(self._clock())
            trending = partition.trending(now_us, POPULAR_HALF_LIFE_DAYS, POOL)
            found = [item for item, _ in trending]
            self._lists.put(key, found, ONLINE_POPULAR_TTL_S)
            return found
        vector = served.model.vector(region)
        best = np.argsort(-vector, kind="stable")[:POOL]
        found = [str(served.model.item_ids[i]) for i in best if vector[i] > 0]
        self._lists.put(key, found)
        return found

    def _key(self, tenant: Tenant, region: str) -> tuple:
        served = self._serving.model(tenant, "popularity")
        return (tenant.tenant_id, region, "online" if served is None else served.version)
