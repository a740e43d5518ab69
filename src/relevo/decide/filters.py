"""The filters stage: what policy and the request allow of the ranked candidates, each check
recording what it removed (the domain's ``policy``); when fewer than k are left, the
fallback's items fill the answer, filtered the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from relevo.decide.asking import Asking
from relevo.decide.candidates import Candidates
from relevo.decide.fallbacks import Fallbacks
from relevo.decide.person import Person
from relevo.decide.shaping import reorders
from relevo.domain.decisions import FilterReport
from relevo.domain.derived import micros
from relevo.domain.items import Item
from relevo.domain.person_state import SeenItem
from relevo.domain.policy import apply_checks, policy_checks, request_checks, unrestricted
from relevo.domain.strategies import Strategy


@dataclass
class Allowed:
    """What may be shown, best first, with the scores and sources of each, what each check
    removed, the fallback the decision took, the items the person has seen lately, and
    whether the fallback's list was asked to fill it (``filled``: a list that may change
    within a minute, see ``prepared.valid_until``)."""

    items: list[str]
    scores: dict[str, float]
    sources: Mapping[str, tuple[str, ...]]
    reports: list[FilterReport]
    fallback: str
    seen: set[str]
    filled: bool = False


class FilterStage:
    def __init__(self, fallbacks: Fallbacks) -> None:
        self._fallbacks = fallbacks
        self._unrestricted: tuple[Mapping[str, Item] | None, frozenset[str]] = (None, frozenset())

    async def allowed(
        self, asking: Asking, person: Person, candidates: Candidates, catalog: Mapping[str, Item]
    ) -> Allowed:
        request, strategy = asking.request, asking.strategy
        seen = seen_lately(person.state.recent, strategy, asking.now)
        checks = policy_checks(person.audience) + request_checks(
            request.filters, set(request.exclude_ids), seen, strategy.parsed_rules()
        )
        ranked = candidates.ranking.items
        scores = dict(candidates.ranking.scores)  # fills and boosts change it; the kept stays
        fallback = candidates.fallback
        if request.candidates is not None and fallback != "none":
            ranked = tuple(request.candidates)  # the caller's order
            scores = dict.fromkeys(ranked, 0.0)
        # Enough to fill k after diversity and exploration; every candidate when shaping
        # may reorder.
        want = None if reorders(strategy) else request.k * 5
        free = self.free(catalog)
        items, reports = apply_checks(ranked, catalog.get, checks, want, free)
        found = Allowed(items, scores, candidates.ranking.sources, reports, fallback, seen)
        if len(items) < request.k and request.candidates is None:
            fill = await self._fallbacks.items(
                asking.tenant, strategy, asking.region, catalog, checks, free, want
            )
            _fill(found, *fill, request.k)
        return found

    def free(self, catalog: Mapping[str, Item]) -> frozenset[str]:
        """The catalog's items no policy can refuse, found once per catalog loaded."""
        found = self._unrestricted
        if found[0] is not catalog:
            found = self._unrestricted = (catalog, unrestricted(catalog))
        return found[1]


def _fill(
    allowed: Allowed, fill: list[str], reports: list[FilterReport], kind: str, k: int
) -> None:
    """Add the fallback's items after the model's, up to 4 k; a decision the model gave
    nothing allowed takes the fallback's name."""
    added = [item for item in fill if item not in allowed.scores][: k * 4]
    if not allowed.items and allowed.fallback == "none":
        allowed.fallback = kind if added else "nothing_allowed"
    sources = dict(allowed.sources)  # the kept ranking's own stays as it was
    for item in added:
        sources[item] = (*sources.get(item, ()), "popular")
        allowed.scores[item] = 0.0
    allowed.sources = sources
    allowed.items += added
    allowed.filled = True
    allowed.reports = merge(allowed.reports, reports)


def merge(first: list[FilterReport], second: list[FilterReport]) -> list[FilterReport]:
    """Two passes' reports as one: what each check removed in both."""
    totals: dict[str, int] = {}
    for report in (*first, *second):
        totals[report.name] = totals.get(report.name, 0) + report.removed
    return [FilterReport(name, removed) for name, removed in totals.items()]


def seen_lately(recent: list[SeenItem], strategy: Strategy, now: datetime) -> set[str]:
    """What the person saw within the placement's window, when it excludes what was seen."""
    if not strategy.exclude_seen:
        return set()
    since = micros(now - timedelta(days=strategy.seen_window_days))
    return {r.item_id for r in recent if r.occurred_at_us >= since}
