"""Every model keeps the one interface: fit, score (all items or candidates), explain, and
an artifact of safe files that loads back into the same scores."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from relevo.decide.promoted import ServingModel
from relevo.decide.ranking import rankings
from relevo.domain.items import Item
from relevo.domain.model_records import CannotTrain
from relevo.models.base import Artifact, ItemFeatures, People
from relevo.models.content import ContentModel
from relevo.models.holdouts import cutoff_of_latest
from relevo.models.hybrid import HybridModel
from relevo.models.interactions import Interactions
from relevo.models.kinds import BASE_MODELS
from relevo.models.neighbors import EaseModel, ItemKnnModel
from relevo.models.popularity import PopularityModel, TrendingModel
from relevo.models.session import SessionModel
from relevo.training.fitting import fit_models

DAY = 86_400 * 1_000_000
GROUPS = {
    "garden": ["rake", "hose", "spade", "gloves"],
    "kitchen": ["pan", "knife", "whisk", "pot"],
}


def taste_data(people: int = 60, seed: int = 3) -> tuple[Interactions, ItemFeatures]:
    """People (keyed as in the log: ``u:`` and their id) who like one group of items each,
    buying most of it over a few sessions."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(people):
        group = list(GROUPS)[p % 2]
        chosen = rng.permutation(GROUPS[group])[: rng.integers(2, 5)]
        for step, item in enumerate(chosen):
            rows.append((f"u:u{p}", item, 5.0, (p + step * 7) * DAY, f"s{p}-{step // 2}"))
    catalog = {
        item: Item(item, title=f"{item} for the {group}", category=group)
        for group, items in GROUPS.items()
        for item in items
    }
    regions = {f"u:u{p}": ("eu", "us")[p % 3 == 0] for p in range(people)}
    data = Interactions.from_rows(rows, item_ids=catalog, regions=regions)
    return data, ItemFeatures.build(list(data.item_ids), catalog)


@pytest.fixture(scope="module")
def fitted():
    data, items = taste_data()
    return data, fit_models([*BASE_MODELS, "hybrid"], data, items).every()


@pytest.mark.parametrize("name", [*BASE_MODELS, "hybrid"])
def test_scores_candidates_explains_and_round_trips(fitted, name) -> None:
    data, models = fitted
    model = models[name].model
    people = People.of(data, np.arange(6))
    scores = model.score(people)
    assert scores.shape == (6, data.n_items)
    candidates = np.array([5, 0, 3])
    if name == "hybrid":  # ranks exactly the candidates given (its features are relative to them)
        assert np.isfinite(model.score(people, candidates)).all()
    else:
        np.testing.assert_allclose(
            model.score(people, candidates), scores[:, candidates], rtol=1e-4, atol=1e-6
        )
    files = model.save().to_files()
    assert not any(name.endswith((".pkl", ".pickle")) for name in files)
    loaded = type(model).load(Artifact.from_files(files))
    if name == "hybrid":
        loaded.bases = model.bases
    np.testing.assert_allclose(loaded.score(people), scores, rtol=1e-4, atol=1e-6)
    best = int(np.argmax(np.where(np.isfinite(scores[0]), scores[0], -1e9)))
    contributions = model.explain(people, 0, best)
    assert contributions and all(c.name for c in contributions)


def test_a_hybrid_ranking_keeps_each_set_of_sources_once(fitted) -> None:
    """A cached ranking held a tuple of sources per item, a third of its size (issue 17's soak);
    items proposed by the same sources share one."""
    data, models = fitted
    record = SimpleNamespace(name="hybrid", version=1)
    index = {str(item): n for n, item in enumerate(data.item_ids)}
    served = ServingModel(record, models["hybrid"].model, index)  # type: ignore[arg-type]
    sources = list(rankings(served, People.of(data, np.arange(1)))[0].sources.values())
    assert len(sources) > len(set(sources))  # items that share their sources
    assert len({id(found) for found in sources}) == len(set(sources))


@pytest.mark.parametrize(
    "model",
    [
        ItemKnnModel(),
        EaseModel(),
        SessionModel(),
        ContentModel(),
    ],
    ids=lambda m: m.kind,
)
def test_personal_models_recommend_the_persons_own_group(model) -> None:
    data, items = taste_data()
    model.fit(data, items)
    garden = {data.item_ids.tolist().index(i) for i in GROUPS["garden"]}
    person = data.person_ids.tolist().index("u:u0")  # a garden person
    people = People.of(data, np.array([person]))
    scores = model.score(people)[0]
    scores[people.history.indices] = -np.inf
    assert int(np.argmax(scores)) in garden


def test_personal_explanations_name_the_history_items(fitted) -> None:
    data, models = fitted
    person = data.person_ids.tolist().index("u:u0")
    people = People.of(data, np.array([person]))
    owned = {str(data.item_ids[i]) for i in people.history.indices}
    for name in ("itemknn", "ease", "als", "content"):
        named = {c.name for c in models[name].model.explain(people, 0, 0)}
        assert named <= owned, name


def test_ease_matches_the_closed_form() -> None:
    data, items = taste_data(20)
    model = EaseModel(l2=10.0, min_count=1, keep=1000)
    model.fit(data, items)
    x = data.positives().toarray()
    inverse = np.linalg.inv(x.T @ x + 10.0 * np.eye(data.n_items))
    expected = inverse / -np.diag(inverse)
    np.fill_diagonal(expected, 0)
    np.testing.assert_allclose(model.weights.toarray(), expected, atol=1e-5)


