"""A decision worked out for a person as they are, and the answers drawn from it.

Working out what a person should see (their state, the model, filters, shaping, reasons) is
most of a decision's cost, and it gives the same result until the person changes, a model or
the catalog does, or time moves something (``valid_until``). So it is worked out once into a
``Prepared`` and each answer is drawn from it: a decision of its own, with its own id,
exploration draw and trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from relevo.decide.asking import Asking
from relevo.decide.candidates import Candidates
from relevo.decide.filters import Allowed
from relevo.decide.person import Person
from relevo.decide.promoted import ServingModel
from relevo.decide.reasons import NEW_FOR, Reasons
from relevo.decide.shaping import Draw
from relevo.decide.trace import Record, Shown, answer_trace, prepared_trace
from relevo.domain.decisions import Decision, RecommendedItem, ShownItems, Trace
from relevo.domain.derived import DAY_US, micros
from relevo.domain.items import Item
from relevo.domain.person_state import SeenItem
from relevo.domain.strategies import Strategy
from relevo.monitoring import ANSWERS, DECISIONS, FILTER_REMOVED, AnswerMarks
from relevo.ports import SharedTrace

FILLED_MAX_S = 60.0
"""The longest life of a prepared decision the fallback's list filled: with no popularity
model promoted, that list is the online popularity, read once a minute."""
PREPARED_IDLE_S = 60.0
"""A prepared decision nobody asked for this long is dropped (those asked for stay: see
``valid_until``, and the sliding ``TtlCache``)."""


@dataclass(frozen=True)
class Prepared:
    """Reused, each time as a new decision, while the person's state has the same ``version``
    and it ``holds``: the same model and catalog serve, and nothing that time changes has
    changed (``valid_until_us``). Its fallback, model version, items, reasons and filter
    counts are those of its ``trace``."""

    served: ServingModel | None  # the placement's model when it was worked out
    catalog: Mapping[str, Item]
    valid_until_us: int
    pool: tuple[str, ...]  # the allowed items, boosted, best first: what exploration draws from
    scores: dict[str, float]
    sources: Mapping[str, tuple[str, ...]]
    items: ShownItems
    version: int  # of the person's state
    changed_us: tuple[tuple[str, int], ...]  # each feature of the person: when it last changed
    marks: AnswerMarks  # what each answer adds to the decision metrics
    trace: Trace  # every answer's trace, but for its own part (``AnswerPart``)
    shared: SharedTrace  # the same, encoded once for the decision log
    # Only while it may still explore: the reasons of its draws (``kept`` drops it otherwise).
    reasons: Reasons | None = None

    def kept(self, exploring: bool) -> Prepared:
        """As kept for reuse: the reasons of draws only while it may explore."""
        return self if exploring else replace(self, reasons=None)

    def holds(self, now_us: int, served: ServingModel | None, catalog: Mapping) -> bool:
        return now_us < self.valid_until_us and served is self.served and catalog is self.catalog


def prepare(
    asking: Asking,
    person: Person,
    candidates: Candidates,
    allowed: Allowed,
    pool: list[str],
    shown: Shown,
    reasons: Reasons,
    served: ServingModel | None,
    catalog: Mapping[str, Item],
) -> Prepared:
    """A decision worked out whole: its trace, and what each of its answers needs."""
    state, fallback, reports = person.state, allowed.fallback, allowed.reports
    trace = prepared_trace(
        asking, state, person.audience, candidates.version, fallback, shown, reports
    )
    removed = [(FILTER_REMOVED.labels(r.name), r.removed) for r in reports if r.removed]
    marks = ((DECISIONS.labels(fallback), 1), *removed)
    return Prepared(
        served=served,
        catalog=catalog,
        valid_until_us=valid_until(
            asking.now, allowed, state.recent, asking.strategy, shown.items, catalog
        ),
        pool=tuple(pool),
        scores=allowed.scores,
        sources=allowed.sources,
        items=shown_items(shown.items, allowed.scores, shown.reasons),
        version=state.version,
        changed_us=tuple(state.updated_us.items()),
        marks=ANSWERS.marks(marks, state.updated_us),
        trace=trace,
        shared=SharedTrace(trace, state.updated_us),
        reasons=reasons,
    )


def answer(
    asking: Asking,
    prepared: Prepared,
    drawn: Draw,
    contributions: dict[str, list[dict[str, Any]]],
    record: Record,
) -> Decision:
    """The decision ``drawn`` from what was prepared: its trace recorded, its answer."""
    items, explored = prepared.items, None
    if drawn.explored:
        assert prepared.reasons is not None  # kept by any decision that may explore
        reasons = prepared.reasons(drawn.chosen, drawn.explored)
        items = shown_items(drawn.chosen, prepared.scores, reasons)
        explored = Shown(drawn.chosen, prepared.scores, prepared.sources, reasons)
        asking.lap("exploration")
    took = asking.took_ms()
    ANSWERS.note(prepared.marks, asking.now_us)
    encoded, trace = answer_trace(
        asking,
        prepared.trace,
        prepared.shared,
        prepared.changed_us,
        drawn.decision_id,
        explored,
        contributions,
    )
    record(asking.tenant.tenant_id, asking.region, encoded)
    return Decision(
        drawn.decision_id,
        items,
        asking.request.placement,
        prepared.trace.model,
        "control",
        prepared.trace.fallback,
        took,
        trace if asking.request.explain else None,
    )


def shown_items(
    chosen: list[str], scores: Mapping[str, float], reasons: Mapping[str, tuple[str, ...]]
) -> ShownItems:
    return ShownItems(RecommendedItem(i, round(scores.get(i, 0.0), 6), reasons[i]) for i in chosen)


def valid_until(
    now: datetime,
    allowed: Allowed,
    recent: list[SeenItem],
    strategy: Strategy,
    chosen: list[str],
    catalog: Mapping[str, Item],
) -> int:
    """Until when (µs) a decision worked out at ``now`` depends on nothing that time changes:
    the day (affinities decay by day, ages change on a birthday), the first seen item that
    leaves the seen window, the first shown item that stops being new, and, when the
    fallback's list filled it, ``FILLED_MAX_S``. Nothing else a decision depends on changes
    without a new version of the person, the model or the catalog, which ``Prepared.holds``
    and ``reuse`` check: a person who keeps asking is not worked out again every minute."""
    now_us = micros(now)
    ends = [(now_us // DAY_US + 1) * DAY_US]
    if allowed.filled:
        ends.append(now_us + int(FILLED_MAX_S * 1e6))
    window_us = strategy.seen_window_days * DAY_US
    ends += [int(r.occurred_at_us + window_us) for r in recent if r.item_id in allowed.seen]
    for item_id in chosen:
        item = catalog.get(item_id)
        if item is not None and item.created_at is not None and now - item.created_at < NEW_FOR:
            ends.append(micros(item.created_at + NEW_FOR))
    return min(ends)
