"""Items like this one (``GET /v1/items/{id}/similar``): the promoted item-kNN model's
neighbours, else popular items; policy as for a person nobody knows: no age-gated and no
region-limited items (fail closed).
"""

from __future__ import annotations

import msgspec

from relevo.decide.fallbacks import Fallbacks
from relevo.decide.filters import FilterStage
from relevo.decide.promoted import ServingState
from relevo.decide.ranking import POOL
from relevo.decide.reasons import title
from relevo.decoding import InvalidInput
from relevo.domain.decisions import Filters, RecommendedItem
from relevo.domain.model_names import SIMILAR_MODEL
from relevo.domain.policy import Audience, apply_checks, policy_checks, request_checks
from relevo.domain.strategies import Strategy
from relevo.domain.tenants import Tenant
from relevo.domain.violations import Violation
from relevo.models.abilities import FindsSimilar
from relevo.ports import Storage


class SimilarItems(msgspec.Struct, frozen=True):
    item_id: str
    items: list[RecommendedItem]
    model_version: str
    fallback: str


class SimilarItemsFinder:
    def __init__(
        self,
        storage: Storage,
        serving: ServingState,
        filters: FilterStage,
        fallbacks: Fallbacks,
        strategy: Strategy,
    ) -> None:
        """``strategy``: the default placement's, whose static list is the last fallback."""
        self._storage = storage
        self._serving = serving
        self._filters = filters
        self._fallbacks = fallbacks
        self._strategy = strategy

    def similar(self, tenant: Tenant, item_id: str, k: int) -> SimilarItems:
        """Whether the item exists is read from the catalog itself, not the serving copy
        (which trails writes by up to its refresh), so a deleted item is gone and a new one is
        there at once. Reads storage: called from a worker thread."""
        item = self._storage.catalog(tenant.tenant_id).get(item_id)
        catalog = self._serving.catalog(tenant)
        if item is None:
            raise InvalidInput(
                [Violation("/item_id", "exists", f"no item '{item_id}' in the catalog")]
            )
        served = self._serving.model(tenant, SIMILAR_MODEL)
        ranked: list[tuple[str, float]] = []
        if (
            served is not None
            and item_id in served.index
            and isinstance(served.model, FindsSimilar)
        ):
            neighbours, weights = served.model.similar(served.index[item_id], POOL)
            ids = served.model.item_ids
            ranked = [(str(ids[i]), float(w)) for i, w in zip(neighbours, weights, strict=True)]
        checks = policy_checks(Audience(None, None)) + request_checks(
            Filters(), {item_id}, set(), []
        )
        free = self._filters.free(catalog)
        allowed, _ = apply_checks([i for i, _ in ranked], catalog.get, checks, None, free)
        scores, fallback = dict(ranked), "none" if allowed else "popular"
        if len(allowed) < k:
            region = tenant.default_region
            popular = self._fallbacks.popular_or_none(tenant, region)
            fill, _, _ = self._fallbacks.allowed(self._strategy, popular, catalog, checks, free)
            allowed += [i for i in fill if i not in scores]
        reason = f"Similar to {title({item_id: item}, item_id)}"
        items = [
            RecommendedItem(
                i, round(scores.get(i, 0.0), 6), (reason if i in scores else "Popular",)
            )
            for i in allowed[:k]
        ]
        version = served.version if served is not None and fallback == "none" else ""
        return SimilarItems(item_id, items, version, fallback)
