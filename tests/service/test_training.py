"""Training on a real engine (SQLite files): the ranker learns point-in-time, a brand-new
item reaches people through the content model, and the registry serves what was trained."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from relevo.config import interaction_weights
from relevo.domain.events import IngestMode
from relevo.domain.model_records import Failed
from relevo.models.base import ItemFeatures, People
from relevo.models.holdouts import held_rows
from relevo.models.hybrid import Snapshot, candidate_features
from relevo.models.interactions import Interactions
from relevo.models.kinds import MODEL_CLASSES
from relevo.models.session import SessionModel
from relevo.training.data import TrainingData, from_log
from relevo.training.fitting import fit_models
from relevo.training.names import HYBRID_BASES
from relevo.training.selection import tuned_and_selected
from tests.conftest import iso, now
from tests.unit.test_models import DAY, taste_data


def test_ranker_features_use_nothing_from_after_the_cutoff() -> None:
    data, items = taste_data(80)
    cutoff = int(np.quantile(data.times, 0.7))
    bases = {name: fit.model for name, fit in fit_models(HYBRID_BASES, data, items).every().items()}
    original = Snapshot.at(bases, data, items, data.times >= cutoff, cutoff)
    # The future changes (more rows for the same people and items after the cut-off); the
    # features of the examples must not move, while the labels may.
    later = [
        (str(data.person_ids[p]), str(data.item_ids[i]), 5.0, cutoff + (k + 1) * DAY, None)
        for k, (p, i) in enumerate(zip(data.people[:40], data.items[::-1][:40], strict=True))
    ]
    rows = [
        (str(data.person_ids[p]), str(data.item_ids[i]), float(w), int(t), None)
        for p, i, w, t in zip(data.people, data.items, data.weights, data.times, strict=True)
    ]
    changed_data = Interactions.from_rows(
        rows + later, item_ids=data.item_ids.tolist(), regions=_regions(data)
    )
    assert changed_data.person_ids.tolist() == data.person_ids.tolist()
    changed = Snapshot.at(bases, changed_data, items, changed_data.times >= cutoff, cutoff)
    past = data.select(data.times < cutoff)
    past_only = Snapshot.at(bases, past, items, past.times >= cutoff, cutoff)
    assert not np.array_equal(original.new.toarray(), changed.new.toarray())
    assert np.array_equal(past_only.eligible, np.empty(0, dtype=np.int64))  # no future: no labels
    both = np.intersect1d(original.eligible, changed.eligible)
    assert len(both) > 5
    features = _features(original, both)
    np.testing.assert_array_equal(features, _features(changed, both))
    np.testing.assert_array_equal(features, _features(past_only, both))
    x, y, groups = original.examples(both, per_source=5)
    assert x.shape[1] == features.shape[1] and len(y) == groups.sum() and y.any()


@pytest.mark.parametrize("holdout", ["random", "latest"])
def test_ranker_features_use_nothing_of_each_persons_held_rows(holdout: str) -> None:
    """Per-person holdouts: whatever the held rows hold, the examples' features are the same
    (they come from the other rows alone); only the labels follow the held rows."""
    data, items = taste_data(80)
    bases = {name: fit.model for name, fit in fit_models(HYBRID_BASES, data, items).every().items()}
    held, at, _ = held_rows(data, holdout, 0.3, seed=5)
    counts = np.bincount(data.people, minlength=data.n_people)
    assert (np.bincount(data.people[held], minlength=data.n_people)[counts >= 2] >= 1).all()
    original = Snapshot.at(bases, data, items, held, at)
    shifted = data.items.copy()  # every held row now likes another item
    shifted[held] = (shifted[held] + 7) % data.n_items
    changed_data = Interactions(
        data.people, shifted, data.weights, data.times, data.sessions, data.person_ids,
        data.item_ids, data.person_regions,
    )  # fmt: skip
    changed = Snapshot.at(bases, changed_data, items, held, at)
    assert not np.array_equal(original.new.toarray(), changed.new.toarray())
    both = np.intersect1d(original.eligible, changed.eligible)
    assert len(both) > 5
    np.testing.assert_array_equal(_features(original, both), _features(changed, both))


def _features(snapshot: Snapshot, people: np.ndarray) -> np.ndarray:
    """Every candidate's features for these people, whatever their labels."""
    _, _, x = candidate_features(
        snapshot.bases, People.of(snapshot.past, people), snapshot.facts, 5
    )
    return x


def _regions(data: Interactions) -> dict[str, str]:
    return dict(zip(data.person_ids.tolist(), data.person_regions.tolist(), strict=True))


def _purchase(event_id: str, user: str, item: str, days_ago: float) -> dict:
    return {
        "event_id": event_id,
        "type": "purchase",
        "occurred_at": iso(now() - timedelta(days=days_ago)),
        "user_id": user,
        "item_id": item,
    }


