"""Upserting, reading and deleting catalog items, each checked against the item contract."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from relevo.decoding import InvalidInput, decode, parse
from relevo.domain.items import Item, check_item
from relevo.domain.tenants import Tenant
from relevo.domain.violations import Violation
from relevo.ports import Storage


class ItemResult(msgspec.Struct, frozen=True, omit_defaults=True):
    index: int
    item_id: str | None
    status: Literal["upserted", "rejected"]
    reasons: list[Violation] = []


def _item_id(payload: Any) -> str | None:
    """The id a refused item claimed, if it can be read, so the caller can tell which it was."""
    if isinstance(payload, (bytes, msgspec.Raw)):
        try:
            payload = parse(payload)
        except InvalidInput:
            return None
    found = payload.get("item_id") if isinstance(payload, dict) else None
    return found if isinstance(found, str) else None


class CatalogService:
    def __init__(
        self, storage: Storage, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._storage = storage
        self._clock = clock

    def upsert(self, tenant: Tenant, payloads: Sequence[Any]) -> list[ItemResult]:
        """Upsert every valid item; invalid ones are reported and never block the others."""
        results: list[ItemResult] = []
        good: dict[str, Item] = {}
        for index, payload in enumerate(payloads):
            item, problems = decode(payload, Item)
            if item is not None:
                problems = check_item(item, tenant.regions)
            if item is None or problems:
                item_id = _item_id(payload)
                results.append(ItemResult(index, item_id, "rejected", problems))
                continue
            good[item.item_id] = item
            results.append(ItemResult(index, item.item_id, "upserted"))
        if good:
            self._storage.catalog(tenant.tenant_id).upsert(list(good.values()), self._clock())
        return results

    def put(self, tenant: Tenant, item_id: str, payload: Any) -> Item:
        """Create or replace one item; the body's ``item_id`` may be left out."""
        if isinstance(payload, dict):
            payload = {"item_id": item_id, **payload}
            if payload["item_id"] != item_id:
                raise InvalidInput(
                    [Violation("/item_id", "path_match", "must match the item id in the path")]
                )
        item, problems = decode(payload, Item)
        if item is not None:
            problems = check_item(item, tenant.regions)
        if item is None or problems:
            raise InvalidInput(problems, "Invalid item")
        self._storage.catalog(tenant.tenant_id).upsert([item], self._clock())
        return item

    def get(self, tenant: Tenant, item_id: str) -> Item | None:
        return self._storage.catalog(tenant.tenant_id).get(item_id)

    def delete(self, tenant: Tenant, item_id: str) -> bool:
        return self._storage.catalog(tenant.tenant_id).delete(item_id)

    def page(self, tenant: Tenant, after: str | None, limit: int) -> list[Item]:
        return self._storage.catalog(tenant.tenant_id).page(after, limit)

    def items_by_id(self, tenant: Tenant) -> dict[str, Item]:
        """Every item of the tenant's catalog, by id: the view serving and training read."""
        catalog, after = {}, None
        store = self._storage.catalog(tenant.tenant_id)
        while page := store.page(after, 5_000):
            catalog.update((item.item_id, item) for item in page)
            after = page[-1].item_id
        return catalog

    def version(self, tenant: Tenant) -> tuple[int, int]:
        """A marker that changes whenever the tenant's catalog does, so a copy kept in memory
        knows when to be read again."""
        return self._storage.catalog(tenant.tenant_id).version()
