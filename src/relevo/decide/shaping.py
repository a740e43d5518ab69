"""What the placement asks of the order of allowed items: its boosts, a cap per category
(diversity), then, for each answer, exploration's draw from the rest of the pool.

>>> draw("d-1", ["a", "b"], ("a", "b", "c"), 0.0, 2)
Draw(decision_id='d-1', chosen=['a', 'b'], explored=set())
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from relevo.domain.exploration import explore
from relevo.domain.items import Item
from relevo.domain.strategies import Strategy


def boost(
    allowed: list[str], scores: dict[str, float], strategy: Strategy, catalog: Mapping[str, Item]
) -> list[str]:
    """The allowed items re-ordered by score after the placement's boosts (stable); the
    boosted scores are written into ``scores``."""
    boosts = [rule for rule in strategy.parsed_rules() if rule.action == "boost"]
    if not boosts:
        return allowed
    for item_id in allowed:
        factor = 1.0
        for rule in boosts:
            if rule.matches(catalog[item_id]):
                factor *= rule.factor
        score = scores.get(item_id, 0.0)
        scores[item_id] = score * factor if score >= 0 else score / factor
    return sorted(allowed, key=lambda i: -scores.get(i, 0.0))


def diverse(
    ordered: list[str], catalog: Mapping[str, Item], per_category: int | None, k: int
) -> list[str]:
    """The first k items, at most ``per_category`` of any one category (greedy)."""
    if per_category is None:
        return ordered[:k]
    counts: dict[str | None, int] = {}
    chosen = []
    for item_id in ordered:
        category = catalog[item_id].category
        if category is not None and counts.get(category, 0) >= per_category:
            continue
        counts[category] = counts.get(category, 0) + 1
        chosen.append(item_id)
        if len(chosen) == k:
            break
    return chosen


def reorders(strategy: Strategy) -> bool:
    """Whether shaping may take items from anywhere in the allowed list (so filters must
    check every candidate, not just enough to fill k)."""
    return strategy.max_per_category is not None or any(
        rule.action == "boost" for rule in strategy.parsed_rules()
    )


class Draw(NamedTuple):
    """A new answer's id, what it shows, and what its exploration draw put there."""

    decision_id: str
    chosen: list[str]
    explored: set[str]


def draw(
    decision_id: str, prepared: list[str], pool: tuple[str, ...], exploration: float, k: int
) -> Draw:
    """What one answer shows: the prepared items, some swapped for others of the pool at the
    placement's exploration rate (seeded by the decision id, so a trace can be replayed)."""
    if exploration <= 0:  # shows what was prepared: no copy to draw into
        return Draw(decision_id, prepared, set())
    chosen = list(prepared)
    return Draw(decision_id, chosen, explore(decision_id, chosen, pool, exploration, k))
