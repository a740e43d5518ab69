"""The one interface every model keeps, and what it is fed.

A model is fitted on interactions and the catalog, scores candidate items for a batch of people,
explains one score as named contributions, and turns into an artifact of safe files (JSON, npz,
LightGBM text) and back. Strategies combine models through this interface alone, the way
implicit's and river's models share theirs.

People are given by what they did (``People``), not by a training index: a person the model has
never seen, or one whose last click came a second ago, is scored the same way as any other.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, Self

import msgspec
import numpy as np
import scipy.sparse as sp

from relevo.domain.derived import micros
from relevo.domain.items import Item
from relevo.models.interactions import Interactions


class Contribution(msgspec.Struct, frozen=True):
    """One named part of a score: an item of the person's history ("because you bought X"),
    a feature of the ranker, or a property of the item ("popular in your region")."""

    source: str  # "item", "feature" or "popularity"
    name: str  # the item id or the feature's name
    value: float


@dataclass(frozen=True)
class ItemFeatures:
    """What the catalog says of each item, aligned to an ``Interactions``' item index."""

    texts: list[str]
    categories: np.ndarray  # str, "" when unknown
    created_us: np.ndarray  # int64, 0 when unknown
    prices: np.ndarray  # float32, NaN when unknown; clipped to float32's range (``float32s``)

    @classmethod
    def build(cls, item_ids: Sequence[str], catalog: Mapping[str, Item]) -> ItemFeatures:
        texts, categories, created, prices = [], [], [], []
        for item_id in item_ids:
            item = catalog.get(item_id)
            if item is None:
                texts.append("")
                categories.append("")
                created.append(0)
                prices.append(np.nan)
                continue
            parts = [item.title or "", item.text or "", item.category or "", *item.tags]
            texts.append(" ".join(p for p in parts if p))
            categories.append(item.category or "")
            created.append(micros(item.created_at) if item.created_at else 0)
            prices.append(np.nan if item.price is None else item.price)
        return cls(
            texts,
            np.asarray(categories, dtype=object),
            np.asarray(created, dtype=np.int64),
            float32s(prices),
        )

    @classmethod
    def empty(cls, n_items: int) -> ItemFeatures:
        return cls.build([""] * n_items, {})


@dataclass(frozen=True)
class People:
    """A batch of people as a model sees them when scoring: their net weights per item, the
    order of their latest items (oldest first), their region, and when they were last seen."""

    history: sp.csr_matrix
    sequences: list[np.ndarray]
    regions: list[str | None]
    last_seen_us: np.ndarray  # int64 per person, 0 when never

    @classmethod
    def of(cls, data: Interactions, people: np.ndarray, last: int = 50) -> People:
        """The people at these indices of ``data``, as ``data`` knows them."""
        people = np.asarray(people, dtype=np.int64)
        history = data.rows(people)
        order, starts, last_seen = data.by_person
        sequences = [
            data.items[order[starts[p] : starts[p + 1]]][-last:].astype(np.int32) for p in people
        ]
        regions = [data.region_of(p) or None for p in people]
        return cls(history, sequences, regions, last_seen[people])

    def part(self, start: int, end: int) -> People:
        """The people from ``start`` to ``end`` of the batch, as a batch."""
        return People(
            self.history[start:end],
            self.sequences[start:end],
            self.regions[start:end],
            self.last_seen_us[start:end],
        )

    def __len__(self) -> int:
        return self.history.shape[0]


