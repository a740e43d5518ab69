"""Content-based: items alike in their words (title, text, category, tags) to what a person liked.

Each item is a TF-IDF vector of its catalog text (scikit-learn); a person is the weighted mean
of their liked items' vectors; a score is the cosine of the two. It needs no interaction with
an item, only its text, so an item added to the catalog a second ago can be recommended
(cold start), and ``vectorize`` places items the model has never seen.
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from relevo.models.base import (
    Artifact,
    Contribution,
    ItemFeatures,
    People,
    dense,
    history_contributions,
    spans,
    sparse_arrays,
    sparse_from,
)
from relevo.models.interactions import Interactions


class ContentModel:
    kind: ClassVar[str] = "content"

    def __init__(self, max_features: int = 50_000, min_df: int = 1) -> None:
        self.params = {"max_features": max_features, "min_df": min_df}
        self.item_ids = np.empty(0, dtype=object)
        self.vectorizer = self._new_vectorizer()
        self.vectors = sp.csr_matrix((0, 0), dtype=np.float32)

    def _new_vectorizer(self, vocabulary: dict[str, int] | None = None) -> TfidfVectorizer:
        return TfidfVectorizer(
            max_features=self.params["max_features"],
            min_df=self.params["min_df"],
            sublinear_tf=True,
            dtype=np.float32,
            vocabulary=vocabulary,
        )

    def fit(self, data: Interactions, items: ItemFeatures) -> None:
        self.item_ids = data.item_ids
        texts = items.texts if any(items.texts) else ["" for _ in data.item_ids]
        try:
            self.vectors = self.vectorizer.fit_transform(texts).tocsr()
        except ValueError:  # no words at all in the catalog: the model knows nothing
            self.vectorizer = self._new_vectorizer({"": 0})
            self.vectorizer.fit([""])
            self.vectors = sp.csr_matrix((len(texts), 1), dtype=np.float32)

    def vectorize(self, texts: list[str]) -> sp.csr_matrix:
        """Vectors of items the model did not see at fit, in the same space."""
        return self.vectorizer.transform(texts).tocsr()

    def profiles(self, people: People) -> sp.csr_matrix:
        return normalize(people.history @ self.vectors)

    def score(self, people: People, items: np.ndarray | None = None) -> np.ndarray:
        vectors = self.vectors if items is None else self.vectors[items]
        profiles = self.profiles(people)
        scores = np.empty((len(people), vectors.shape[0]), dtype=np.float32)
        # the catalog's sparse vectors times a few people's dense profiles: the catalog's
        # matrix is used as stored, not laid out anew for each call
        for start, end in spans(len(people), profiles.shape[1]):
            scores[start:end] = (vectors @ dense(profiles[start:end]).T).T
        return scores

    def explain(self, people: People, row: int, item: int) -> list[Contribution]:
        history = people.history[row]
        parts = dense(self.vectors[history.indices] @ self.vectors[item].T).ravel() * history.data
        return history_contributions(history.indices, parts, self.item_ids)

    def save(self) -> Artifact:
        terms = self.vectorizer.get_feature_names_out()
        arrays = {
            "item_ids": self.item_ids.astype(str),
            "terms": np.asarray(terms, dtype=str),
            "idf": self.vectorizer.idf_.astype(np.float32),
            **sparse_arrays(self.vectors),
        }
        return Artifact(self.kind, dict(self.params), arrays)

    @classmethod
    def load(cls, artifact: Artifact) -> Self:
        model = cls(**artifact.params)
        a = artifact.arrays
        model.item_ids = a["item_ids"].astype(object)
        terms = a["terms"].tolist()
        model.vectorizer = model._new_vectorizer({t: i for i, t in enumerate(terms)})
        model.vectorizer.fit(terms)  # sets up the vocabulary; the idf is restored below
        model.vectorizer.idf_ = a["idf"]
        model.vectors = sparse_from(a, (len(model.item_ids), len(terms)))
        return model
