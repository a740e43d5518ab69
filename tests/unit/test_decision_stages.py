"""Each stage of the decision path on in-memory fakes of the storage ports (no SQLite), as
Cosmic Python tests its service layer: the person stage, the candidates stage, the filters
stage with its fallbacks, and reuse."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np

from relevo.decide.asking import Asking
from relevo.decide.candidates import Candidates, CandidateStage
from relevo.decide.fallbacks import Fallbacks
from relevo.decide.filters import FilterStage
from relevo.decide.person import Person, PersonStage
from relevo.decide.promoted import ServingModel
from relevo.decide.ranking import Ranking
from relevo.decide.reuse import Reuse
from relevo.domain.decisions import Decision, DecisionRequest, Filters
from relevo.domain.derived import micros
from relevo.domain.items import Item
from relevo.domain.person_state import PersonState, SeenItem
from relevo.domain.policy import Audience
from relevo.domain.strategies import strategies
from relevo.domain.tenants import Tenant

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
TENANT = Tenant("t1", "shop", ("eu", "us"), NOW)
ITEMS = [f"i{n}" for n in range(6)]


class FakePartition:
    """A region's person versions and states, in memory; ``remembered`` are the people whose
    version memory can tell without a read."""

    def __init__(self) -> None:
        self.states: dict[str, PersonState] = {}
        self.remembered: set[str] = set()
        self.reads = 0
        self.broken = False

    def known_person_version(self, person: str) -> int | None:
        return self._version(person) if person in self.remembered else None

    def person_version(self, person: str) -> int:
        self.reads += 1
        self.remembered.add(person)
        return self._version(person)

    def person_state(self, person: str, now_us: int) -> PersonState:
        if self.broken:
            raise OSError("disk I/O error")
        self.reads += 1
        self.remembered.add(person)
        return self.states.get(person, PersonState())

    def trending(self, now_us: int, half_life_days: float, limit: int) -> list[tuple[str, float]]:
        return [("i5", 3.0), ("i4", 2.0)]

    def _version(self, person: str) -> int:
        state = self.states.get(person)
        return 0 if state is None else state.version

    def act(self, person: str, item_id: str) -> None:
        """The person acts: a new state, one version on."""
        old = self.states.get(person, PersonState())
        recent = [SeenItem(micros(NOW), item_id, "purchase"), *old.recent]
        self.states[person] = PersonState(recent=recent, version=old.version + 1)
        self.remembered.discard(person)


class FakeStorage:
    def __init__(self) -> None:
        self.partitions: defaultdict[tuple[str, str], FakePartition] = defaultdict(FakePartition)

    def partition(self, tenant_id: str, region: str) -> FakePartition:
        return self.partitions[(tenant_id, region)]


class FakeModel:
    """Scores items by index (the last best), counting its runs; ``broken`` raises."""

    kind = "fake"
    item_ids = np.asarray(ITEMS, dtype=object)

    def __init__(self) -> None:
        self.runs = 0
        self.broken = False

    def score(self, people, items=None) -> np.ndarray:
        self.runs += 1
        if self.broken:
            raise RuntimeError("model exploded")
        return np.tile(np.arange(1, len(ITEMS) + 1, dtype=np.float32), (len(people), 1))


class FakeServing:
    def __init__(self, model: FakeModel | None) -> None:
        record = SimpleNamespace(name="fake", version=1)
        self.served = (
            None
            if model is None
            else ServingModel(record, model, {i: n for n, i in enumerate(ITEMS)})
        )  # type: ignore[arg-type]

    def model(self, tenant: Tenant, name: str) -> ServingModel | None:
        return self.served if name == "fake" else None


def asking(person: str | None = "u:1", **request) -> Asking:
    strategy = strategies({"default": {"model": "fake"}})["default"]
    asked = DecisionRequest(user_id=None if person is None else person, k=3, **request)
    return Asking(TENANT, strategy, asked, person, "eu", NOW, micros(NOW), time.perf_counter())


def person_stage(storage: FakeStorage, homes: dict[str, str] | None = None) -> PersonStage:
    homes = {} if homes is None else homes
    return PersonStage(
        storage,  # type: ignore[arg-type]
        lambda tenant_id: lambda field, value: f"p-{value}",  # type: ignore[arg-type,return-value]
        lambda tenant, person: homes.get(person),
        people_entries=100,
        known_people=100,
    )


def test_whom_remembers_a_person_once_they_have_a_home() -> None:
    homes: dict[str, str] = {}
    stage = person_stage(FakeStorage(), homes)
    request = DecisionRequest(user_id="ann", context={"region": "us"})
    assert asyncio.run(stage.whom(TENANT, request)) == ("u:p-ann", "us")  # the asked region
    assert stage.known == {}
    homes["u:p-ann"] = "eu"
    assert asyncio.run(stage.whom(TENANT, request)) == ("u:p-ann", "eu")  # their home wins
    assert stage.known == {("t1", "ann", None): ("u:p-ann", "eu")}


def test_a_kept_state_serves_until_the_persons_version_changes() -> None:
    storage = FakeStorage()
    partition = storage.partition("t1", "eu")
    partition.act("u:1", "i1")
    stage = person_stage(storage)
    first = asyncio.run(stage.seen(asking()))
    reads = partition.reads
    assert asyncio.run(stage.seen(asking())).state is first.state and partition.reads == reads
    partition.act("u:1", "i2")
    again = asyncio.run(stage.seen(asking()))
    assert again.state.version == 2 and [r.item_id for r in again.state.recent] == ["i2", "i1"]


def test_a_state_that_cannot_be_read_decides_for_nobody() -> None:
    storage = FakeStorage()
    storage.partition("t1", "eu").broken = True
    asked = asking()
    seen = asyncio.run(person_stage(storage).seen(asked))
    assert seen.audience == Audience(None, None) and not asked.policy_known
    assert asked.person is None and asked.region == "eu"


def test_a_ranking_is_kept_per_version_and_newcomers_share_one() -> None:
    model = FakeModel()
    stage = CandidateStage(FakeServing(model), lambda t: {"purchase": 1.0}, 100, 100)  # type: ignore[arg-type]
    known = Person(Audience("eu", None), PersonState(version=3))
    first = asyncio.run(stage.ranked(asking(), known))
    assert first.fallback == "none" and first.ranking.items[:2] == ("i5", "i4")
    asyncio.run(stage.ranked(asking(), known))
    assert model.runs == 1
    asyncio.run(stage.ranked(asking(), Person(known.audience, PersonState(version=4))))
    assert model.runs == 2  # acted since: ranked again
    nobody = Person(known.audience, PersonState())
    for newcomer in ("u:2", "u:3", "u:4"):
        asyncio.run(stage.ranked(asking(newcomer), nobody))
    assert model.runs == 3
    stage.close()


def test_a_failing_model_answers_with_the_persons_last_ranking_then_opens_its_breaker() -> None:
    model = FakeModel()
    stage = CandidateStage(FakeServing(model), lambda t: {"purchase": 1.0}, 100, 100)  # type: ignore[arg-type]
    person = Person(Audience("eu", None), PersonState(version=1))
    asyncio.run(stage.ranked(asking(), person))
    model.broken = True
    later = Person(person.audience, PersonState(version=2))
    assert asyncio.run(stage.ranked(asking(), later)).fallback == "precomputed"
    stranger = Person(person.audience, PersonState(version=1))
    fallbacks = [asyncio.run(stage.ranked(asking("u:9"), stranger)).fallback for _ in range(8)]
    assert fallbacks[0] == "model_error" and fallbacks[-1] == "circuit_open"
    assert asyncio.run(stage.ranked(asking(), Person(person.audience, PersonState()))).fallback
    stage.close()


def test_no_model_promoted_is_named() -> None:
    stage = CandidateStage(FakeServing(None), lambda t: {}, 10, 10)  # type: ignore[arg-type]
    assert asyncio.run(stage.ranked(asking(), Person(Audience("eu", None), PersonState()))) == (
        Candidates("no_model")
    )
    stage.close()


def test_filters_count_what_they_remove_and_fallbacks_fill_the_answer() -> None:
    storage = FakeStorage()
    catalog = {i: Item(i, category="a" if i < "i3" else "b") for i in ITEMS}
    catalog["i2"] = Item("i2", available=False)
    stage = FilterStage(Fallbacks(storage, FakeServing(None), lambda: NOW))  # type: ignore[arg-type]
    ranked = Candidates("none", ranking=Ranking(("i2", "i1"), {"i2": 2.0, "i1": 1.0}))
    person = Person(Audience("eu", None), PersonState())
    allowed = asyncio.run(stage.allowed(asking(), person, ranked, catalog))
    assert allowed.items[:3] == ["i1", "i5", "i4"]  # the model's, then popular in the region
    assert allowed.fallback == "none" and allowed.sources["i5"] == ("popular",)
    assert {r.name: r.removed for r in allowed.reports}["unavailable"] >= 1
    none_left = asking(filters=Filters(category=["b"]))
    only_b = asyncio.run(stage.allowed(none_left, person, ranked, catalog))
    assert only_b.fallback == "popular" and set(only_b.items) <= {"i3", "i4", "i5"}


def test_a_kept_answer_serves_only_the_version_it_was_made_for() -> None:
    reuse = Reuse(answer_entries=10)
    asked = asking()
    kept, _ = reuse.ask(asked)
    assert kept is None and asked.caching
    decision = Decision("d-1", (), "default", "fake:1", "control", "none", 0.1, None)
    reuse.answers.put(asked.key, (2, decision))
    again = asking()
    kept, _ = reuse.ask(again)
    again.version = 2
    assert reuse.answer(again, kept) is decision
    again.version = 3
    assert reuse.answer(again, kept) is None