def test_an_item_added_a_second_ago_reaches_people_who_like_its_kind(relevo, tenant) -> None:
    books = [f"book-{i}" for i in range(6)]
    tools = [f"tool-{i}" for i in range(6)]
    catalog = [
        {"item_id": b, "title": f"mystery novel paperback {b}", "category": "books"} for b in books
    ]
    catalog += [
        {"item_id": t, "title": f"steel hammer wrench {t}", "category": "tools"} for t in tools
    ]
    relevo.catalog.upsert(tenant, catalog)
    events = []
    for person in range(20):
        group = books if person % 2 else tools
        for j, item in enumerate(group[: 3 + person % 3]):
            events.append(_purchase(f"e{person}-{j}", f"u{person}", item, 10 - j))
    assert {r.status for r in relevo.ingest.ingest(tenant, events, mode=IngestMode.BACKFILL)} == {
        "accepted"
    }
    relevo.catalog.upsert(
        tenant, [{"item_id": "book-new", "title": "mystery novel hardback", "category": "books"}]
    )
    data = from_log(relevo.storage, tenant, interaction_weights(relevo.settings, tenant.tenant_id))
    relevo.training.train(tenant, data, ["content"])
    _, model = relevo.model_loader.load(tenant, "content")
    answer = relevo.training.recommend_batch(tenant, model, data, ["u1", "u2"], k=3)
    top = {user: [item for u, item, _, _ in answer.rows if u == user] for user in ("u1", "u2")}
    assert "book-new" in top["u1"]  # a reader of mysteries
    assert "book-new" not in top["u2"]  # a buyer of tools
    assert not answer.unknown


def test_training_registers_lineage_and_a_hybrid_that_loads_with_its_bases(relevo, tenant) -> None:
    data, items = taste_data(300)
    source = TrainingData(data, items, "test data", len(data), 0, None, None)
    result = relevo.training.train(tenant, source, ["hybrid"])
    assert result.failed == []
    records = {t.record.name: t.record for t in result.trained}
    assert set(records) == {*HYBRID_BASES, "hybrid"}
    hybrid = records["hybrid"]
    assert hybrid.lineage["bases"] == {name: 1 for name in HYBRID_BASES}
    assert hybrid.event_count == len(data) and hybrid.checksum and hybrid.train_seconds > 0
    assert "ndcg@10" in hybrid.metrics and "ndcg@10" in records["ease"].metrics
    _, loaded = relevo.model_loader.load(tenant, "hybrid")
    assert set(loaded.bases) == set(HYBRID_BASES)
    _, itemknn = relevo.model_loader.load(tenant, "itemknn")
    assert loaded.bases["itemknn"] is itemknn  # one copy of a base in memory, not two
    assert relevo.model_loader.load(tenant, "hybrid")[1] is loaded
    answer = relevo.training.recommend_batch(
        tenant, loaded, source, ["u0", "u1", "nobody"], k=3, pseudonymous=False
    )
    ranks = [(u, r) for u, _, r, _ in answer.rows]
    assert ranks == [("u0", 1), ("u0", 2), ("u0", 3), ("u1", 1), ("u1", 2), ("u1", 3)]
    assert answer.unknown == ["nobody"]


def _year_old_tastes(people: int = 40) -> list[dict]:
    """Purchases a year old: each person buys within one kind of item, a week apart."""
    kinds = {0: [f"book-{i}" for i in range(6)], 1: [f"tool-{i}" for i in range(6)]}
    return [
        _purchase(f"e{p}-{j}", f"u{p}", kinds[p % 2][(p + j) % 6], 400 - p - 7 * j)
        for p in range(people)
        for j in range(4)
    ]


def test_a_person_whose_only_event_is_after_the_cutoff_leaves_every_model_trainable(
    relevo, tenant
) -> None:
    # A year of history then one event dated now, of a newcomer: cut by time span, the whole
    # history fell before the cut-off and only the newcomer after it, and the hybrid crashed.
    events = [*_year_old_tastes(), _purchase("fresh", "newcomer", "book-0", 0)]
    relevo.ingest.ingest(tenant, events, mode=IngestMode.BACKFILL)
    data = from_log(relevo.storage, tenant, interaction_weights(relevo.settings, tenant.tenant_id))
    result = relevo.training.train(tenant, data, ["hybrid"])
    assert result.failed == []
    assert {t.record.name for t in result.trained} == {*HYBRID_BASES, "hybrid"}
    hybrid = next(t.record for t in result.trained if t.record.name == "hybrid")
    assert "ndcg@10" in hybrid.metrics
    assert relevo.registry.promoted(tenant, "hybrid") is not None


class Broken(SessionModel):
    """A base whose fit fails, as any model's may (a bug, memory, a library's refusal)."""

    def fit(self, data: Interactions, items: ItemFeatures) -> None:
        raise RuntimeError("out of memory")


def test_a_model_that_fails_is_reported_and_the_others_register(
    relevo, tenant, monkeypatch
) -> None:
    monkeypatch.setitem(MODEL_CLASSES, "session", Broken)
    data, items = taste_data(80)
    source = TrainingData(data, items, "test data", len(data), 0, None, None)
    result = relevo.training.train(tenant, source, ["popularity", "session", "hybrid"])
    assert result.failed == [
        Failed("session", "RuntimeError: out of memory"),
        Failed("hybrid", "its base session could not be trained"),
    ]
    registered = {t.record.name for t in result.trained}
    assert registered == set(HYBRID_BASES) - {"session"}
    for name in registered:
        assert relevo.registry.promoted(tenant, name) is not None
    assert relevo.registry.promoted(tenant, "session") is None
    assert relevo.registry.promoted(tenant, "hybrid") is None


