"""Evaluation splits (what goes where, who is measured on what) and the top-k ranking step."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from relevo.models.interactions import Interactions
from relevo.models.topk import top_k
from relevo.training.splits import Split, leave_last_out, random_split, temporal_split

DAY = 86_400_000_000


def data_of(*rows: tuple[str, str, float, float]) -> Interactions:
    """(person, item, weight, day) rows; the catalog also holds "z", which nobody touched."""
    return Interactions.from_rows(
        [(person, item, weight, int(day * DAY), None) for person, item, weight, day in rows],
        item_ids=["z"],
    )


def rows_of(data: Interactions) -> set[tuple[str, str, int]]:
    return {
        (data.person_ids[p], data.item_ids[i], int(t))
        for p, i, t in zip(data.people, data.items, data.times, strict=True)
    }


def train_rows(split: Split) -> set[tuple[str, str, int]]:
    return rows_of(split.train)


def relevant_of(split: Split) -> dict[str, list[str]]:
    ids = split.train
    return {
        ids.person_ids[person]: sorted(ids.item_ids[items].tolist())
        for person, items in zip(split.people, split.relevant, strict=True)
    }


# --- random_split ---

MANY = data_of(
    *[("u", f"i{n}", 1.0, n) for n in range(8)],  # 8 rows: floor(0.75 * 8) = 6 to train
    ("v", "i0", 1.0, 10),  # 2 rows: floor(0.75 * 2) = 1 to train
    ("v", "i1", 1.0, 11),
    ("w", "i2", 1.0, 12),  # 1 row: floor(0.75 * 1) = 0 to train, so w has no history
)


def test_random_split_takes_the_share_of_each_person() -> None:
    split = random_split(MANY, ratio=0.75, seed=3)
    per_person = np.bincount(split.train.people, minlength=MANY.n_people)
    assert dict(zip(MANY.person_ids, per_person.tolist(), strict=True)) == {"u": 6, "v": 1, "w": 0}
    assert train_rows(split) <= rows_of(MANY)
    # each person's test rows are their other items, none seen in train; w is not measured
    relevant = relevant_of(split)
    assert sorted(relevant) == ["u", "v"]
    trained = {(person, item) for person, item, _ in train_rows(split)}
    assert len(relevant["u"]) == 2 and len(relevant["v"]) == 1
    assert not any(
        (person, item) in trained for person, items in relevant.items() for item in items
    )
    assert (split.protocol, split.train.n_items) == ("random", MANY.n_items)
    assert "75%" in split.description and "seed 3" in split.description


def test_random_split_keeps_one_train_row_for_people_with_two() -> None:
    split = random_split(MANY, ratio=0.1, seed=0)
    per_person = np.bincount(split.train.people, minlength=MANY.n_people)
    # u: max(1, floor(0.8)), v: max(1, floor(0.2)), w: floor(0.1)
    assert per_person.tolist() == [1, 1, 0]


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(1, 40), min_size=1, max_size=12),
    ratio=st.floats(0.01, 0.99),
    seed=st.integers(0, 1_000),
)
def test_random_split_keeps_every_person_with_two_rows_on_both_sides(
    counts: list[int], ratio: float, seed: int
) -> None:
    """Stratified per person, as Microsoft Recommenders' ``python_stratified_split``: each
    person's rows split at the ratio, so nobody with two rows or more is all train or all test."""
    data = data_of(
        *[(f"p{p}", f"i{n}", 1.0, n) for p, count in enumerate(counts) for n in range(count)]
    )
    split = random_split(data, ratio=ratio, seed=seed)
    train = np.bincount(split.train.people, minlength=data.n_people)
    total = np.bincount(data.people, minlength=data.n_people)
    many = total >= 2
    assert (train[many] >= 1).all() and (train[many] < total[many]).all()
    assert (train == np.maximum(np.floor(ratio * total), many)).all()


