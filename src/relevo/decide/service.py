"""Answering "what should this person see now?": the flow of one decision (DESIGN.md).

person and policy -> candidates and scores from the placement's model (within its time
budget, behind a circuit breaker) -> policy and business filters, each recording what it
removed -> boosts -> diversity -> exploration -> top k -> reasons -> trace (written without
blocking) -> answer. When the model cannot answer (none promoted, an error, too slow, the
breaker open, no consent to personalize), the next safe answer is taken: popular in the
person's region, then the placement's static list, then any available item. Policy applies
to every path; the answer names the fallback used.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import threading
import time
from collections.abc import Callable, Generator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import msgspec
import numpy as np
import scipy.sparse as sp

from relevo.decide.breaker import CircuitBreaker
from relevo.decide.cache import TtlCache
from relevo.decide.serving import ServingModel, ServingState
from relevo.decoding import InvalidInput
from relevo.domain.decisions import (
    AnswerPart,
    Decision,
    DecisionRequest,
    FilterReport,
    Filters,
    RecommendedItem,
    ShownItems,
    Trace,
    new_decision_id,
)
from relevo.domain.derived import DAY_US, RecentItem, micros
from relevo.domain.exploration import explore
from relevo.domain.items import Item
from relevo.domain.people import age_on
from relevo.domain.person_state import PersonState
from relevo.domain.policy import (
    Audience,
    apply_checks,
    policy_checks,
    request_checks,
    unrestricted,
)
from relevo.domain.pseudonyms import Pseudonymizer
from relevo.domain.strategies import DEFAULT_PLACEMENT, Ranker, Strategy
from relevo.domain.tenants import Tenant
from relevo.domain.violations import Violation
from relevo.models.base import People
from relevo.monitoring import (
    ANSWERS,
    CACHE_LOOKUPS,
    CACHE_SIZES,
    DECISIONS,
    FILTER_REMOVED,
    PRECOMPUTED,
    AnswerMarks,
    release_free_memory,
)
from relevo.ports import EncodedTrace, SharedTrace, Storage

POOL = 200  # ranked candidates kept for filtering, so filters rarely leave fewer than k
PERSONAL = ("itemknn", "ease", "content", "als", "bpr")  # explainers, cheapest first
VERBS = {
    "purchase": "bought",
    "add_to_cart": "added",
    "rate": "rated",
    "click": "clicked",
    "view": "viewed",
}
NEW_FOR = timedelta(days=14)
POPULAR_HALF_LIFE_DAYS = 14.0  # online popularity when no popularity model is promoted
ONLINE_POPULAR_TTL_S = 60.0
CACHEABLE = frozenset({"none", "no_model", "no_consent"})  # not answers to a passing fault
TRACED_SESSIONS = 3
EXPLAIN_BUDGET_S = 0.5  # feature contributions, only when a caller asks to explain
TOP_LIKED = 3  # a person's strongest category affinities that may give "Because you like X"
MAX_REASONS = 2  # the strongest two: a list of five reasons reads as none
EXPLAINED_AHEAD = 12  # a precomputed ranking's items whose "Because you..." is found with it
PREPARED_MAX_S = 60.0  # a prepared decision's longest life (online popularity is a minute old)
CANDIDATE_RANKING_S = 60.0  # a ranking of the caller's own candidates (a page shown again)
_PREPARED_HIT = CACHE_LOOKUPS.labels("prepared", "hit")
_PREPARED_MISS = CACHE_LOOKUPS.labels("prepared", "miss")
MAX_KNOWN_PEOPLE = 200_000  # whose key and home are remembered (see ``_whom``)
PEOPLE_ENTRIES = 10_000  # people whose ranking, last ranking and state are kept in memory
ANSWER_ENTRIES = 20_000  # prepared decisions and cached answers kept in memory
TRIM_EVERY_S = 30.0  # the refresher gives the C heap's free pages back this often
ACTIVE_PEOPLE = 10_000  # people who asked lately, ranked again ahead of their next request


@dataclass(frozen=True, slots=True)
class Ranking:
    """A model's ranking of one person: items best first, their scores and sources, and the
    explanations found so far (filled as answers need them, kept while the ranking is cached).

    Only tuples and dicts of strings and floats inside: tens of thousands of rankings stay
    cached, and the garbage collector soon stops scanning such containers (the lists of
    tuples this used to hold made a full collection take 0.3 s, an answer's worth of stall).
    """

    items: tuple[str, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)
    sources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    because: dict[str, str | None] = field(default_factory=dict)


ModelRun = tuple[Future, float]
"""A model run in the pool, and the seconds the decision may wait for it."""


@dataclass(frozen=True)
class ModelStage:
    """What the model stage gives the rest of the decision."""

    fallback: str
    version: str = ""
    ranking: Ranking = field(default_factory=Ranking)
    served: ServingModel | None = None
    people: Callable[[], People] | None = None  # built only if a model must run


@dataclass(frozen=True, slots=True)
class Prepared:
    """A decision worked out for a person as they are: reused, each time as a new decision
    with its own id, exploration draw and trace, while the person's state has the same
    ``version`` and it ``holds``: the same model and catalog serve, and nothing that time
    changes has changed (``valid_until_us``). Its fallback, model version, items, reasons
    and filter counts are those of its ``trace``."""

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
    trace: Trace  # every answer's trace, but for its ANSWER_FIELDS
    shared: SharedTrace  # the same, encoded once for the decision log
    # Only while the decision is being made: what exploration and ``explain`` need (a kept
    # decision that may explore keeps ``reasons_for``; one that never does keeps neither).
    reasons_for: Callable[[list[str], set[str]], dict[str, tuple[str, ...]]] | None = None
    people: Callable[[], People] | None = None

    def kept(self, exploring: bool) -> Prepared:
        return replace(self, reasons_for=self.reasons_for if exploring else None, people=None)

    def holds(self, now_us: int, served: ServingModel | None, catalog: Mapping) -> bool:
        return now_us < self.valid_until_us and served is self.served and catalog is self.catalog


@dataclass(slots=True)
class _Asking:
    """One decision in the making: who asked for what, when, and the time of each stage."""

    tenant: Tenant
    strategy: Strategy
    request: DecisionRequest
    person: str | None
    region: str
    now: datetime
    now_us: int  # the same, in microseconds since the epoch
    started: float  # time.perf_counter() when it began
    stages: dict[str, float] = field(default_factory=dict)
    version: int | None = None  # of the person's state, once this decision has read it
    policy_known: bool = True  # False when policy could not be evaluated for the person
    key: tuple = ()  # of the answer and prepared caches
    caching: bool = False  # whether the answer may go to the placement's answer cache
    reusing: bool = False  # whether a decision worked out now may be kept for reuse


class SimilarItems(msgspec.Struct, frozen=True):
    item_id: str
    items: list[RecommendedItem]
    model_version: str
    fallback: str


class DecisionService:
    def __init__(
        self,
        storage: Storage,
        serving: ServingState,
        pseudonymizer_for: Callable[[str], Pseudonymizer],
        home_region: Callable[[Tenant, str], str | None],
        strategies: Mapping[str, Strategy],
        weights_for: Callable[[str], Mapping[str, float]],
        record: Callable[[str, str, EncodedTrace], None],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        people_entries: int = PEOPLE_ENTRIES,
        answer_entries: int = ANSWER_ENTRIES,
        known_people: int = MAX_KNOWN_PEOPLE,
    ) -> None:
        """The caches are bounded (see docs/operations.md): ``people_entries`` for each
        per-person cache (rankings, last rankings, states), ``answer_entries`` for prepared
        decisions and for cached answers, ``known_people`` for the keys and homes of people
        (cleared when full)."""
        self._storage = storage
        self._serving = serving
        self._pseudonymizer_for = pseudonymizer_for
        self._home_region = home_region
        self._known: dict[tuple[str, str | None, str | None], tuple[str, str]] = {}
        self._known_limit = known_people
        self._strategies = strategies
        self._weights_for = weights_for
        self._record = record
        self._clock = clock
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="relevo-model")
        self._breakers: dict[tuple[str, str], CircuitBreaker] = {}
        # The model's ranking of a person, valid until they act again or a model is promoted;
        # and whole answers, reused for identical requests within the placement's TTL.
        self._rankings = TtlCache(max_entries=people_entries, ttl_s=600)
        # Rankings of a caller's own candidates (``POST /v1/rank``), with the person's last
        # one: a set of candidates is seldom asked again after its page is shown, so these are
        # kept a minute, apart, and do not push people's rankings out.
        self._candidate_rankings = TtlCache(max_entries=answer_entries, ttl_s=CANDIDATE_RANKING_S)
        self._answers = TtlCache(max_entries=answer_entries, ttl_s=3600)
        # What each person should see, worked out for their state's version (see Prepared).
        self._prepared = TtlCache(max_entries=answer_entries, ttl_s=PREPARED_MAX_S)
        # Each person's online state, as of a version and a day: read once per change, and
        # ahead of the first request for active people (``precompute``).
        self._states = TtlCache(max_entries=people_entries, ttl_s=24 * 3600)
        # Each person's latest ranking, whatever they did since: the precomputed answer the
        # fallback chain takes when the model cannot answer now.
        self._latest = TtlCache(max_entries=people_entries, ttl_s=24 * 3600)
        # People who asked lately (for an unfiltered ranking), and the model that ranks them.
        self._active = TtlCache(max_entries=ACTIVE_PEOPLE, ttl_s=3600)
        self._popular_lists = TtlCache(max_entries=1_000, ttl_s=24 * 3600)
        self._unrestricted: tuple[Mapping[str, Item] | None, frozenset[str]] = (None, frozenset())
        self._stopped = threading.Event()
        # (tenant, ranker) pairs placements use, with the version precomputed for (or "").
        self._served_models: dict[tuple[str, Ranker], tuple[Tenant, str]] = {}
        for name in (
            "rankings", "candidate_rankings", "answers", "prepared", "states", "latest", "active"
        ):  # fmt: skip
            cache: TtlCache = getattr(self, f"_{name}")
            CACHE_SIZES.track(
                name, self, lambda s, n=f"_{name}": len(getattr(s, n)), cache.max_entries
            )
        CACHE_SIZES.track("known_people", self, lambda s: len(s._known), known_people)

    def decide(self, tenant: Tenant, request: DecisionRequest) -> Decision:
        """Decide from a thread with no event loop running (commands, tests), blocking until
        the answer is ready."""
        return asyncio.run(self.decide_async(tenant, request))

    async def decide_async(self, tenant: Tenant, request: DecisionRequest) -> Decision:
        """Decide on the event loop: everything but the model is a few in-memory steps and
        point reads, so it runs inline (a hop to a worker thread cost more than a cached
        decision); only a model run goes to the pool, awaited within its budget.

        What the person should see is worked out once per version of everything it depends on
        (``_prepare``) and reused while none of it changed; every answer is still a decision
        of its own: its id, its exploration draw, its trace. A reused one is answered by plain
        calls, with no generator to drive (4% more answers a second under load than through
        the generators, servers run in turn)."""
        asking, kept = self._ask(tenant, request)
        if isinstance(kept, Decision):
            return kept
        if kept is not None:
            decision = self._answered(asking, kept, self._drawn(asking, kept), {})
            return self._keep_answer(asking, kept, decision)
        steps = self._work_out(asking)
        try:
            wait = next(steps)
            while True:
                future, budget_s = wait
                try:
                    outcome = await asyncio.wait_for(asyncio.wrap_future(future), budget_s)
                except BaseException as error:  # the decision takes the fallback it names
                    wait = steps.throw(error)
                else:
                    wait = steps.send(outcome)
        except StopIteration as done:
            return done.value

    def _ask(
        self, tenant: Tenant, request: DecisionRequest
    ) -> tuple[_Asking, Decision | Prepared | None]:
        """Who asks for what, and what is kept for it: an answer from the placement's answer
        cache (returned as it is), a prepared decision that still holds (answered anew), or
        nothing (worked out by ``_work_out``)."""
        started = time.perf_counter()
        strategy = self._strategy(request.placement)
        now = self._clock()
        try:
            person, region = self._whom(tenant, request)
            policy_known = True
        except Exception:  # policy cannot be evaluated: the safest answer, for nobody known
            person, region, policy_known = None, tenant.default_region, False
        asking = _Asking(tenant, strategy, request, person, region, now, micros(now), started)
        asking.policy_known = policy_known
        asking.key = key = (tenant.tenant_id, person, region, msgspec.json.encode(request))
        asking.caching = caching = strategy.cache_ttl_s > 0 and policy_known
        cached = self._answers.get(key) if caching else None
        asking.reusing = reusing = policy_known and not request.explain  # explain works it out
        prepared = self._prepared.get(key) if reusing else None
        # Whether what is kept still holds is a point read of the person's version; with
        # nothing kept, the state read below gives the version anyway.
        version = 0
        if person is not None and (cached is not None or prepared is not None):
            try:
                version = self._storage.partition(tenant.tenant_id, region).person_version(person)
                asking.version = version
            except Exception:  # cannot tell: work it out again (reading the state will tell)
                cached = prepared = None
        if caching:
            hit = cached is not None and cached[0] == version
            CACHE_LOOKUPS.labels("answers", "hit" if hit else "miss").inc()
            if hit:
                return asking, cached[1]
        took_us = _us_since(started)
        asking.stages["person"] = took_us / 1000
        if prepared is not None and (
            prepared.version != version
            or not prepared.holds(
                asking.now_us,
                self._serving.model(tenant, strategy.model),
                self._serving.catalog(tenant),
            )
        ):
            prepared = None
        if reusing:
            (_PREPARED_MISS if prepared is None else _PREPARED_HIT).inc()
        if prepared is not None:  # in whole µs, as the trace keeps them (see ``_answer``)
            asking.stages["prepared"] = (_us_since(started) - took_us) / 1000
        return asking, prepared

    def _work_out(self, asking: _Asking) -> Generator[ModelRun, Any, Decision]:
        """A decision worked out whole (``_prepare``), kept for reuse when it may be. It yields
        a pool future and its budget whenever it must wait (the model's run; the ranker's
        contributions for ``explain``): ``decide_async`` awaits it, then sends the result back
        or throws the error or timeout in."""
        catalog = self._serving.catalog(asking.tenant)
        prepared = yield from self._prepare(asking, catalog)
        if asking.reusing and prepared.trace.fallback in CACHEABLE:
            exploring = asking.strategy.exploration > 0
            self._prepared.put(asking.key, prepared.kept(exploring), PREPARED_MAX_S)
        decision = yield from self._answer(asking, prepared)
        return self._keep_answer(asking, prepared, decision)

    def _keep_answer(self, asking: _Asking, prepared: Prepared, decision: Decision) -> Decision:
        """``decision``, kept in the placement's answer cache if it caches answers."""
        if asking.caching and decision.fallback in CACHEABLE:
            ttl_s = asking.strategy.cache_ttl_s
            self._answers.put(asking.key, (prepared.version, decision), ttl_s)
        return decision

    def _prepare(
        self, asking: _Asking, catalog: Mapping[str, Item]
    ) -> Generator[ModelRun, Any, Prepared]:
        """Everything up to an answer: the person's state and what policy knows of them, the
        model's ranking (or a fallback), filters, boosts, diversity and reasons. Adds the time
        of each to ``asking.stages``; a person whose state cannot be read is asked for as
        nobody, in the tenant's default region."""
        tenant, strategy, request, person, region = (
            asking.tenant,
            asking.strategy,
            asking.request,
            asking.person,
            asking.region,
        )
        now, started, stages = asking.now, asking.started, asking.stages
        policy_known = asking.policy_known
        begun = _since(started)
        served = self._serving.model(tenant, strategy.model)
        audience, state = Audience(_asked_region(tenant, request), None), PersonState()
        if person is not None and policy_known:
            try:
                audience, state = self._person(tenant, person, region, now, asking.version)
            except Exception:  # policy cannot be evaluated: the safest answer, as above
                person, region, policy_known = None, tenant.default_region, False
                asking.person, asking.region = person, region
        if not policy_known:
            audience = Audience(None, None)
        recent = state.recent
        stages["person"] += _since(started) - begun
        begun = _since(started)
        if not policy_known:
            stage = ModelStage("policy_unavailable")
        elif not _may_personalize(request):
            stage = ModelStage("no_consent")
        else:
            marker = recent[0].event_id if recent else ""
            stage = yield from self._model_stage(
                tenant, strategy, request, person, region, recent, marker
            )
        fallback = stage.fallback
        ranked, sources, because = stage.ranking.items, stage.ranking.sources, stage.ranking.because
        scores = dict(stage.ranking.scores)  # fills and boosts change it; the cached stays
        stages["model"] = _since(started) - begun
        begun = _since(started)

        seen = self._seen(recent, strategy, now)
        checks = policy_checks(audience) + request_checks(
            request.filters, set(request.exclude_ids), seen, strategy.parsed_rules()
        )
        if request.candidates is not None and fallback != "none":
            ranked = tuple(request.candidates)  # the caller's order
            scores = dict.fromkeys(ranked, 0.0)
        # Enough to fill k after diversity and exploration; every candidate when boosts reorder.
        reorders = strategy.max_per_category is not None or any(
            rule.action == "boost" for rule in strategy.parsed_rules()
        )
        want = None if reorders else request.k * 5
        allowed, reports = apply_checks(ranked, catalog.get, checks, want, self._free(catalog))
        if len(allowed) < request.k and request.candidates is None:
            fill, fill_reports, kind = self._fallback_items(
                tenant, strategy, region, catalog, checks, want
            )
            added = [item for item in fill if item not in scores][: request.k * 4]
            if not allowed and fallback == "none":
                fallback = kind if added else "nothing_allowed"
            sources = dict(sources)  # the cached ranking's own stays as it was
            for item in added:
                sources[item] = (*sources.get(item, ()), "popular")
                scores[item] = 0.0
            allowed += added
            reports = _merge(reports, fill_reports)
        stages["filters"] = _since(started) - begun
        begun = _since(started)

        boosted = _boost(allowed, scores, strategy, catalog)
        chosen = _diverse(boosted, catalog, strategy.max_per_category, request.k)
        stages["rank"] = _since(started) - begun
        begun = _since(started)

        reasons_for = partial(
            self._reasons,
            sources=sources,
            because_memo=because,
            served=stage.served,
            people=stage.people,
            state=state,
            catalog=catalog,
            now=now,
        )
        reasons = reasons_for(chosen, set())
        stages["reasons"] = _since(started) - begun
        trace = Trace(
            decision_id="",
            at=now,
            placement=request.placement,
            person=person or "",
            region=region,
            strategy=request.placement,
            model=stage.version,
            variant="control",
            fallback=fallback,
            request=_request_record(request),
            person_state=_person_record(state, audience),
            sources={i: sources.get(i, ()) for i in chosen},
            filters=reports,
            scores={i: scores.get(i, 0.0) for i in chosen},
            stages_ms={},
            items=chosen,
            reasons=reasons,
        )
        return Prepared(
            served=served,
            catalog=catalog,
            valid_until_us=_valid_until(now, seen, recent, strategy, chosen, catalog),
            pool=tuple(boosted),
            scores=scores,
            sources=sources,
            items=_shown(chosen, scores, reasons),
            version=state.version,
            changed_us=tuple(state.updated_us.items()),
            marks=ANSWERS.marks(
                (
                    (DECISIONS.labels(fallback), 1),
                    *((FILTER_REMOVED.labels(r.name), r.removed) for r in reports if r.removed),
                ),
                state.updated_us,
            ),
            trace=trace,
            shared=SharedTrace(trace, state.updated_us),
            reasons_for=reasons_for,
            people=stage.people,
        )

    def _answer(self, asking: _Asking, prepared: Prepared) -> Generator[ModelRun, Any, Decision]:
        """``_answered``, with the ranker's contributions to what is shown when ``explain``
        asks for them."""
        drawn = self._drawn(asking, prepared)
        contributions = {}
        served = prepared.served
        if (
            asking.request.explain
            and prepared.trace.fallback == "none"
            and served is not None
            and hasattr(served.model, "contributions")
            and prepared.people
        ):
            begun = _since(asking.started)
            contributions = yield from self._contributions(served, prepared.people, drawn[1])
            asking.stages["contributions"] = _since(asking.started) - begun
        asking.stages = {k: round(v, 3) for k, v in asking.stages.items()}
        return self._answered(asking, prepared, drawn, contributions)

    def _drawn(self, asking: _Asking, prepared: Prepared) -> tuple[str, list[str], set[str]]:
        """A new decision's id, what it shows, and what its exploration draw put there."""
        decision_id = new_decision_id(asking.region)
        exploration = asking.strategy.exploration
        if exploration <= 0:  # shows what was prepared: no copy to draw into
            return decision_id, prepared.trace.items, set()
        chosen = list(prepared.trace.items)
        explored = explore(decision_id, chosen, prepared.pool, exploration, asking.request.k)
        return decision_id, chosen, explored

    def _answered(
        self,
        asking: _Asking,
        prepared: Prepared,
        drawn: tuple[str, list[str], set[str]],
        contributions: dict[str, list[dict[str, Any]]],
    ) -> Decision:
        """The decision ``drawn`` from what was prepared: its trace and answer. Its stages
        come rounded to the trace's microseconds (a dict made again to round them was 3% of
        a reused answer)."""
        request, region, now, started = asking.request, asking.region, asking.now, asking.started
        stages = asking.stages
        decision_id, chosen, explored = drawn
        traced = prepared.trace
        reasons, items = traced.reasons, prepared.items
        if explored:
            begun = _since(started)
            assert prepared.reasons_for is not None  # kept by any decision that may explore
            reasons = prepared.reasons_for(chosen, explored)
            items = _shown(chosen, prepared.scores, reasons)
            stages["exploration"] = round(_since(started) - begun, 3)
        fallback = traced.fallback
        took = _us_since(started) / 1000
        now_us = asking.now_us
        ANSWERS.note(prepared.marks, now_us)
        # The features' ages are left out: they follow from ``now`` and the change times kept
        # in the shared part (``decoded_trace``); a dict of them was 5% of a reused answer.
        part = AnswerPart(decision_id, now, stages, contributions, {})
        trace = None
        if explored or request.explain:
            answered = msgspec.structs.asdict(part)
            answered["feature_age_s"] = {
                name: round((now_us - at) / 1e6, 3) for name, at in prepared.changed_us
            }
            if explored:  # what was shown differs from what the prepared trace says
                sources, scores = prepared.sources, prepared.scores
                answered |= {
                    "sources": {i: sources.get(i, ()) for i in chosen},
                    "scores": {i: scores.get(i, 0.0) for i in chosen},
                    "items": chosen,
                    "reasons": reasons,
                }
            trace = msgspec.structs.replace(traced, **answered)
        encoded = (
            EncodedTrace.of(trace)
            if explored and trace is not None
            else EncodedTrace.answer(part, prepared.shared, now_us)
        )
        self._record(asking.tenant.tenant_id, region, encoded)
        return Decision(
            decision_id,
            items,
            request.placement,
            traced.model,
            "control",
            fallback,
            took,
            trace if request.explain else None,
        )

    def similar(self, tenant: Tenant, item_id: str, k: int) -> SimilarItems:
        """Items like this one (the promoted item-kNN model), else popular ones; policy as for
        a person nobody knows: no age-gated and no region-limited items (fail closed).

        Whether the item exists is read from the catalog itself, not the serving copy (which
        trails writes by up to its refresh), so a deleted item is gone and a new one is there
        at once."""
        item = self._storage.catalog(tenant.tenant_id).get(item_id)
        catalog = self._serving.catalog(tenant)
        if item is None:
            raise InvalidInput(
                [Violation("/item_id", "exists", f"no item '{item_id}' in the catalog")]
            )
        served = self._serving.model(tenant, "itemknn")
        ranked: list[tuple[str, float]] = []
        if served is not None and item_id in served.index:
            neighbours, weights = served.model.similar(served.index[item_id], POOL)  # type: ignore[attr-defined]
            ids = served.model.item_ids
            ranked = [(str(ids[i]), float(w)) for i, w in zip(neighbours, weights, strict=True)]
        checks = policy_checks(Audience(None, None)) + request_checks(
            Filters(), {item_id}, set(), []
        )
        allowed, _ = apply_checks(
            [i for i, _ in ranked], catalog.get, checks, None, self._free(catalog)
        )
        scores, fallback = dict(ranked), "none" if allowed else "popular"
        if len(allowed) < k:
            fill, _, _ = self._fallback_items(
                tenant, self._strategies[DEFAULT_PLACEMENT], tenant.default_region, catalog, checks
            )
            allowed += [i for i in fill if i not in scores]
        reason = f"Similar to {_title({item_id: item}, item_id)}"
        items = [
            RecommendedItem(
                i, round(scores.get(i, 0.0), 6), (reason if i in scores else "Popular",)
            )
            for i in allowed[:k]
        ]
        version = served.version if served is not None and fallback == "none" else ""
        return SimilarItems(item_id, items, version, fallback)

    # --- stages ------------------------------------------------------------------------

    def _model_stage(
        self,
        tenant: Tenant,
        strategy: Strategy,
        request: DecisionRequest,
        person: str | None,
        region: str,
        recent: list[RecentItem],
        marker: str,
    ) -> Generator[ModelRun, Ranking, ModelStage]:
        """The placement's model ranks the person: from the cache while they have done nothing
        new and no model was promoted, else within the budget; when it cannot, the person's
        last ranking (precomputed), else the fallback named."""
        ranker = strategy.ranker
        self._served_models.setdefault((tenant.tenant_id, ranker), (tenant, ""))
        served = self._serving.model(tenant, ranker.model)
        if served is None:
            return ModelStage("no_model")
        people = _once(lambda: self._people(tenant, served, recent, region))
        asked = None if request.candidates is None else tuple(request.candidates)
        rankings, latest = self._ranking_caches(asked)
        outcome = rankings.get(
            _ranking_key(tenant.tenant_id, person, region, marker, served.version, ranker, asked)
        )
        CACHE_LOOKUPS.labels("rankings", "miss" if outcome is None else "hit").inc()
        if outcome is None:
            outcome = yield from self._run_model(tenant, strategy, served, people(), request)
            if isinstance(outcome, str):
                latest_key = (tenant.tenant_id, _ranked_as(person, marker), region, ranker, asked)
                earlier = latest.get(latest_key) if person is not None else None
                if earlier is None:
                    return ModelStage(outcome, served=served, people=people)
                version, ranking, _ = earlier  # the person's last ranking: stale, but theirs
                return ModelStage("precomputed", version, ranking, served, people)
            self._keep(tenant.tenant_id, person, region, marker, served, ranker, asked, outcome)
            if asked is None and marker:  # a ranking shared by newcomers needs no refresh
                self._active.put((tenant.tenant_id, person, region), (tenant, ranker))
        return ModelStage("none", served.version, outcome, served, people)

    def refresh(self, limit: int = 1_000) -> int:
        """Rank again, ahead of their next request, the people who asked lately and whose
        ranking is stale (they acted since, or a model was promoted): precomputed candidates
        for active people. Run by ``start_refreshing``'s thread; returns how many it ranked."""
        stale: list[tuple[Tenant, Ranker, str, str]] = []
        by_partition: dict[tuple[str, str], list[tuple[Tenant, Ranker, str]]] = {}
        for key in self._active.keys()[-limit:]:
            found = self._active.get(key)
            _, person, region = key
            if found is not None and person is not None:
                tenant, ranker = found
                by_partition.setdefault((tenant.tenant_id, region), []).append(
                    (tenant, ranker, person)
                )
        for (tenant_id, region), asked in by_partition.items():
            partition = self._storage.partition(tenant_id, region)
            markers = partition.latest_events([person for _, _, person in asked])
            for tenant, ranker, person in asked:
                served = self._serving.model(tenant, ranker.model)
                if served is None:
                    continue
                marker = markers.get(person, "")
                key = _ranking_key(tenant_id, person, region, marker, served.version, ranker, None)
                if self._rankings.get(key) is None:
                    stale.append((tenant, ranker, person, region))
        ranked = 0
        for tenant, ranker, person, region in stale:
            served = self._serving.model(tenant, ranker.model)
            if served is None:
                continue
            recent = self._storage.partition(tenant.tenant_id, region).recent_items(person)
            try:
                one = self._people(tenant, served, recent, region)
                outcome = _score(served, one, None, ranker.sources)
                _explain_ahead(outcome, served, one, recent, self._serving.catalog(tenant))
            except Exception:  # a broken model is the request path's to report
                continue
            marker = recent[0].event_id if recent else ""
            self._keep(tenant.tenant_id, person, region, marker, served, ranker, None, outcome)
            PRECOMPUTED.inc()
            ranked += 1
        return ranked

    def precompute(self, tenant: Tenant, ranker: Ranker | str, limit: int = 10_000) -> int:
        """Rank, in batches, each region's ``limit`` most recently active people with the
        ranker's promoted model (a name: with its trained sources), so that their first
        request after a start or a promotion finds their ranking and their state ready.
        Returns how many were ranked."""
        ranker = Ranker(ranker) if isinstance(ranker, str) else ranker
        served = self._serving.model(tenant, ranker.model)
        if served is None:
            return 0
        done = 0
        for region in tenant.regions:
            partition = self._storage.partition(tenant.tenant_id, region)
            people = partition.recent_people(limit)
            for start in range(0, len(people), 256):
                chunk = people[start : start + 256]
                now_us = micros(self._clock())
                recents = [
                    self._state(tenant.tenant_id, person, region, now_us).recent for person in chunk
                ]
                batch = [self._people(tenant, served, r, region) for r in recents]
                rankings = _rankings(served, _stack(batch), None, ranker.sources)
                catalog = self._serving.catalog(tenant)
                for person, recent, one, ranking in zip(
                    chunk, recents, batch, rankings, strict=True
                ):
                    _explain_ahead(ranking, served, one, recent, catalog)
                    marker = recent[0].event_id if recent else ""
                    self._keep(
                        tenant.tenant_id, person, region, marker, served, ranker, None, ranking
                    )
                    self._active.put((tenant.tenant_id, person, region), (tenant, ranker))
                done += len(chunk)
                PRECOMPUTED.inc(len(chunk))
        return done

    def _keep(
        self,
        tenant_id: str,
        person: str | None,
        region: str,
        marker: str,
        served: ServingModel,
        ranker: Ranker,
        asked: tuple[str, ...] | None,
        ranking: Ranking,
    ) -> None:
        """Cache a fresh ranking, and keep it as the person's last (the precomputed fallback).

        The ranking it replaces as the person's last is dropped from the cache: it was for an
        earlier event of theirs or an earlier model, and no request will ask for it again (it
        stayed until its TTL otherwise, a second ranking per person who acted)."""
        key = _ranking_key(tenant_id, person, region, marker, served.version, ranker, asked)
        latest_key = (tenant_id, _ranked_as(person, marker), region, ranker, asked)
        rankings, latest = self._ranking_caches(asked)
        earlier = latest.get(latest_key)
        if earlier is not None and earlier[2] != key:
            rankings.pop(earlier[2])
        rankings.put(key, ranking)
        latest.put(latest_key, (served.version, ranking, key))

    def _ranking_caches(self, asked: tuple[str, ...] | None) -> tuple[TtlCache, TtlCache]:
        """Where a ranking and the person's last one are kept: people's own rankings apart
        from those of a caller's candidates (both in one cache, under keys of their own)."""
        if asked is None:
            return self._rankings, self._latest
        return self._candidate_rankings, self._candidate_rankings

    def start_refreshing(self, every_s: float = 5.0) -> None:
        """Refresh active people's rankings in a daemon thread, every ``every_s`` seconds."""

        def loop() -> None:
            trimmed = time.monotonic()
            while not self._stopped.wait(every_s):
                try:
                    self._precompute_promoted()
                    self.refresh()
                except Exception:  # a failed sweep is retried at the next one
                    continue
                # The caches hold hundreds of thousands of long-lived objects; a full garbage
                # collection scanned them all, pausing every request for 0.1-0.3 s. Moving
                # what exists now out of the collector's view bounds each scan to what is new
                # since the last sweep (evicted entries are still freed by reference count).
                gc.freeze()
                if time.monotonic() - trimmed >= TRIM_EVERY_S:
                    release_free_memory()  # see docs/operations.md
                    trimmed = time.monotonic()

        threading.Thread(target=loop, name="relevo-refresh", daemon=True).start()

    def _precompute_promoted(self) -> None:
        """Precompute for every model a placement of a tenant seen here uses, once per
        promoted version."""
        for (tenant_id, ranker), (tenant, done) in list(self._served_models.items()):
            served = self._serving.model(tenant, ranker.model)
            if served is not None and served.version != done:
                self.precompute(tenant, ranker)
                self._served_models[(tenant_id, ranker)] = (tenant, served.version)

    def close(self) -> None:
        self._stopped.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._serving.close()

    def _strategy(self, placement: str) -> Strategy:
        strategy = self._strategies.get(placement)
        if strategy is None:
            raise InvalidInput(
                [
                    Violation(
                        "/placement",
                        "enum",
                        f"unknown placement '{placement}'; configured: {', '.join(self._strategies)}",
                    )
                ],
                "Unknown placement",
            )
        return strategy

    def _whom(self, tenant: Tenant, request: DecisionRequest) -> tuple[str | None, str]:
        """The person's key and region: their home, else (someone never seen, or nobody) the
        region the request names, else the tenant's default.

        A person's key and home never change once they have a home, so those are remembered:
        working them out (an HMAC, then the home's lookup) was a tenth of a reused answer."""
        asked = (tenant.tenant_id, request.user_id, request.anonymous_id)
        known = self._known.get(asked)
        if known is not None:
            return known
        pseudonymize = self._pseudonymizer_for(tenant.tenant_id)
        if request.user_id is not None:
            person: str | None = "u:" + pseudonymize("user_id", request.user_id)
        elif request.anonymous_id is not None:
            person = "a:" + pseudonymize("anonymous_id", request.anonymous_id)
        else:
            person = None
        home = None if person is None else self._home_region(tenant, person)
        if home is None:
            return person, _asked_region(tenant, request) or tenant.default_region
        if len(self._known) >= self._known_limit:
            self._known.clear()
        self._known[asked] = person, home
        return person, home

    def _person(
        self, tenant: Tenant, person: str, region: str, now: datetime, version: int | None
    ) -> tuple[Audience, PersonState]:
        """What policy knows of the person, and their online state (``version``: of that
        state, if already read). A failure to read it leaves the person unknown, which policy
        treats as the most restrictive case (fail closed)."""
        state = self._state(tenant.tenant_id, person, region, micros(now), version)
        attributes = state.attributes
        age = None if attributes is None else age_on(attributes.birth_year, now.date())
        return Audience(region, age), state

    def _state(
        self, tenant_id: str, person: str, region: str, now_us: int, version: int | None = None
    ) -> PersonState:
        """The person's state: the one kept for this day if its version is still theirs (a
        point read of 5 µs, unless ``version`` gives it), else read whole (one statement,
        about 130 µs on Online Retail: most of a first request's time) and kept. Decay is by
        day, so a state read on an earlier day is read again."""
        partition = self._storage.partition(tenant_id, region)
        key = (tenant_id, person, region)
        today = now_us // DAY_US
        kept = self._states.get(key)
        if kept is not None and kept[0] == today:
            current = partition.person_version(person) if version is None else version
            if kept[1].version == current:
                return kept[1]
        state = partition.person_state(person, now_us)
        if state.version:  # someone never written has nothing worth keeping
            self._states.put(key, (today, state))
        return state

    def _people(
        self, tenant: Tenant, served: ServingModel, recent: list[RecentItem], region: str
    ) -> People:
        """The person as the model sees them: their recent items, weighted by event type."""
        weights = self._weights_for(tenant.tenant_id)
        known = [(served.index[r.item_id], r) for r in recent if r.item_id in served.index]
        columns = [i for i, r in known if weights.get(r.type, 0) > 0]
        values = [weights[r.type] for i, r in known if weights.get(r.type, 0) > 0]
        history = sp.csr_matrix(
            (np.asarray(values, np.float32), ([0] * len(columns), columns)),
            shape=(1, len(served.index)),
        )
        history.sum_duplicates()
        sequence = np.asarray([i for i, _ in reversed(known)], dtype=np.int32)
        last = max((r.occurred_at_us for r in recent), default=0)
        return People(history, [sequence], [region], np.asarray([last], dtype=np.int64))

    def _contributions(
        self, served: ServingModel, people: Callable[[], People], chosen: list[str]
    ) -> Generator[ModelRun, Any, dict[str, list[dict[str, Any]]]]:
        """For ``explain``: what moved each shown item's score, by feature (a learned ranker
        only), computed in the model pool within the budget; nothing if it cannot be."""
        contributions = getattr(served.model, "contributions", None)
        known = [item for item in chosen if item in served.index]
        if contributions is None or not known:
            return {}
        items = np.asarray([served.index[item] for item in known], dtype=np.int64)
        future = self._pool.submit(contributions, people(), 0, items)
        try:
            found = yield future, EXPLAIN_BUDGET_S
        except Exception:  # an explanation must never cost the answer
            return {}
        return {
            item: [{"feature": c.name, "value": round(c.value, 6)} for c in parts]
            for item, parts in zip(known, found, strict=True)
        }

    def _run_model(
        self,
        tenant: Tenant,
        strategy: Strategy,
        served: ServingModel,
        people: People,
        request: DecisionRequest,
    ) -> Generator[ModelRun, Ranking, Ranking | str]:
        """The model's ranking, or the name of the fallback to take."""
        breaker = self._breakers.setdefault(
            (tenant.tenant_id, served.record.name), CircuitBreaker()
        )
        if not breaker.allows():
            return "circuit_open"
        future = self._pool.submit(
            _score, served, people, request.candidates, strategy.ranker.sources
        )
        try:
            outcome = yield future, strategy.model_budget_ms / 1000
        except TimeoutError:  # concurrent.futures' and asyncio's are both this one
            breaker.failed()
            return "model_timeout"
        except Exception:  # a broken model must never break the answer
            breaker.failed()
            return "model_error"
        breaker.succeeded()
        return outcome

    def _free(self, catalog: Mapping[str, Item]) -> frozenset[str]:
        """The catalog's items no policy can refuse, found once per catalog loaded."""
        found = self._unrestricted
        if found[0] is not catalog:
            found = self._unrestricted = (catalog, unrestricted(catalog))
        return found[1]

    def _seen(self, recent: list[RecentItem], strategy: Strategy, now: datetime) -> set[str]:
        if not strategy.exclude_seen:
            return set()
        since = micros(now - timedelta(days=strategy.seen_window_days))
        return {r.item_id for r in recent if r.occurred_at_us >= since}

    def _fallback_items(
        self,
        tenant: Tenant,
        strategy: Strategy,
        region: str,
        catalog: Mapping[str, Item],
        checks: list,
        want: int | None = None,
    ) -> tuple[list[str], list[FilterReport], str]:
        """Popular in the region (the promoted popularity model), then the static list, then
        the catalog's own order: the answer that never fails, filtered like any other. The
        last value names the first of the three that had anything."""
        try:
            popular = self._popular(tenant, region)
        except Exception:  # the registry is down: the static list still answers
            popular = []
        kind = "popular" if popular else "static" if strategy.fallback_items else "catalog"
        candidates = [*popular, *strategy.fallback_items, *itertools.islice(catalog, POOL)]
        allowed, reports = apply_checks(
            list(dict.fromkeys(candidates)), catalog.get, checks, want, self._free(catalog)
        )
        return allowed, reports, kind

    def _popular(self, tenant: Tenant, region: str) -> list[str]:
        """The promoted popularity model's best items in a region, sorted once per version;
        with none promoted, the region's items by their online weight (what every event adds,
        decayed), read at most once a minute."""
        served = self._serving.model(tenant, "popularity")
        if served is None:
            key: tuple = (tenant.tenant_id, region, "online")
            found = self._popular_lists.get(key)
            if found is None:
                partition = self._storage.partition(tenant.tenant_id, region)
                now_us = micros(self._clock())
                found = [
                    item for item, _ in partition.trending(now_us, POPULAR_HALF_LIFE_DAYS, POOL)
                ]
                self._popular_lists.put(key, found, ONLINE_POPULAR_TTL_S)
            return found
        key = (tenant.tenant_id, region, served.version)
        found = self._popular_lists.get(key)
        if found is None:
            vector = served.model.vector(region)  # type: ignore[attr-defined]
            best = np.argsort(-vector, kind="stable")[:POOL]
            found = [str(served.model.item_ids[i]) for i in best if vector[i] > 0]
            self._popular_lists.put(key, found)
        return found

    def _reasons(
        self,
        chosen: list[str],
        explored: set[str],
        sources: Mapping[str, tuple[str, ...]],
        because_memo: dict[str, str | None],
        served: ServingModel | None,
        people: Callable[[], People] | None,
        state: PersonState,
        catalog: Mapping[str, Item],
        now: datetime,
    ) -> dict[str, tuple[str, ...]]:
        """Reasons a person can read, from where each item came from and what the person
        likes. A personal model's explanation is the costly part; it is kept in
        ``because_memo``, which lives as long as the cached ranking it explains."""
        recent = state.recent
        by_item = {r.item_id: r for r in recent}
        liked = list(state.affinities.get("category", {}))[:TOP_LIKED]
        bases = getattr(served.model, "bases", {}) if served else {}
        found: dict[str, tuple[str, ...]] = {}
        for item_id in chosen:
            reasons: list[str] = []
            item_sources = sources.get(item_id, ())
            if item_id in explored:
                reasons.append("Exploration")
            if item_id not in because_memo:
                because_memo[item_id] = _because(
                    item_id, item_sources, bases, served, people, by_item, catalog
                )
            because = because_memo[item_id]
            if because:
                reasons.append(because)
            if "session" in item_sources and recent:
                latest = recent[0]
                just = f"Because you just {VERBS.get(latest.type, 'viewed')} {_title(catalog, latest.item_id)}"
                if not because or _title(catalog, latest.item_id) not in because:
                    reasons.append(just)
            item = catalog.get(item_id)
            if item and item.created_at and item.category and now - item.created_at < NEW_FOR:
                reasons.append(f"New in {item.category}")
            if not because and item and item.category in liked:
                reasons.append(f"Because you like {item.category}")
            if "trending" in item_sources:
                reasons.append("Trending")
            if "popularity" in item_sources or "popular" in item_sources:
                reasons.append("Popular in your region")
            reasons = reasons[:MAX_REASONS]
            found[item_id] = tuple(reasons) or ("Popular in your region",)
        return found


def _explain_ahead(
    ranking: Ranking,
    served: ServingModel,
    person: People,
    recent: list[RecentItem],
    catalog: Mapping[str, Item],
) -> None:
    """Find the "Because you..." of a ranking's first items while it is precomputed, in the
    background: explaining is the costly part of a person's first answer (most of all for a
    factor model), and answers mostly show the first items."""
    by_item = {r.item_id: r for r in recent}
    bases = getattr(served.model, "bases", {})
    for item_id in ranking.items[:EXPLAINED_AHEAD]:
        if item_id not in ranking.because:
            ranking.because[item_id] = _because(
                item_id,
                ranking.sources.get(item_id, ()),
                bases,
                served,
                lambda: person,
                by_item,
                catalog,
            )


def _ranking_key(
    tenant_id: str,
    person: str | None,
    region: str,
    marker: str,
    version: str,
    ranker: Ranker,
    asked: tuple[str, ...] | None,
) -> tuple:
    """What a cached ranking is valid for: the person as of their latest event (``marker``),
    the model version, the ranker's sources and the candidates asked about."""
    return (tenant_id, _ranked_as(person, marker), region, marker, version, ranker, asked)


def _ranked_as(person: str | None, marker: str) -> str | None:
    """Whose ranking a person gets: their own once they have a recent event (``marker``);
    before that, the one every newcomer of the region shares, since the model sees nothing
    of theirs. So people seen once do not each keep a ranking in memory.

    >>> _ranked_as("p1", "e9"), _ranked_as("p1", "")
    ('p1', None)
    """
    return person if marker else None


def _score(
    served: ServingModel,
    people: People,
    candidates: list[str] | None,
    sources: tuple[tuple[str, int], ...] = (),
) -> Ranking:
    """Run the model for one person: their best unseen items (or the caller's candidates)."""
    return _rankings(served, people, candidates, sources)[0]


def _rankings(
    served: ServingModel,
    people: People,
    candidates: list[str] | None = None,
    sources: tuple[tuple[str, int], ...] = (),
) -> list[Ranking]:
    """Run the model for a batch of people (one call, vectorized): each one's ranking.
    ``sources`` (a hybrid's candidate counts per base) means nothing to other models."""
    model, index = served.model, served.index
    items = None
    if candidates is not None:
        items = np.asarray([index[c] for c in candidates if c in index], dtype=np.int64)
    rank = getattr(model, "rank", None)
    if rank is not None:
        scores, proposals = rank(people, items, dict(sources) or None)
    else:
        scores, proposals = model.score(people, items), {}
    ids = model.item_ids if items is None else model.item_ids[items]
    if items is None:
        scores = scores.copy()
        seen = people.history.tocoo()
        scores[seen.row, seen.col] = -np.inf
    # A ranker's scores are relative, any finite one counts; for the other models a score of
    # zero means no evidence at all, and such items are left to the popular fill.
    floor = -np.inf if rank is not None else 0.0
    found: list[Ranking] = []
    for person, row in enumerate(scores):
        order = np.argsort(-row, kind="stable")[:POOL]
        ranked = {
            str(ids[i]): float(row[i]) for i in order if np.isfinite(row[i]) and row[i] > floor
        }
        proposed_by: dict[str, list[str]] = {}
        for name, best in proposals.items():
            for i in best[person][best[person] >= 0]:
                proposed_by.setdefault(str(model.item_ids[i]), []).append(name)
        fixed = (served.record.name,)
        sources = {
            item: tuple(proposed_by.get(item, ())) if proposals else fixed for item in ranked
        }
        if candidates is not None:  # unknown to the model: after the known, in given order
            lowest = min(ranked.values(), default=0.0) - 1.0
            ranked.update((c, lowest) for c in candidates if c not in ranked)
        found.append(Ranking(tuple(ranked), ranked, sources))
    return found


def _because(
    item_id: str,
    item_sources: tuple[str, ...],
    bases: Mapping,
    served: ServingModel | None,
    people: Callable[[], People] | None,
    recent: Mapping[str, RecentItem],
    catalog: Mapping[str, Item],
) -> str | None:
    """ "Because you bought X": the history item that adds most to a personal model's score."""
    if served is None or people is None or not recent:
        return None
    models = [bases[name] for name in PERSONAL if name in item_sources and name in bases]
    if not bases and served.record.name in PERSONAL and served.record.name in item_sources:
        models = [served.model]
    index = served.index.get(item_id)
    for model in models:
        if index is None:
            break
        contributions = model.explain(people(), 0, index)
        if contributions:
            source = contributions[0].name
            verb = VERBS.get(recent[source].type, "viewed") if source in recent else "liked"
            return f"Because you {verb} {_title(catalog, source)}"
    return None


def _stack(batch: list[People]) -> People:
    """Batches of one person, as one batch."""
    return People(
        sp.vstack([p.history for p in batch]).tocsr(),
        [p.sequences[0] for p in batch],
        [p.regions[0] for p in batch],
        np.concatenate([p.last_seen_us for p in batch]),
    )


def _once(build: Callable[[], People]) -> Callable[[], People]:
    """``build``, called at most once."""
    made: list[People] = []

    def get() -> People:
        if not made:
            made.append(build())
        return made[0]

    return get


def _title(catalog: Mapping[str, Item], item_id: str) -> str:
    item = catalog.get(item_id)
    return item.title if item is not None and item.title else item_id


def _boost(
    allowed: list[str], scores: dict[str, float], strategy: Strategy, catalog: Mapping[str, Item]
) -> list[str]:
    """The allowed items re-ordered by score after the placement's boosts (stable)."""
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


def _diverse(
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


def _may_personalize(request: DecisionRequest) -> bool:
    consent = request.context.get("consent")
    return not (isinstance(consent, dict) and consent.get("personalization") is False)


def _merge(first: list[FilterReport], second: list[FilterReport]) -> list[FilterReport]:
    totals: dict[str, int] = {}
    for report in (*first, *second):
        totals[report.name] = totals.get(report.name, 0) + report.removed
    return [FilterReport(name, removed) for name, removed in totals.items()]


def _request_record(request: DecisionRequest) -> dict:
    """The request as the trace keeps it: person ids left out (the trace holds the pseudonym)."""
    body = msgspec.to_builtins(request)
    for name in ("user_id", "anonymous_id", "session_id"):
        body.pop(name, None)
    return body


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _us_since(started: float) -> int:
    """Whole microseconds since ``started``: divided by 1000, milliseconds as a trace keeps
    them, without ``round(ms, 3)`` (a decimal conversion, 0.3 µs each).

    >>> 0 <= _us_since(time.perf_counter()) < 1_000_000
    True
    """
    return round((time.perf_counter() - started) * 1e6)


def _person_record(state: PersonState, audience: Audience) -> dict[str, Any]:
    """The person's state as the trace keeps it: the online features the decision read (how
    old each was is each answer's own: the trace's ``feature_age_s``)."""
    attributes = state.attributes
    return {
        "recent_items": tuple(r.item_id for r in state.recent),
        "sessions": tuple(
            {"session_id": s.session_id, "items": tuple(s.item_ids)}
            for s in state.sessions[:TRACED_SESSIONS]
        ),
        "affinities": state.affinities,
        "counters": state.counters,
        "age_known": audience.age is not None,
        "segments": () if attributes is None else tuple(attributes.segments),
    }


def _asked_region(tenant: Tenant, request: DecisionRequest) -> str | None:
    """The region the request's context names, if it is one of the tenant's."""
    asked = request.context.get("region")
    return asked if asked in tenant.regions else None


def _shown(
    chosen: list[str], scores: Mapping[str, float], reasons: Mapping[str, tuple[str, ...]]
) -> ShownItems:
    return ShownItems(RecommendedItem(i, round(scores.get(i, 0.0), 6), reasons[i]) for i in chosen)


def _valid_until(
    now: datetime,
    seen: set[str],
    recent: list[RecentItem],
    strategy: Strategy,
    chosen: list[str],
    catalog: Mapping[str, Item],
) -> int:
    """Until when (µs) a decision worked out at ``now`` depends on nothing that time changes:
    the day (affinities decay by day, ages change on a birthday), the first seen item that
    leaves the seen window, the first shown item that stops being new; at most
    ``PREPARED_MAX_S`` (online popularity, read once a minute)."""
    now_us = micros(now)
    ends = [now_us + int(PREPARED_MAX_S * 1e6), (now_us // DAY_US + 1) * DAY_US]
    window_us = strategy.seen_window_days * DAY_US
    ends += [int(r.occurred_at_us + window_us) for r in recent if r.item_id in seen]
    for item_id in chosen:
        item = catalog.get(item_id)
        if item is not None and item.created_at is not None and now - item.created_at < NEW_FOR:
            ends.append(micros(item.created_at + NEW_FOR))
    return min(ends)