def test_ease_with_no_item_liked_often_enough_scores_nothing_and_fails_nothing() -> None:
    data, items = taste_data(20)
    model = EaseModel(min_count=10_000)
    model.fit(data, items)
    assert model.weights.shape == (data.n_items, data.n_items) and model.weights.nnz == 0
    assert not model.score(People.of(data, np.arange(3))).any()


def test_content_scores_are_the_same_in_spans_of_people(monkeypatch) -> None:
    data, items = taste_data(30)
    model = ContentModel()
    model.fit(data, items)
    people = People.of(data, np.arange(data.n_people))
    expected = (model.profiles(people) @ model.vectors.T).toarray()
    vocabulary = model.vectors.shape[1]
    monkeypatch.setattr("relevo.models.base.SCORES_AT_ONCE", 2 * vocabulary)  # 2 people a span
    np.testing.assert_allclose(model.score(people), expected, rtol=1e-5, atol=1e-6)


def test_item_knn_neighbours_are_bought_together() -> None:
    data, items = taste_data()
    model = ItemKnnModel(neighbors=3)
    model.fit(data, items)
    rake = data.item_ids.tolist().index("rake")
    neighbours, _ = model.similar(rake, 3)
    assert {str(data.item_ids[i]) for i in neighbours} <= set(GROUPS["garden"])


def test_negative_feedback_cancels_an_interaction() -> None:
    data = Interactions.from_rows(
        [("u", "a", 5.0, 1, None), ("u", "a", -5.0, 2, None), ("u", "b", 1.0, 3, None)]
    )
    assert data.matrix().toarray().tolist() == [[0.0, 1.0]]


def test_popularity_decays_and_knows_regions() -> None:
    rows = [("u1", "old", 5.0, 0, None), ("u2", "new", 5.0, 60 * DAY, None)]
    rows += [("u3", "eu-hit", 1.0, 60 * DAY, None), ("u4", "eu-hit", 1.0, 60 * DAY, None)]
    data = Interactions.from_rows(rows, regions={"u3": "eu", "u4": "eu", "u1": "us", "u2": "us"})
    model = PopularityModel(half_life_days=10)
    model.fit(data, ItemFeatures.empty(data.n_items))
    ids = data.item_ids.tolist()
    world = model.vector(None)
    assert world[ids.index("new")] > world[ids.index("old")] * 10  # six half-lives apart
    assert [ids[i] for i in model.top(1, region="eu")] == ["eu-hit"]
    assert [ids[i] for i in model.top(1, region="us")] == ["new"]


def test_trending_favours_a_recent_rise_over_steady_sales() -> None:
    rows = [(f"s{d}", "steady", 1.0, d * DAY, None) for d in range(60)]
    rows += [(f"r{i}", "rising", 1.0, 59 * DAY, None) for i in range(5)]
    data = Interactions.from_rows(rows)
    model = TrendingModel()
    model.fit(data, ItemFeatures.empty(data.n_items))
    ids = data.item_ids.tolist()
    assert model.overall[ids.index("rising")] > model.overall[ids.index("steady")]


def test_the_hybrid_cuts_by_events_and_refuses_data_with_nothing_to_learn() -> None:
    data, _ = taste_data(60)
    late = Interactions.from_rows(
        [*_rows(data), ("u:newcomer", "rake", 5.0, int(data.times.max()) + 3650 * DAY, None)]
    )
    # A newcomer ten years on does not move the cut-off past the whole history: the last
    # tenth of the events still falls after it.
    cut = cutoff_of_latest(late, 0.1)
    assert data.times.min() < cut <= data.times.max()
    assert (late.times >= cut).sum() == pytest.approx(0.1 * len(late), abs=3)
    alone = Interactions.from_rows(
        [(f"u:u{p}", "rake", 5.0, p * DAY, None) for p in range(20)]
    )  # each person's one event: nobody has a past and something new after it
    hybrid = HybridModel({"popularity": PopularityModel()})
    with pytest.raises(CannotTrain, match="nothing to learn from"):
        hybrid.fit(alone, ItemFeatures.empty(alone.n_items))


def _rows(data: Interactions) -> list[tuple]:
    return [
        (str(data.person_ids[p]), str(data.item_ids[i]), float(w), int(t), None)
        for p, i, w, t in zip(data.people, data.items, data.weights, data.times, strict=True)
    ]


def test_ease_models_only_its_most_liked_items_and_scores_the_others_zero() -> None:
    """The dense Gram matrix grows with the square of the items modelled: ``max_items`` bounds
    it to the most liked, and the rest get no weights (the other models serve them)."""
    data, items = taste_data(60)
    liked = np.diff(data.positives().tocsc().indptr)
    model = EaseModel(max_items=3)
    model.fit(data, items)
    most = set(np.argsort(-liked, kind="stable")[:3].tolist())
    rows, columns = model.weights.nonzero()
    assert set(rows.tolist()) | set(columns.tolist()) <= most and len(rows) > 0
    scores = model.score(People.of(data, np.arange(10)))
    assert scores.shape == (10, data.n_items)
    assert not scores[:, sorted(set(range(data.n_items)) - most)].any()
