"""The candidates stage: the placement's model ranks the person, within its time budget and
behind its circuit breaker, in a pool of worker threads.

A ranking is kept while the person's version and the model's are the same (``versions``),
with the person's last ranking apart: when the model cannot answer now (an error, too slow,
the breaker open), that last ranking, stale but theirs, answers (``precomputed``); else the
decision takes the fallback named. Rankings of a caller's own candidates (``POST /v1/rank``)
are kept a minute, apart, so that they do not push people's rankings out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from relevo.decide.asking import Asking
from relevo.decide.breaker import CircuitBreaker
from relevo.decide.cache import TtlCache
from relevo.decide.person import Person
from relevo.decide.pools import started_pool
from relevo.decide.promoted import ServingModel, ServingState
from relevo.decide.ranking import Ranking, once, people_of, score
from relevo.decide.versions import latest_key, ranking_key
from relevo.domain.decisions import DecisionRequest
from relevo.domain.strategies import Ranker
from relevo.domain.tenants import Tenant
from relevo.models.abilities import ExplainsFeatures
from relevo.models.base import People
from relevo.monitoring import CACHE_LOOKUPS

RANKING_IDLE_S = 600  # a ranking lives this long after its last use past half its life
LATEST_TTL_S = 24 * 3600
CANDIDATE_RANKING_S = 60.0  # a ranking of the caller's own candidates (a page shown again)
MODEL_THREADS = 4  # model runs at once; a run past its budget keeps a thread until it ends
ACTIVE_PEOPLE = 10_000  # people who asked lately, ranked again ahead of their next request
EXPLAIN_BUDGET_S = 0.5  # feature contributions, only when a caller asks to explain
_HIT, _MISS = CACHE_LOOKUPS.labels("rankings", "hit"), CACHE_LOOKUPS.labels("rankings", "miss")


@dataclass(frozen=True)
class Candidates:
    """What the candidates stage gives the rest of the decision: the fallback taken ("none"
    when the model answered), the model version and its ranking, and the person as the model
    sees them (for reasons and explanations)."""

    fallback: str
    version: str = ""
    ranking: Ranking = field(default_factory=Ranking)
    served: ServingModel | None = None
    people: Callable[[], People] | None = None


class CandidateStage:
    def __init__(
        self,
        serving: ServingState,
        weights_for: Callable[[str], Mapping[str, float]],
        people_entries: int,
        answer_entries: int,
    ) -> None:
        self._serving = serving
        self._weights_for = weights_for
        self.pool = started_pool(MODEL_THREADS, "relevo-model")
        self._breakers: dict[tuple[str, str], CircuitBreaker] = {}
        # Sliding: the rankings precomputed together at a start must not all go together and
        # be made again at once (a burst of model runs past their budget opens the breaker).
        self.rankings = TtlCache(people_entries, RANKING_IDLE_S, sliding=True)
        self.latest = TtlCache(max_entries=people_entries, ttl_s=LATEST_TTL_S)
        self.candidate_rankings = TtlCache(max_entries=answer_entries, ttl_s=CANDIDATE_RANKING_S)
        # People who asked lately (for the model's own ranking), and the ranker of each.
        self.active = TtlCache(max_entries=ACTIVE_PEOPLE, ttl_s=3600)
        # (tenant, ranker) pairs placements use, with the version precomputed for (or "").
        self.served_models: dict[tuple[str, Ranker], tuple[Tenant, str]] = {}

    async def ranked(self, asking: Asking, person: Person) -> Candidates:
        """The model's ranking of the person: kept, else run within the budget; when the
        model cannot answer, the person's last ranking, else the fallback named."""
        tenant, ranker, region = asking.tenant, asking.strategy.ranker, asking.region
        self.served_models.setdefault((tenant.tenant_id, ranker), (tenant, ""))
        served = self._serving.model(tenant, ranker.model)
        if served is None:
            return Candidates("no_model")
        state, weights = person.state, self._weights_for(tenant.tenant_id)
        people = once(lambda: people_of(served, state.recent, region, weights))
        asked = _asked(asking.request)
        rankings, latest = self._caches(asked)
        args = (tenant.tenant_id, asking.person, region, state.version)
        outcome = rankings.get(ranking_key(*args, served.version, ranker, asked))
        (_MISS if outcome is None else _HIT).inc()
        if outcome is None:
            outcome = await self._run(asking, served, people())
            if isinstance(outcome, str):
                earlier = latest.get(latest_key(*args, ranker, asked)) if asking.person else None
                if earlier is None:
                    return Candidates(outcome, served=served, people=people)
                version, ranking, _ = earlier  # the person's last ranking: stale, but theirs
                return Candidates("precomputed", version, ranking, served, people)
            self.keep(*args, served, ranker, asked, outcome)
            if asked is None and state.version:  # newcomers share a ranking: no refresh
                self.active.put((tenant.tenant_id, asking.person, region), (tenant, ranker))
        return Candidates("none", served.version, outcome, served, people)

    async def _run(self, asking: Asking, served: ServingModel, people: People) -> Ranking | str:
        """The model's ranking, or the name of the fallback to take."""
        key = (asking.tenant.tenant_id, served.record.name)
        breaker = self._breakers.setdefault(key, CircuitBreaker())
        if not breaker.allows():
            return "circuit_open"
        ranker, strategy = asking.strategy.ranker, asking.strategy
        future = self.pool.submit(score, served, people, asking.request.candidates, ranker.sources)
        try:
            outcome = await asyncio.wait_for(
                asyncio.wrap_future(future), strategy.model_budget_ms / 1000
            )
        except TimeoutError:  # concurrent.futures' and asyncio's are both this one
            breaker.failed()
            return "model_timeout"
        except Exception:  # a broken model must never break the answer
            breaker.failed()
            return "model_error"
        breaker.succeeded()
        return outcome

    async def contributions(
        self, served: ServingModel, people: Callable[[], People], chosen: list[str]
    ) -> dict[str, list[dict[str, Any]]]:
        """For ``explain``: what moved each shown item's score, by feature (a model that
        ``ExplainsFeatures``), within its budget; nothing if it cannot be found in time."""
        model = served.model
        known = [item for item in chosen if item in served.index]
        if not isinstance(model, ExplainsFeatures) or not known:
            return {}
        items = np.asarray([served.index[item] for item in known], dtype=np.int64)
        future = self.pool.submit(model.contributions, people(), 0, items)
        try:
            found = await asyncio.wait_for(asyncio.wrap_future(future), EXPLAIN_BUDGET_S)
        except Exception:  # an explanation must never cost the answer
            return {}
        return {
            item: [{"feature": c.name, "value": round(c.value, 6)} for c in parts]
            for item, parts in zip(known, found, strict=True)
        }

    def keep(
        self,
        tenant_id: str,
        person: str | None,
        region: str,
        version: int,
        served: ServingModel,
        ranker: Ranker,
        asked: tuple[str, ...] | None,
        ranking: Ranking,
    ) -> None:
        """Keep a fresh ranking, and keep it as the person's last (the precomputed fallback).
        The one it replaces as their last is dropped: no request will ask for it again."""
        key = ranking_key(tenant_id, person, region, version, served.version, ranker, asked)
        last = latest_key(tenant_id, person, region, version, ranker, asked)
        rankings, latest = self._caches(asked)
        earlier = latest.get(last)
        if earlier is not None and earlier[2] != key:
            rankings.pop(earlier[2])
        rankings.put(key, ranking)
        latest.put(last, (served.version, ranking, key))

    def is_kept(
        self,
        tenant_id: str,
        person: str,
        region: str,
        version: int,
        served: ServingModel,
        ranker: Ranker,
    ) -> bool:
        """Whether the person's ranking at this version of theirs and the model is kept."""
        key = ranking_key(tenant_id, person, region, version, served.version, ranker, None)
        return self.rankings.holds(key)

    def _caches(self, asked: tuple[str, ...] | None) -> tuple[TtlCache, TtlCache]:
        """Where a ranking and the person's last one are kept: people's own rankings apart
        from those of a caller's candidates (both in one cache, under keys of their own)."""
        if asked is None:
            return self.rankings, self.latest
        return self.candidate_rankings, self.candidate_rankings

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _asked(request: DecisionRequest) -> tuple[str, ...] | None:
    return None if request.candidates is None else tuple(request.candidates)
