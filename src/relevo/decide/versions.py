"""The one notion of "has this person changed": their state's version.

Storage bumps a person's version with every write that touches them (an event, their
attributes), in the same transaction (``RegionPartition.person_version``). Every cache of the
decision path is keyed by it, and by nothing else about the person:

- a kept ``PersonState`` holds while its ``version`` is the person's (``person``);
- a model's ranking is kept under the version it was worked out for (``ranking_key``), and
  someone never written (version 0) shares one ranking per region and model with everyone
  else never written, since the model sees nothing of theirs;
- a prepared decision and a cached answer record the version they were made for (``reuse``).

What the person does not decide (a promotion, a catalog change, the clock) is checked apart:
by the identity of the served model and catalog, and by the time a prepared decision holds.

>>> ranking_key("t", "u:1", "eu", 3, "itemknn:2", None, None)
('t', 'u:1', 'eu', 3, 'itemknn:2', None, None)
>>> ranking_key("t", "u:1", "eu", 0, "itemknn:2", None, None)[1] is None
True
"""

from __future__ import annotations

from collections.abc import Hashable

NEVER_WRITTEN = 0
"""The version of someone storage has nothing of."""


def ranked_as(person: str | None, version: int) -> str | None:
    """Whose ranking a person gets: their own once written, else the one newcomers share."""
    return person if version != NEVER_WRITTEN else None


def ranking_key(
    tenant_id: str,
    person: str | None,
    region: str,
    version: int,
    model_version: str,
    ranker: Hashable,
    asked: tuple[str, ...] | None,
) -> tuple:
    """What a kept ranking is valid for: the person at a version, the model version, the
    ranker's sources and the caller's candidates (None: the model's own)."""
    return (tenant_id, ranked_as(person, version), region, version, model_version, ranker, asked)


def latest_key(
    tenant_id: str,
    person: str | None,
    region: str,
    version: int,
    ranker: Hashable,
    asked: tuple[str, ...] | None,
) -> tuple:
    """Where a person's last ranking is kept, whatever their version (the fallback when the
    model cannot answer now)."""
    return (tenant_id, ranked_as(person, version), region, ranker, asked)
