"""Ranking metrics: hand-computed cases, edge cases, and agreement with independent versions."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, ndcg_score

from relevo.models.ranking_metrics import (
    average_precision_at_k,
    catalog_coverage,
    evaluate_rankings,
    hit_rate_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    reciprocal_rank,
)
from relevo.models.topk import top_k

PER_LIST = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "ndcg": ndcg_at_k,
    "map": average_precision_at_k,
    "mrr": reciprocal_rank,
    "hitrate": hit_rate_at_k,
}


def all_metrics(ranked: Sequence[int], relevant: set[int], k: int) -> dict[str, float]:
    return {name: metric(ranked, relevant, k) for name, metric in PER_LIST.items()}


def reference(ranked: Sequence[int], relevant: set[int], k: int) -> dict[str, float]:
    """The definitions, one rank at a time, in plain Python."""
    hits = [item >= 0 and item in relevant for item in list(ranked)[:k]]
    dcg = sum(1 / math.log2(rank + 1) for rank, hit in enumerate(hits, 1) if hit)
    idcg = sum(1 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    precision_sum, found = 0.0, 0
    for rank, hit in enumerate(hits, 1):
        if hit:
            found += 1
            precision_sum += found / rank
    return {
        "precision": found / k,
        "recall": found / len(relevant),
        "ndcg": dcg / idcg,
        "map": precision_sum / min(len(relevant), k),
        "mrr": next((1 / rank for rank, hit in enumerate(hits, 1) if hit), 0.0),
        "hitrate": float(found > 0),
    }


def test_two_hits_in_five() -> None:
    # top 5 = [3, 1, 4, 2, 7], relevant {1, 2, 9}: hits at ranks 2 and 4
    got = all_metrics([3, 1, 4, 2, 7], {1, 2, 9}, k=5)
    assert got["precision"] == pytest.approx(2 / 5)
    assert got["recall"] == pytest.approx(2 / 3)
    # DCG = 1/log2(3) + 1/log2(5) = 0.63093 + 0.43068 = 1.06161
    # IDCG over min(3, 5) = 3 hits = 1 + 0.63093 + 0.5 = 2.13093; 1.06161 / 2.13093 = 0.49819
    assert got["ndcg"] == pytest.approx(0.49819, abs=1e-5)
    # AP = (precision@2 + precision@4) / min(3, 5) = (1/2 + 2/4) / 3 = 1/3
    assert got["map"] == pytest.approx(1 / 3)
    assert got["mrr"] == pytest.approx(1 / 2)  # first hit at rank 2
    assert got["hitrate"] == 1.0


def test_a_smaller_k_only_sees_the_top() -> None:
    # top 3 = [3, 1, 4]: one hit at rank 2
    got = all_metrics([3, 1, 4, 2, 7], {1, 2, 9}, k=3)
    assert got["precision"] == pytest.approx(1 / 3)
    assert got["recall"] == pytest.approx(1 / 3)
    # (1/log2 3) / (1 + 1/log2 3 + 1/log2 4) = 0.63093 / 2.13093 = 0.29608
    assert got["ndcg"] == pytest.approx(0.29608, abs=1e-5)
    assert got["map"] == pytest.approx((1 / 2) / 3)
    assert got["mrr"] == pytest.approx(1 / 2)


def test_no_hit_scores_zero_everywhere() -> None:
    assert all_metrics([3, 4, 5], {1, 2}, k=3) == dict.fromkeys(PER_LIST, 0.0)
    # the first hit at rank 4 is past k = 3
    assert all_metrics([3, 4, 5, 1], {1, 2}, k=3) == dict.fromkeys(PER_LIST, 0.0)


def test_a_perfect_list_scores_one() -> None:
    assert all_metrics([9, 2, 1], {1, 2, 9}, k=3) == pytest.approx(dict.fromkeys(PER_LIST, 1.0))


def test_more_relevant_items_than_slots() -> None:
    # two slots, both hits, four relevant items
    got = all_metrics([1, 2], {1, 2, 3, 4}, k=2)
    assert got["precision"] == 1.0
    assert got["recall"] == pytest.approx(2 / 4)  # recall is not capped at k
    assert got["ndcg"] == pytest.approx(1.0)  # the ideal list has min(4, 2) = 2 hits
    assert got["map"] == pytest.approx((1 / 1 + 2 / 2) / 2)  # over min(4, 2) = 2


def test_k_larger_than_the_list_counts_empty_slots_as_misses() -> None:
    # [5, 1] in k = 4 slots, relevant {1}: the hit at rank 2, slots 3 and 4 empty
    got = all_metrics([5, 1], {1}, k=4)
    assert got["precision"] == pytest.approx(1 / 4)
    assert got["recall"] == 1.0
    assert got["ndcg"] == pytest.approx(1 / math.log2(3))  # IDCG over min(1, 4) = 1 hit: 1
    assert got["map"] == pytest.approx(1 / 2)
    assert got["mrr"] == pytest.approx(1 / 2)


def test_minus_one_padding_is_an_empty_slot() -> None:
    assert all_metrics([5, 1, -1, -1], {1}, k=4) == all_metrics([5, 1], {1}, k=4)
    assert all_metrics([-1, -1], {1}, k=2) == dict.fromkeys(PER_LIST, 0.0)


def test_relevant_sets_may_be_any_collection_with_repeats() -> None:
    assert all_metrics([3, 1], np.array([1, 1, 2]), k=2) == all_metrics([3, 1], {1, 2}, k=2)


def test_a_person_with_nothing_relevant_is_not_measured() -> None:
    for metric in PER_LIST.values():
        with pytest.raises(ValueError, match="relevant"):
            metric([1, 2], set(), 2)
    ranked = np.array([[1, 2], [3, 4], [5, -1]])
    relevant = [np.array([2]), np.array([], dtype=np.int64), np.array([5, 6])]
    with_empty = evaluate_rankings(ranked, relevant, n_items=10, k=2)
    without = evaluate_rankings(ranked[[0, 2]], [relevant[0], relevant[2]], n_items=10, k=2)
    assert {name: value for name, value in with_empty.items() if "coverage" not in name} == {
        name: value for name, value in without.items() if "coverage" not in name
    }
    # their list was still shown: {1, 2, 3, 4, 5} of 10 against {1, 2, 5} of 10
    assert (with_empty["coverage@2"], without["coverage@2"]) == (0.5, 0.3)
    with pytest.raises(ValueError, match="nothing to measure"):
        evaluate_rankings(ranked, [np.array([], dtype=np.int64)] * 3, n_items=10, k=2)


def test_catalog_coverage() -> None:
    # {0, 2, 3} of 6 items; -1 is padding, 2 repeats
    assert catalog_coverage(np.array([[0, 2], [2, 3], [-1, -1]]), n_items=6) == 0.5
    assert catalog_coverage(np.full((2, 3), -1), n_items=6) == 0.0


def test_evaluate_rankings_averages_over_people() -> None:
    ranked = np.array([[3, 1, 4, 2], [0, 2, -1, -1]])
    relevant = [np.array([1, 2, 9]), np.array([0])]
    got = evaluate_rankings(ranked, relevant, n_items=10, k=3)
    assert list(got) == [
        "precision@3",
        "recall@3",
        "ndcg@3",
        "map@3",
        "mrr@3",
        "hitrate@3",
        "coverage@3",
    ]
    # person 0 (top 3 = [3, 1, 4]): precision 1/3, recall 1/3, nDCG 0.29608, AP 1/6, RR 1/2
    # person 1 (top 3 = [0, 2, -]): precision 1/3, recall 1, nDCG 1, AP 1, RR 1
    assert got == pytest.approx(
        {
            "precision@3": 1 / 3,
            "recall@3": (1 / 3 + 1) / 2,
            "ndcg@3": (0.29608 + 1) / 2,
            "map@3": (1 / 6 + 1) / 2,
            "mrr@3": (1 / 2 + 1) / 2,
            "hitrate@3": 1.0,
            "coverage@3": 5 / 10,  # {3, 1, 4, 0, 2}; item 2 in column 4 of row 0 is past k
        },
        abs=1e-5,
    )


def test_evaluate_rankings_rejects_mismatched_and_empty_cutoffs() -> None:
    with pytest.raises(ValueError, match="2 ranked lists for 1"):
        evaluate_rankings(np.array([[1], [2]]), [np.array([1])], n_items=3, k=1)
    with pytest.raises(ValueError, match="k must be at least 1"):
        precision_at_k([1], {1}, k=0)


@st.composite
def rankings(draw: st.DrawFn) -> tuple[np.ndarray, list[np.ndarray], int, int]:
    n_items = draw(st.integers(1, 15))
    width = draw(st.integers(0, 8))
    k = draw(st.integers(1, 8))
    items = st.integers(0, n_items - 1)
    ranked, relevant = [], []
    for _ in range(draw(st.integers(1, 6))):
        shown = draw(st.lists(items, max_size=width, unique=True))
        ranked.append(shown + [-1] * (width - len(shown)))
        relevant.append(np.array(draw(st.lists(items, min_size=1, max_size=6)), dtype=np.int64))
    return np.array(ranked, dtype=np.int64).reshape(len(ranked), width), relevant, n_items, k


@given(rankings())
def test_vectorized_metrics_match_a_plain_python_loop(
    case: tuple[np.ndarray, list[np.ndarray], int, int],
) -> None:
    ranked, relevant, n_items, k = case
    expected = [
        reference(row.tolist(), set(items.tolist()), k)
        for row, items in zip(ranked, relevant, strict=True)
    ]
    for row, items, want in zip(ranked, relevant, expected, strict=True):
        assert all_metrics(row, set(items.tolist()), k) == pytest.approx(want)
    got = evaluate_rankings(ranked, relevant, n_items, k)
    for name in PER_LIST:
        assert got[f"{name}@{k}"] == pytest.approx(np.mean([want[name] for want in expected]))
    shown = {item for row in ranked[:, :k].tolist() for item in row if item >= 0}
    assert got[f"coverage@{k}"] == pytest.approx(len(shown) / n_items)


def random_case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Untied scores over a small catalog, and binary relevance with one relevant item or more."""
    rng = np.random.default_rng(seed)
    n_people, n_items = int(rng.integers(1, 20)), int(rng.integers(2, 40))
    truth = rng.random((n_people, n_items)) < rng.uniform(0.05, 0.5)
    truth[np.arange(n_people), rng.integers(0, n_items, n_people)] = True
    return rng.random((n_people, n_items)), truth.astype(np.int64)


@pytest.mark.parametrize("seed", range(25))
def test_ndcg_matches_scikit_learn(seed: int) -> None:
    scores, truth = random_case(seed)
    relevant = [np.flatnonzero(row) for row in truth]
    for k in (1, 3, 10, truth.shape[1]):
        ranked = top_k(scores, k)
        ours = evaluate_rankings(ranked, relevant, truth.shape[1], k)[f"ndcg@{k}"]
        # sklearn averages over samples too; its IDCG keeps the top k of y_true, as ours does
        assert ours == pytest.approx(ndcg_score(truth, scores, k=k))


@pytest.mark.parametrize("seed", range(25))
def test_average_precision_over_the_catalog_matches_scikit_learn(seed: int) -> None:
    scores, truth = random_case(seed)
    n_items = truth.shape[1]
    ranked = top_k(scores, n_items)
    for row, y_true, y_score in zip(ranked, truth, scores, strict=True):
        ours = average_precision_at_k(row, set(np.flatnonzero(y_true).tolist()), n_items)
        assert ours == pytest.approx(average_precision_score(y_true, y_score))