def test_random_split_is_reproducible_and_depends_on_the_seed() -> None:
    first = train_rows(random_split(MANY, seed=7))
    assert train_rows(random_split(MANY, seed=7)) == first
    assert any(train_rows(random_split(MANY, seed=seed)) != first for seed in range(8))


def test_random_split_rejects_a_ratio_outside_zero_one() -> None:
    for ratio in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="ratio"):
            random_split(MANY, ratio=ratio)


# --- temporal_split ---

TIMELINE = data_of(
    ("u", "a", 1.0, 0),
    ("u", "b", 1.0, 5),
    ("u", "a", 5.0, 9),  # bought again after the cut: seen in train, so not relevant
    ("u", "c", 1.0, 10),  # c: relevant to u
    ("v", "b", 1.0, 1),
    ("v", "d", 1.0, 8),  # exactly at the ratio cut (0.8 of 10 days): test
    ("v", "e", 1.0, 9.5),  # viewed, then returned: net -4, not relevant
    ("v", "e", -5.0, 9.6),
    ("x", "c", 1.0, 9),  # only after the cut: no history, not measured
    ("y", "a", 1.0, 2),  # a dismissed item is no history: net 1 - 2 < 0
    ("y", "a", -2.0, 3),
    ("y", "f", 1.0, 9.9),  # f appears only in the test rows
)


def test_temporal_split_by_ratio_cuts_the_time_span() -> None:
    split = temporal_split(TIMELINE)  # default: the first 0.8 of days 0..10 to train
    assert {(person, item) for person, item, _ in train_rows(split)} == {
        ("u", "a"),
        ("u", "b"),
        ("v", "b"),
        ("y", "a"),
    }
    assert relevant_of(split) == {"u": ["c"], "v": ["d"]}
    assert split.train.n_items == TIMELINE.n_items and "f" in split.train.item_ids
    assert split.protocol == "temporal"
    assert "1970-01-09T00:00:00+00:00" in split.description  # day 8
    # a later cut (0.95: day 9.5) moves d to train, and v has nothing new left
    assert relevant_of(temporal_split(TIMELINE, ratio=0.95)) == {"u": ["c"]}


def test_temporal_split_by_days_counts_back_from_the_newest_row() -> None:
    # the newest row is day 10, so the last 1.5 days start at day 8.5
    split = temporal_split(TIMELINE, test_days=1.5)
    assert max(t for _, _, t in train_rows(split)) == 8 * DAY
    assert relevant_of(split) == {"u": ["c"]}  # d (day 8) is in train now
    assert "1.5 days" in split.description


def test_temporal_split_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="not both"):
        temporal_split(TIMELINE, test_days=1, ratio=0.5)
    with pytest.raises(ValueError, match="positive"):
        temporal_split(TIMELINE, test_days=0)
    with pytest.raises(ValueError, match="ratio"):
        temporal_split(TIMELINE, ratio=1.0)
    with pytest.raises(ValueError, match="no interactions"):
        temporal_split(Interactions.from_rows([]))


# --- leave_last_out ---


def test_leave_last_out_tests_each_persons_last_row() -> None:
    data = data_of(
        ("u", "a", 1.0, 1),
        ("u", "b", 1.0, 3),  # u's last row
        ("v", "a", 1.0, 2),
        ("v", "c", 1.0, 4),  # same time: the later row is the last
        ("v", "d", 1.0, 4),
        ("w", "c", 1.0, 5),  # one row: stays in train, not measured
        ("x", "a", 1.0, 1),
        ("x", "a", 1.0, 6),  # x's last row repeats an item: nothing relevant
    )
    split = leave_last_out(data)
    assert {(person, item) for person, item, _ in train_rows(split)} == {
        ("u", "a"),
        ("v", "a"),
        ("v", "c"),
        ("w", "c"),
        ("x", "a"),
    }
    assert len(split.train) == len(data) - 3
    assert relevant_of(split) == {"u": ["b"], "v": ["d"]}
    assert split.protocol == "leave_last_out"


