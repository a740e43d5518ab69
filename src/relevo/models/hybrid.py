"""The learned hybrid: candidates from several models, ordered by a LightGBM lambdarank ranker.

Each base model proposes its best items for a person; the ranker orders the union from every
base's score and rank, item facts (how many people, how recently) and person facts (how much
history, how long ago, how much of it in the item's category). It learns that ordering
point-in-time: fresh copies of the bases are fitted on the events before a cut-off, features
are computed from those events alone, and the labels are what each person went on to like
after it. Nothing the ranker sees comes from the moment it predicts, or later
(``training_examples``). LightGBM's per-feature contributions (``pred_contrib``) explain a score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import lightgbm
import numpy as np
import scipy.sparse as sp

from relevo.domain.model_records import CannotTrain
from relevo.models.base import Artifact, Contribution, ItemFeatures, Model, People, spans
from relevo.models.batch import ranked
from relevo.models.facts import Facts
from relevo.models.holdouts import HOLDOUTS, LABEL_SHARE, held_rows
from relevo.models.interactions import Interactions
from relevo.models.ranking_metrics import evaluate_rankings
from relevo.models.topk import top_k

DAY_US = 86_400 * 1_000_000


def fresh(model: Model) -> Model:
    """An unfitted copy of a model, with the same parameters."""
    return type(model)(**model.params)  # type: ignore[call-arg, attr-defined]


FACT_FEATURES = (
    "item_people_log",
    "item_days_since_last",
    "item_age_days",
    "person_items_log",
    "person_days_since_last",
    "person_category_share",
    "sources",
)


def candidate_features(
    bases: Mapping[str, Model],
    people: People,
    facts: Facts,
    per_source: int,
    candidates: np.ndarray | None = None,
    proposals: dict[str, np.ndarray] | None = None,
    counts: Mapping[str, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows (person row, item index) and their features, for a batch of people.

    Without ``candidates``, each base proposes its ``per_source`` best unseen items per person
    and the union is ranked; with them, exactly those items are, for every person. Each base's
    proposals (people x per_source item indices, -1 padded) are put in ``proposals`` if given.
    ``counts`` sets a base's own number of proposals (a placement's candidate sources).
    """
    n_items = facts.item_people.size
    seen = people.history
    scores = {name: model.score(people) for name, model in bases.items()}
    proposed = np.zeros((len(people), n_items), dtype=np.int8)  # how many bases propose each
    for name, s in scores.items():
        best = top_k(
            s, per_source if counts is None else counts.get(name, per_source), exclude=seen
        )
        if proposals is not None:
            proposals[name] = best
        rows = np.repeat(np.arange(len(people)), best.shape[1])
        keep = best.ravel() >= 0
        np.add.at(proposed, (rows[keep], best.ravel()[keep]), 1)
    if candidates is None:
        rows, items = np.nonzero(proposed)
    else:
        rows = np.repeat(np.arange(len(people)), len(candidates))
        items = np.tile(np.asarray(candidates), len(people))
    sources = proposed[rows, items].astype(np.float32)
    columns = []
    for s in scores.values():
        picked = s[rows, items]
        columns.append(picked)
        columns.append(_rank_within(rows, picked))
    history_size = np.diff(seen.indptr).astype(np.float32)
    columns += [
        np.log1p(facts.item_people[items]),
        _days(facts.at - facts.item_last_us[items]),
        _days(facts.at - facts.item_first_us[items]),
        np.log1p(history_size[rows]),
        _days(facts.at - people.last_seen_us[rows]),
        _category_share(people, facts, rows, items),
        sources,
    ]
    return rows, items, np.column_stack(columns).astype(np.float32)


def feature_names(bases: Mapping[str, Model]) -> list[str]:
    names = []
    for name in bases:
        names += [f"{name}_score", f"{name}_rank"]
    return names + list(FACT_FEATURES)


def _days(microseconds: np.ndarray) -> np.ndarray:
    return (microseconds / DAY_US).astype(np.float32)


