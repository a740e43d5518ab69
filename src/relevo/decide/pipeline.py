"""Answering "what should this person see now?": the flow of one decision (DESIGN.md), as
stages a reader can follow in order.

    ask        who asks for what (``person.whom``), and what is kept for it (``reuse``)
    person     their state and what policy knows of them                  (``person``)
    consent    may the answer be personal? (the place for issue 20's consent stage)
    candidates the placement's model, within its budget and breaker        (``candidates``)
    filters    policy and the request, each check counting what it removed (``filters``)
    rank       boosts, then diversity                                      (``shaping``)
    reasons    why each item is there                                      (``reasons``)
    answer     exploration's draw, the trace written without blocking     (``prepared``)

What the person should see is worked out once per version of everything it depends on and
kept (``Prepared``); each answer is still a decision of its own: its id, its exploration
draw, its trace. When the model cannot answer, the next safe answer is taken (``fallbacks``);
policy applies to every path, and the answer names the fallback used. Experiment assignment
will come before the candidates, shadow scoring after the answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from relevo.decide.asking import Asking
from relevo.decide.candidates import Candidates, CandidateStage
from relevo.decide.fallbacks import Fallbacks
from relevo.decide.filters import FilterStage
from relevo.decide.person import Person, PersonStage
from relevo.decide.precompute import Precomputer
from relevo.decide.prepared import Prepared, answer, prepare
from relevo.decide.promoted import ServingState
from relevo.decide.reasons import Reasons
from relevo.decide.reuse import Reuse
from relevo.decide.shaping import boost, diverse, draw
from relevo.decide.similar import SimilarItems, SimilarItemsFinder
from relevo.decide.trace import Record, Shown
from relevo.decoding import InvalidInput
from relevo.domain.decisions import Decision, DecisionRequest, new_decision_id
from relevo.domain.derived import micros
from relevo.domain.pseudonyms import Pseudonymizer
from relevo.domain.strategies import DEFAULT_PLACEMENT, Ranker, Strategy
from relevo.domain.tenants import Tenant
from relevo.domain.violations import Violation
from relevo.models.abilities import ExplainsFeatures
from relevo.monitoring import CACHE_SIZES
from relevo.ports import Storage

MAX_KNOWN_PEOPLE = 200_000  # whose key and home are remembered (see ``PersonStage.whom``)
PEOPLE_ENTRIES = 10_000  # people whose ranking, last ranking and state are kept in memory
ANSWER_ENTRIES = 20_000  # prepared decisions and cached answers kept in memory


class DecisionService:
    def __init__(
        self,
        storage: Storage,
        serving: ServingState,
        pseudonymizer_for: Callable[[str], Pseudonymizer],
        home_region: Callable[[Tenant, str], str | None],
        strategies: Mapping[str, Strategy],
        weights_for: Callable[[str], Mapping[str, float]],
        record: Record,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        people_entries: int = PEOPLE_ENTRIES,
        answer_entries: int = ANSWER_ENTRIES,
        known_people: int = MAX_KNOWN_PEOPLE,
    ) -> None:
        """The caches are bounded (see docs/operations.md): ``people_entries`` for each
        per-person cache (rankings, last rankings, states), ``answer_entries`` for prepared
        decisions and for cached answers, ``known_people`` for the keys and homes of people
        (cleared when full)."""
        self.serving = serving
        self._strategies = strategies
        self._record = record
        self._clock = clock
        self.person = PersonStage(
            storage, pseudonymizer_for, home_region, people_entries, known_people
        )
        self.candidates = CandidateStage(serving, weights_for, people_entries, answer_entries)
        fallbacks = Fallbacks(storage, serving, clock)
        self.filters = FilterStage(fallbacks)
        self.reuse = Reuse(answer_entries)
        self.precomputer = Precomputer(
            storage, serving, self.person, self.candidates, weights_for, clock
        )
        self.similar_items = SimilarItemsFinder(
            storage, serving, self.filters, fallbacks, strategies[DEFAULT_PLACEMENT]
        )
        self._track_caches(known_people)

    def _track_caches(self, known_people: int) -> None:
        caches = {
            "rankings": self.candidates.rankings,
            "candidate_rankings": self.candidates.candidate_rankings,
            "latest": self.candidates.latest,
            "active": self.candidates.active,
            "answers": self.reuse.answers,
            "prepared": self.reuse.prepared,
            "states": self.person.states,
        }
        for name, cache in caches.items():
            CACHE_SIZES.track(name, cache, len, cache.max_entries)
        CACHE_SIZES.track("known_people", self.person, lambda p: len(p.known), known_people)
        CACHE_SIZES.track("precomputed_homes", self.person, lambda p: len(p.homes), known_people)

    def decide(self, tenant: Tenant, request: DecisionRequest) -> Decision:
        """Decide from a thread with no event loop running (commands, tests)."""
        return asyncio.run(self.decide_async(tenant, request))

    async def decide_async(self, tenant: Tenant, request: DecisionRequest) -> Decision:
        """Decide on the event loop: what is in memory is answered inline; storage reads and
        the model run in worker threads, the model within its budget."""
        asking = await self._ask(tenant, request)
        kept = await self._kept(asking)
        if isinstance(kept, Decision):
            return kept
        prepared = kept or await self._work_out(asking)
        decision = await self._answer(asking, prepared)
        # <- shadow scoring (issue 21) goes here: after the answer, off its path.
        self.reuse.keep_answer(asking, prepared, decision)
        return decision

    async def _ask(self, tenant: Tenant, request: DecisionRequest) -> Asking:
        started = time.perf_counter()
        strategy = self._strategy(request.placement)
        now = self._clock()
        try:
            person, region = await self.person.whom(tenant, request)
            policy_known = True
        except Exception:  # policy cannot be evaluated: the safest answer, for nobody known
            person, region, policy_known = None, tenant.default_region, False
        return Asking(
            tenant, strategy, request, person, region, now, micros(now), started, policy_known
        )

    async def _kept(self, asking: Asking) -> Decision | Prepared | None:
        """A kept answer (returned as it is), a prepared decision that still holds (answered
        anew), or nothing (worked out)."""
        answer_kept, prepared = self.reuse.ask(asking)
        if asking.person is not None and (answer_kept is not None or prepared is not None):
            try:
                asking.version = await self.person.version(asking)
            except Exception:  # cannot tell: work it out again (reading the state will tell)
                answer_kept = prepared = None
        decision = self.reuse.answer(asking, answer_kept)
        if decision is not None:
            return decision
        asking.lap("person")
        served, catalog = None, None
        if prepared is not None:  # in memory: they served it (a first decision loads apart)
            served = self.serving.model(asking.tenant, asking.strategy.model)
            catalog = self.serving.catalog(asking.tenant)
        prepared = self.reuse.still(asking, prepared, served, catalog)
        if prepared is not None:
            asking.lap("prepared")
        return prepared

    async def _work_out(self, asking: Asking) -> Prepared:
        """Everything up to an answer, stage by stage, each timed by ``asking.lap``."""
        await self._loaded(asking.tenant, asking.strategy)
        catalog = self.serving.catalog(asking.tenant)
        person = await self.person.seen(asking)
        asking.lap("person")
        candidates = await self._candidates(asking, person)
        asking.lap("model")
        allowed = await self.filters.allowed(asking, person, candidates, catalog)
        asking.lap("filters")
        scores = allowed.scores
        pool = boost(allowed.items, scores, asking.strategy, catalog)
        chosen = diverse(pool, catalog, asking.strategy.max_per_category, asking.request.k)
        asking.lap("rank")
        reasons = Reasons(
            allowed.sources,
            candidates.ranking.because,
            candidates.served,
            candidates.people,
            person.state,
            catalog,
            asking.now,
        )
        shown = Shown(chosen, scores, allowed.sources, reasons(chosen, set()))
        asking.lap("reasons")
        served = self.serving.model(asking.tenant, asking.strategy.model)
        prepared = prepare(
            asking, person, candidates, allowed, pool, shown, reasons, served, catalog
        )
        self.reuse.keep(asking, prepared)
        return prepared

    async def _candidates(self, asking: Asking, person: Person) -> Candidates:
        """The model's candidates, when policy is known and the person may get a personal
        answer (the consent check; issue 20's consent stage takes its place)."""
        if not asking.policy_known:
            return Candidates("policy_unavailable")
        if not _may_personalize(asking.request):
            return Candidates("no_consent")
        # <- experiment assignment (issue 21) goes here: it may choose the ranker.
        return await self.candidates.ranked(asking, person)

    async def _answer(self, asking: Asking, prepared: Prepared) -> Decision:
        """A new decision drawn from what was prepared, with the model's feature
        contributions to what it shows when the caller asks to ``explain``."""
        asking.lapped = time.perf_counter()  # what follows is the answer's own time
        drawn = draw(
            new_decision_id(asking.region),
            prepared.trace.items,
            prepared.pool,
            asking.strategy.exploration,
            asking.request.k,
        )
        contributions = {}
        served, reasons = prepared.served, prepared.reasons
        if asking.request.explain and prepared.trace.fallback == "none" and served is not None:
            people = None if reasons is None else reasons.people
            if isinstance(served.model, ExplainsFeatures) and people is not None:
                contributions = await self.candidates.contributions(served, people, drawn.chosen)
                asking.lap("contributions")
        return answer(asking, prepared, drawn, contributions, self._record)

    async def _loaded(self, tenant: Tenant, strategy: Strategy) -> None:
        """Load what the decision serves from in a worker thread if it is not in memory yet
        (a tenant's first decision), so the event loop never waits on a load."""
        names = {strategy.model, strategy.ranker.model, "popularity"}
        if not all(self.serving.loaded(tenant, name) for name in (None, *names)):
            await asyncio.to_thread(self._load, tenant, names)

    def _load(self, tenant: Tenant, names: set[str]) -> None:
        self.serving.catalog(tenant)
        for name in names:
            self.serving.model(tenant, name)

    def similar(self, tenant: Tenant, item_id: str, k: int) -> SimilarItems:
        """Items like this one (see ``similar``); reads storage: call from a worker thread."""
        return self.similar_items.similar(tenant, item_id, k)

    def precompute(self, tenant: Tenant, ranker: Ranker | str, limit: int = 10_000) -> int:
        return self.precomputer.precompute(tenant, ranker, limit)

    def refresh(self, limit: int = 1_000) -> int:
        return self.precomputer.refresh(limit)

    def start_refreshing(self, every_s: float = 5.0) -> None:
        self.precomputer.start(every_s)

    def close(self) -> None:
        self.precomputer.stop()
        self.candidates.close()
        self.serving.close()

    def _strategy(self, placement: str) -> Strategy:
        strategy = self._strategies.get(placement)
        if strategy is None:
            configured = ", ".join(self._strategies)
            raise InvalidInput(
                [
                    Violation(
                        "/placement",
                        "enum",
                        f"unknown placement '{placement}'; configured: {configured}",
                    )
                ],
                "Unknown placement",
            )
        return strategy


def _may_personalize(request: DecisionRequest) -> bool:
    consent = request.context.get("consent")
    return not (isinstance(consent, dict) and consent.get("personalization") is False)
