"""Catalog items: what a tenant offers, with the attributes policy and models read."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from relevo.domain.events import Identifier
from relevo.domain.violations import Violation

Text = Annotated[str, msgspec.Meta(max_length=100_000)]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class Item(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """A catalog entry. ``regions`` empty means shown everywhere; ``min_age`` gates by age."""

    item_id: Identifier
    title: Annotated[str, msgspec.Meta(max_length=1_000)] | None = None
    text: Text | None = None
    category: Short | None = None
    tags: Annotated[list[Short], msgspec.Meta(max_length=100)] = []
    price: Annotated[float, msgspec.Meta(ge=0)] | None = None
    available: bool = True
    regions: list[Short] = []
    min_age: Annotated[int, msgspec.Meta(ge=0, le=150)] | None = None
    created_at: datetime | None = None
    attributes: dict[str, Any] = {}


def check_item(item: Item, regions: tuple[str, ...]) -> list[Violation]:
    """Rules beyond field types: an item may only name regions the tenant has.

    >>> check_item(Item("sku-1", regions=["mars"]), ("eu",))[0].pointer
    '/regions/0'
    """
    return [
        Violation(f"/regions/{i}", "enum", f"must be one of the tenant's regions {regions}")
        for i, region in enumerate(item.regions)
        if region not in regions
    ]