def test_leave_last_out_orders_by_time_even_when_rows_are_not_sorted() -> None:
    sorted_data = data_of(("u", "a", 1.0, 1), ("u", "b", 1.0, 2))
    backwards = sorted_data.select(np.array([1, 0]))
    assert relevant_of(leave_last_out(backwards)) == {"u": ["b"]}


def test_leave_last_out_of_nothing_is_empty() -> None:
    split = leave_last_out(Interactions.from_rows([]))
    assert (len(split.train), len(split.people), split.relevant) == (0, 0, [])


# --- top_k ---


def reference_top_k(scores: np.ndarray, k: int, exclude: np.ndarray) -> np.ndarray:
    """Sort every allowed item by (score descending, index), the slow and obvious way."""
    rows = []
    for row, banned in zip(scores, exclude, strict=True):
        allowed = [i for i in range(len(row)) if not banned[i]]
        best = sorted(allowed, key=lambda i: (-row[i], i))[:k]
        rows.append(best + [-1] * (k - len(best)))
    return np.array(rows, dtype=np.int64).reshape(len(scores), k)


@pytest.mark.parametrize("seed", range(30))
def test_top_k_matches_a_full_sort_with_ties_and_exclusions(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_people, n_items, k = (
        int(rng.integers(1, 12)),
        int(rng.integers(1, 40)),
        int(rng.integers(1, 50)),
    )
    # few distinct values, so that ties straddle the k-th place
    scores = rng.integers(0, int(rng.integers(1, 5)), (n_people, n_items)).astype(np.float32)
    banned = rng.random((n_people, n_items)) < rng.uniform(0, 0.9)
    ranked = top_k(scores, k, exclude=sp.csr_matrix(banned))
    assert ranked.shape == (n_people, k) and ranked.dtype == np.int64
    np.testing.assert_array_equal(ranked, reference_top_k(scores, k, banned))


def test_top_k_breaks_ties_by_the_lower_index() -> None:
    scores = np.array([[1.0, 2.0, 2.0, 2.0, 0.0, 2.0], [0.0] * 6])
    assert top_k(scores, 2).tolist() == [[1, 2], [0, 1]]
    assert top_k(scores, 5).tolist() == [[1, 2, 3, 5, 0], [0, 1, 2, 3, 4]]


def test_top_k_excludes_and_pads() -> None:
    scores = np.array([[0.9, 0.8, 0.7], [0.1, 0.2, 0.3]])
    exclude = sp.csr_matrix(np.array([[1, 0, 1], [0, 0, 0]]))
    assert top_k(scores, 2, exclude).tolist() == [[1, -1], [2, 1]]
    assert top_k(scores, 5).tolist() == [[0, 1, 2, -1, -1], [2, 1, 0, -1, -1]]  # k > items
    assert top_k(scores, 0).shape == (2, 0)
    with pytest.raises(ValueError, match="negative"):
        top_k(scores, -1)


def test_top_k_ignores_explicit_zeros_and_never_returns_minus_infinity() -> None:
    stored_zero = sp.csr_matrix((np.array([0.0]), (np.array([0]), np.array([0]))), shape=(1, 3))
    assert stored_zero.nnz == 1
    assert top_k(np.array([[3.0, 2.0, 1.0]]), 3, stored_zero).tolist() == [[0, 1, 2]]
    assert top_k(np.array([[3.0, -np.inf, 1.0]]), 3).tolist() == [[0, 2, -1]]


def test_top_k_of_one_person_and_of_integer_scores() -> None:
    scores = np.array([5, 1, 7, 3])
    assert top_k(scores, 2).tolist() == [2, 0]
    assert top_k(scores, 3, sp.csr_matrix([[0, 0, 1, 0]])).tolist() == [0, 3, 1]
    assert scores.tolist() == [5, 1, 7, 3]  # the caller's scores are left alone