def _rank_within(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Rank (0 = best) of each value among the values of the same row (person)."""
    order = np.lexsort((-values, rows))
    ranks = np.empty(len(rows), dtype=np.float32)
    starts = np.searchsorted(rows[order], rows[order], side="left")
    ranks[order] = np.arange(len(rows)) - starts
    return ranks


def _category_share(
    people: People, facts: Facts, rows: np.ndarray, items: np.ndarray
) -> np.ndarray:
    """Share of the person's history (by weight) in the candidate's category."""
    index, blank = facts.category_codes
    if blank.all():
        return np.zeros(len(rows), dtype=np.float32)
    history = people.history.tocoo()
    totals = np.zeros((len(people), len(blank)), dtype=np.float32)
    np.add.at(totals, (history.row, index[history.col]), history.data)
    totals[:, blank] = 0
    sums = totals.sum(axis=1)
    sums[sums == 0] = 1
    return totals[rows, index[items]] / sums[rows]


class HybridModel:
    """``bases`` are fitted by the caller on all the data; ``fit`` learns the ranker. A loaded
    hybrid gets its bases back from the registry, by the versions its lineage names."""

    kind: ClassVar[str] = "hybrid"

    def __init__(
        self,
        bases: Mapping[str, Model] | None = None,
        per_source: int = 30,
        label_share: float | None = None,
        max_people: int = 3000,
        trees: int = 300,
        seed: int = 7,
        holdout: str = "time",
        leaves: int = 7,
        min_leaf: int = 200,
        learning_rate: float = 0.03,
    ) -> None:
        if holdout not in HOLDOUTS:
            raise ValueError(f"holdout must be one of {', '.join(HOLDOUTS)}, got {holdout!r}")
        self.bases = dict(bases or {})
        self.params: dict[str, Any] = {
            "per_source": per_source,
            "label_share": label_share,
            "max_people": max_people,
            "trees": trees,
            "seed": seed,
            "holdout": holdout,
            "leaves": leaves,
            "min_leaf": min_leaf,
            "learning_rate": learning_rate,
        }
        self.ranker: lightgbm.Booster | None = None
        self.facts: Facts | None = None
        self.validation: dict[str, dict[str, float]] = {}

    def fit(self, data: Interactions, items: ItemFeatures) -> None:
        """Learn the ranker from the rows ``holdout`` hides from the bases (``label_share`` of
        them, see ``held_rows``), from 80% of the people with a history besides them and
        something new in them; the other 20% measure the ranker and each base on the same
        footing (``validation``). Data that leaves nothing to learn from is ``CannotTrain``."""
        params = self.params
        share = params["label_share"] or LABEL_SHARE[params["holdout"]]
        rows, at, said = held_rows(data, params["holdout"], share, params["seed"])
        snapshot = Snapshot.at(self.bases, data, items, rows, at)
        if not snapshot.eligible.size:
            raise CannotTrain(
                f"no person has events both besides {said} and new items in them: the ranker"
                " has nothing to learn from"
            )
        rng = np.random.default_rng(self.params["seed"])
        people = rng.permutation(snapshot.eligible)[: self.params["max_people"]]
        measured = len(people) // 5 if len(people) >= 10 else 0  # people kept to validate
        x, y, groups = snapshot.examples(np.sort(people[measured:]), self.params["per_source"])
        if not groups.size:
            raise CannotTrain(
                f"no base proposed any item liked in {said}: the ranker has nothing to learn from"
            )
        ranker = lightgbm.LGBMRanker(
            objective="lambdarank",
            n_estimators=self.params["trees"],
            learning_rate=self.params["learning_rate"],
            num_leaves=self.params["leaves"],
            min_child_samples=self.params["min_leaf"],
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.9,
            random_state=self.params["seed"],
            verbose=-1,
        )
        ranker.fit(x, y, group=groups, feature_name=feature_names(self.bases))
        self.ranker = ranker.booster_
        if measured:
            past = HybridModel(snapshot.bases, **self.params)
            past.ranker, past.facts = self.ranker, snapshot.facts
            self.validation = snapshot.validate(
                np.sort(people[:measured]), {**snapshot.bases, "hybrid": past}
            )
        self.facts = Facts.of(data, items, int(data.times.max(initial=0)))

    @property
    def item_ids(self) -> np.ndarray:
        return next(iter(self.bases.values())).item_ids

    def _fitted(self) -> tuple[lightgbm.Booster, Facts]:
        if self.ranker is None or self.facts is None:
            raise RuntimeError("the hybrid model is not fitted")
        return self.ranker, self.facts

    def score(self, people: People, items: np.ndarray | None = None) -> np.ndarray:
        return self.rank(people, items)[0]

    def rank(
        self,
        people: People,
        items: np.ndarray | None = None,
        sources: Mapping[str, int] | None = None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Scores (-inf for items no base proposed), and what each base proposed to whom;
        ``sources`` overrides how many items some bases propose."""
        ranker, facts = self._fitted()
        width = facts.item_people.size if items is None else len(items)
        out = np.full((len(people), width), -np.inf, dtype=np.float32)
        proposed: dict[str, list[np.ndarray]] = {name: [] for name in self.bases}
        for start, end in spans(len(people), facts.item_people.size):
            chunk = people.part(start, end)
            found: dict[str, np.ndarray] = {}
            rows, cols, x = candidate_features(
                self.bases, chunk, facts, self.params["per_source"], items, found, sources
            )
            if items is not None:
                cols = np.tile(np.arange(width), len(chunk))
            out[start + rows, cols] = ranker.predict(x)
            for name, best in found.items():
                proposed[name].append(best)
        return out, {name: np.vstack(parts) for name, parts in proposed.items() if parts}

    def explain(self, people: People, row: int, item: int) -> list[Contribution]:
        return self.contributions(people, row, np.asarray([item]))[0]

    def contributions(
        self, people: People, row: int, items: np.ndarray, top: int = 5
    ) -> list[list[Contribution]]:
        """Each item's strongest feature contributions to its score for one person (LightGBM's
        own SHAP values), for many items at the cost of one: the bases score the person once."""
        ranker, facts = self._fitted()
        one = people.part(row, row + 1)
        _, _, x = candidate_features(self.bases, one, facts, self.params["per_source"], items)
        names = ranker.feature_name()
        found = []
        for parts in ranker.predict(x, pred_contrib=True)[:, :-1]:  # the last one is the bias
            order = np.argsort(-np.abs(parts), kind="stable")[:top]
            found.append([Contribution("feature", names[i], float(parts[i])) for i in order])
        return found

    def save(self) -> Artifact:
        ranker, facts = self._fitted()
        params = {**self.params, "bases": list(self.bases)}
        return Artifact(self.kind, params, facts.arrays(), {"ranker": ranker.model_to_string()})

    @classmethod
    def load(cls, artifact: Artifact) -> Self:
        params = dict(artifact.params)
        params.pop("bases")
        model = cls(**params)
        model.ranker = lightgbm.Booster(model_str=artifact.texts["ranker"])
        model.facts = Facts.from_arrays(artifact.arrays)
        return model


@dataclass(frozen=True)
class Snapshot:
    """The world the ranker learns in: the bases fitted on the rows not held (``past``),
    facts from them alone at moment ``cutoff``, and what each person liked in the held rows
    that they had not liked before.

    Features come from ``past`` only, so nothing of what a label says leaks into the ranker's
    training; with the ``time`` holdout, nothing from after the moment either.
    """

    cutoff: int
    past: Interactions
    bases: dict[str, Model]
    facts: Facts
    new: sp.csr_matrix
    eligible: np.ndarray  # people with a history before and something new after

    @classmethod
    def at(
        cls,
        bases: Mapping[str, Model],
        data: Interactions,
        items: ItemFeatures,
        held: np.ndarray,
        cutoff: int,
    ) -> Snapshot:
        past = data.select(~held)
        liked_before = past.matrix()
        liked_after = data.select(held).matrix()
        new = (liked_after - liked_after.multiply(liked_before > 0)).tocsr()
        new.eliminate_zeros()
        eligible = np.flatnonzero((np.diff(liked_before.indptr) > 0) & (np.diff(new.indptr) > 0))
        fitted = {name: _fit_before(name, model, past, items) for name, model in bases.items()}
        return cls(cutoff, past, fitted, Facts.of(past, items, cutoff), new, eligible)

    def examples(
        self, people: np.ndarray, per_source: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features, labels and group sizes of these people's candidates, for lambdarank;
        people with no positive candidate (or none at all) give none."""
        xs = [np.empty((0, 2 * len(self.bases) + len(FACT_FEATURES)), dtype=np.float32)]
        ys, groups = [np.empty(0, dtype=np.float32)], [np.empty(0, dtype=np.int64)]
        for start, end in spans(len(people), self.past.n_items):
            chunk = people[start:end]
            rows, cols, x = candidate_features(
                self.bases, People.of(self.past, chunk), self.facts, per_source
            )
            labels = (np.asarray(self.new[chunk[rows], cols]).ravel() > 0).astype(np.float32)
            has_positive = np.bincount(rows, weights=labels, minlength=len(chunk)) > 0
            keep = has_positive[rows]  # a person with no positive candidate teaches nothing
            xs.append(x[keep])
            ys.append(labels[keep])
            groups.append(np.bincount(rows[keep], minlength=len(chunk))[has_positive])
        return np.vstack(xs), np.concatenate(ys), np.concatenate(groups)

    def validate(
        self, people: np.ndarray, models: Mapping[str, Model], k: int = 10
    ) -> dict[str, dict[str, float]]:
        """Each model's metrics at k on these people's new items, all items ranked."""
        batch = People.of(self.past, people)
        relevant = [self.new[p].indices for p in people]
        return {
            name: evaluate_rankings(ranked(model, batch, k), relevant, self.past.n_items, k)
            for name, model in models.items()
        }


def _fit_before(name: str, model: Model, past: Interactions, items: ItemFeatures) -> Model:
    """A fresh copy of a base fitted on the rows not held out; one that cannot be is
    ``CannotTrain`` naming it, since the ranker cannot be learned without it."""
    copy = fresh(model)
    try:
        copy.fit(past, items)
    except Exception as error:
        raise CannotTrain(
            f"its base {name} could not be fitted on the rows not held out: {error}"
        ) from error
    return copy