@dataclass
class Artifact:
    """A fitted model as files it is safe to load: parameters as JSON, arrays as npz (loaded
    with ``allow_pickle=False``), and text such as a LightGBM model; never a pickle."""

    kind: str
    params: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    def to_files(self) -> dict[str, bytes]:
        """
        >>> a = Artifact("x", {"k": 1}, {"v": np.arange(3)}, {"note": "hi"})
        >>> b = Artifact.from_files(a.to_files())
        >>> b.kind, b.params, b.arrays["v"].tolist(), b.texts
        ('x', {'k': 1}, [0, 1, 2], {'note': 'hi'})
        """
        buffer = io.BytesIO()
        np.savez(buffer, **self.arrays)
        files = {
            "model.json": json.dumps({"kind": self.kind, "params": self.params}).encode(),
            "arrays.npz": buffer.getvalue(),
        }
        files.update({f"{name}.txt": text.encode() for name, text in self.texts.items()})
        return files

    @classmethod
    def from_files(cls, files: Mapping[str, bytes]) -> Artifact:
        head = json.loads(files["model.json"])
        with np.load(io.BytesIO(files["arrays.npz"]), allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        texts = {
            name.removesuffix(".txt"): body.decode()
            for name, body in files.items()
            if name.endswith(".txt")
        }
        return cls(head["kind"], head["params"], arrays, texts)


class Model(Protocol):
    """What every model does. ``score`` answers a (people x items) array, higher is better;
    ``items`` narrows it to those item indices (the candidates), in that order."""

    kind: ClassVar[str]
    params: dict[str, Any]
    item_ids: np.ndarray  # the item id of each item index the model scores

    def fit(self, data: Interactions, items: ItemFeatures) -> None: ...
    def score(self, people: People, items: np.ndarray | None = None) -> np.ndarray: ...
    def explain(self, people: People, row: int, item: int) -> list[Contribution]: ...
    def save(self) -> Artifact: ...
    @classmethod
    def load(cls, artifact: Artifact) -> Self: ...


FLOAT32_MAX = float(np.finfo(np.float32).max)


SCORES_AT_ONCE = 4_000_000
"""Scores (people x items) worked out at once, at most, where many people are scored: each
dense (people x catalog) array then stays near 16 MB, whatever the catalog's size."""


def spans(people: int, items: int, most: int = 512) -> list[tuple[int, int]]:
    """(start, end) of the chunks ``people`` are scored in: ``most`` at a time, fewer when
    the catalog is so large that their scores would pass ``SCORES_AT_ONCE``.

    >>> spans(5, 1_000), spans(5, 2_000_000)
    ([(0, 5)], [(0, 2), (2, 4), (4, 5)])
    """
    size = max(1, min(most, SCORES_AT_ONCE // max(items, 1)))
    return [(start, min(start + size, people)) for start in range(0, people, size)]


def float32s(values: Sequence[float]) -> np.ndarray:
    """Float32 of values any float64 may hold (a price of 1e308 is valid), clipped to float32's
    range so that a huge value stays the largest, not infinity with an overflow warning.

    >>> float32s([1.5, 1e308, -1e308, float("nan")]).tolist()[:3] == [1.5, FLOAT32_MAX, -FLOAT32_MAX]
    True
    """
    return np.clip(np.asarray(values, dtype=np.float64), -FLOAT32_MAX, FLOAT32_MAX).astype(
        np.float32
    )


def columns(scores: np.ndarray, items: np.ndarray | None) -> np.ndarray:
    """Keep the candidates' columns of a full score array (all of them when ``items`` is None)."""
    return scores if items is None else scores[:, items]


def dense(matrix: sp.spmatrix | np.ndarray) -> np.ndarray:
    """A float32 ndarray of a product that may be sparse."""
    if sp.issparse(matrix):
        matrix = matrix.toarray()
    return np.asarray(matrix, dtype=np.float32)


def sparse_arrays(matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    """A CSR matrix as the three arrays an artifact can hold."""
    return {"data": matrix.data, "indices": matrix.indices, "indptr": matrix.indptr}


def sparse_from(arrays: Mapping[str, np.ndarray], shape: tuple[int, int]) -> sp.csr_matrix:
    return sp.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape)


def history_contributions(
    indices: np.ndarray, parts: np.ndarray, item_ids: np.ndarray, top: int = 5
) -> list[Contribution]:
    """The history items (``indices``) that add most to a score, given each one's part of it."""
    order = np.argsort(-parts, kind="stable")[:top]
    return [
        Contribution("item", str(item_ids[indices[i]]), float(parts[i]))
        for i in order
        if parts[i] > 0
    ]
