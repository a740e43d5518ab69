"""Reasons a person can read ("Because you bought X", "New in books", "Trending"), from where
each item came from and what the person did and likes.

A personal model's explanation is the costly part; it is kept in the ranking's ``because``
memo, which lives as long as the kept ranking it explains, and found ahead of time for the
first items of a precomputed ranking.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from relevo.decide.promoted import ServingModel
from relevo.decide.ranking import Ranking
from relevo.domain.items import Item
from relevo.domain.person_state import PersonState, SeenItem
from relevo.models.abilities import Composite
from relevo.models.base import Model, People

PERSONAL = ("itemknn", "ease", "content", "als", "bpr")  # explainers, cheapest first
VERBS = {
    "purchase": "bought",
    "add_to_cart": "added",
    "rate": "rated",
    "click": "clicked",
    "view": "viewed",
}
NEW_FOR = timedelta(days=14)
TOP_LIKED = 3  # a person's strongest category affinities that may give "Because you like X"
MAX_REASONS = 2  # the strongest two: a list of five reasons reads as none
EXPLAINED_AHEAD = 12  # a precomputed ranking's items whose "Because you..." is found with it


@dataclass(frozen=True)
class Reasons:
    """Everything reasons are drawn from, for one decision: called with the items shown and
    those exploration put there (an answer that explores asks again for its own draw)."""

    sources: Mapping[str, tuple[str, ...]]
    because_memo: dict[str, str | None]
    served: ServingModel | None
    people: Callable[[], People] | None
    state: PersonState
    catalog: Mapping[str, Item]
    now: datetime

    def __call__(self, chosen: list[str], explored: set[str]) -> dict[str, tuple[str, ...]]:
        recent = {r.item_id: r for r in self.state.recent}
        liked = list(self.state.affinities.get("category", {}))[:TOP_LIKED]
        found = {}
        for item_id in chosen:
            if item_id not in self.because_memo:
                self.because_memo[item_id] = because(
                    item_id,
                    self.sources.get(item_id, ()),
                    self.served,
                    self.people,
                    recent,
                    self.catalog,
                )
            reasons = self._of(item_id, item_id in explored, liked)
            found[item_id] = tuple(reasons[:MAX_REASONS]) or ("Popular in your region",)
        return found

    def _of(self, item_id: str, explored: bool, liked: list[str]) -> list[str]:
        item_sources = self.sources.get(item_id, ())
        said = self.because_memo[item_id]
        reasons = ["Exploration"] if explored else []
        if said:
            reasons.append(said)
        recent = self.state.recent
        if "session" in item_sources and recent:
            latest = title(self.catalog, recent[0].item_id)
            if not said or latest not in said:
                reasons.append(f"Because you just {VERBS.get(recent[0].type, 'viewed')} {latest}")
        item = self.catalog.get(item_id)
        if item and item.created_at and item.category and self.now - item.created_at < NEW_FOR:
            reasons.append(f"New in {item.category}")
        if not said and item and item.category in liked:
            reasons.append(f"Because you like {item.category}")
        if "trending" in item_sources:
            reasons.append("Trending")
        if "popularity" in item_sources or "popular" in item_sources:
            reasons.append("Popular in your region")
        return reasons


def because(
    item_id: str,
    item_sources: tuple[str, ...],
    served: ServingModel | None,
    people: Callable[[], People] | None,
    recent: Mapping[str, SeenItem],
    catalog: Mapping[str, Item],
) -> str | None:
    """ "Because you bought X": the history item that adds most to a personal model's score."""
    if served is None or people is None or not recent:
        return None
    index = served.index.get(item_id)
    if index is None:
        return None
    for model in _explainers(served, item_sources):
        contributions = model.explain(people(), 0, index)
        if contributions:
            source = contributions[0].name
            verb = VERBS.get(recent[source].type, "viewed") if source in recent else "liked"
            return f"Because you {verb} {title(catalog, source)}"
    return None


def _explainers(served: ServingModel, item_sources: tuple[str, ...]) -> list[Model]:
    """The personal models that proposed the item: a composite's bases, or the model itself."""
    if isinstance(served.model, Composite) and served.model.bases:
        bases = served.model.bases
        return [bases[name] for name in PERSONAL if name in item_sources and name in bases]
    if served.record.name in PERSONAL and served.record.name in item_sources:
        return [served.model]
    return []


def explain_ahead(
    ranking: Ranking,
    served: ServingModel,
    person: People,
    recent: list[SeenItem],
    catalog: Mapping[str, Item],
) -> None:
    """Find the "Because you..." of a ranking's first items while it is precomputed, in the
    background: explaining is the costly part of a person's first answer, and answers mostly
    show the first items."""
    by_item = {r.item_id: r for r in recent}
    for item_id in ranking.items[:EXPLAINED_AHEAD]:
        if item_id not in ranking.because:
            ranking.because[item_id] = because(
                item_id, ranking.sources.get(item_id, ()), served, lambda: person, by_item, catalog
            )


def title(catalog: Mapping[str, Item], item_id: str) -> str:
    item = catalog.get(item_id)
    return item.title if item is not None and item.title else item_id