@pytest.mark.filterwarnings("error")
def test_an_item_priced_beyond_float32_trains_without_a_warning(relevo, tenant) -> None:
    relevo.catalog.upsert(
        tenant,
        [{"item_id": "yacht", "title": "a yacht", "price": 1e308}, {"item_id": "mug", "price": 4}],
    )
    events = [_purchase(f"e{p}", f"u{p}", ("yacht", "mug")[p % 2], p) for p in range(6)]
    relevo.ingest.ingest(tenant, events, mode=IngestMode.BACKFILL)
    data = from_log(relevo.storage, tenant, interaction_weights(relevo.settings, tenant.tenant_id))
    prices = dict(zip(data.interactions.item_ids, data.items.prices, strict=True))
    assert prices["yacht"] == np.finfo(np.float32).max and prices["mug"] == 4
    result = relevo.training.train(tenant, data, ["popularity", "content"])
    assert result.failed == [] and len(result.trained) == 2


def _groups_data(people: int = 240, groups: int = 6, per_group: int = 10, seed: int = 4):
    """Each person likes a handful of items of one group, a day apart: item-to-item structure
    that EASE finds, over a catalog large enough for a blind ranking to miss it."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(people):
        group = p % groups
        chosen = rng.permutation(per_group)[: rng.integers(4, 8)]
        rows += [
            (f"u:u{p}", f"g{group}-{i}", 1.0, (p * 3 + step) * DAY, None)
            for step, i in enumerate(chosen)
        ]
    data = Interactions.from_rows(rows)
    return TrainingData(data, ItemFeatures.empty(data.n_items), "groups", len(data), 0, None, None)


BLIND_RANKER = {"hybrid": {"trees": 1, "leaves": 2, "min_leaf": 1_000_000}}
"""A ranker that cannot split (no leaf may hold fewer examples than the data has): it orders
its candidates blindly, so it loses to its own bases."""


def test_selection_chooses_a_base_when_the_ranker_loses() -> None:
    data = _groups_data()
    names = ["popularity", "ease", "hybrid"]
    chosen = tuned_and_selected(data.interactions, data.items, names, "random", BLIND_RANKER)
    ndcg = {name: found["ndcg@10"] for name, found in chosen.metrics.items()}
    assert set(ndcg) == {"hybrid", *HYBRID_BASES}  # the hybrid's bases contend too
    assert chosen.winner == max(ndcg, key=ndcg.get) != "hybrid"
    assert ndcg[chosen.winner] > ndcg["hybrid"] and ndcg["ease"] > ndcg["hybrid"]
    assert "90%" in chosen.description and chosen.protocol == "random"  # per person
    assert set(chosen.tuned) == {"popularity", "ease", "itemknn"}  # the bases with a grid


def test_auto_registers_the_choice_and_loads_as_the_chosen_version(relevo, tenant) -> None:
    data = _groups_data()
    names = ["popularity", "ease", "hybrid", "auto"]
    result = relevo.training.train(tenant, data, names, params=BLIND_RANKER)
    assert result.failed == []
    records = {t.record.name: t.record for t in result.trained}
    auto = records["auto"]
    contenders = auto.lineage["contenders"]
    assert set(contenders) == {"ease", "hybrid", *HYBRID_BASES}  # every model of the run
    best = max(contenders, key=lambda name: contenders[name]["ndcg@10"])
    assert best != "hybrid" and contenders[best]["ndcg@10"] > contenders["hybrid"]["ndcg@10"]
    assert auto.kind == "selection" and auto.lineage["selected"] == {best: records[best].version}
    assert auto.metrics == contenders[best] and auto.params["protocol"] == "temporal"
    tuned = auto.params["tuned"]  # what every model of the run was then fitted with
    assert records["ease"].params["l2"] == tuned["ease"]["l2"]
    assert records["popularity"].params["half_life_days"] == tuned["popularity"]["half_life_days"]
    record, model = relevo.model_loader.load(tenant, "auto")
    assert (record.name, record.version, model.kind) == (best, records[best].version, best)


def test_a_choice_that_cannot_be_made_is_reported_and_the_models_still_register(
    relevo, tenant
) -> None:
    """Every event at one moment: the validation part's cut-off leaves nobody a history, so
    nothing can be measured; ``auto`` fails with that reason and the models are kept."""
    rows = [(f"u:u{p}", f"i{(p + j) % 5}", 1.0, DAY, None) for p in range(10) for j in range(3)]
    data = Interactions.from_rows(rows)
    source = TrainingData(
        data, ItemFeatures.empty(data.n_items), "one moment", len(data), 0, None, None
    )
    result = relevo.training.train(tenant, source, ["popularity", "auto"])
    assert [t.record.name for t in result.trained] == ["popularity"]
    (failure,) = result.failed
    assert failure.name == "auto" and "leaves nobody to measure" in failure.reason
