"""Training a tenant's models, registering them with their lineage, and loading them back.

``train`` fits the models on the whole log (or a file), registers each as its name's next
version with the data window, event count, parameters, metrics, code version and checksum,
and promotes them unless told not to. The offline metrics registered come from the hybrid's
point-in-time validation (each base and the hybrid measured on people held out of the ranker's
training, at the cut-off); a model trained without the hybrid registers none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from relevo import __version__
from relevo.decoding import InvalidInput
from relevo.domain.models import ModelRecord, NewModel
from relevo.domain.pseudonyms import Pseudonymizer
from relevo.domain.tenants import Tenant
from relevo.domain.violations import Violation
from relevo.models.base import Artifact, Model, People
from relevo.models.hybrid import HybridModel
from relevo.models.topk import top_k
from relevo.registry.service import RegistryService
from relevo.training.data import TrainingData
from relevo.training.models import MODEL_CLASSES, fit_models


@dataclass(frozen=True)
class Trained:
    record: ModelRecord
    seconds: float


@dataclass(frozen=True)
class BatchAnswer:
    rows: list[tuple[str, str, int, float]]  # user_id, item_id, rank, score
    unknown: list[str]  # people with no history in the data: nothing personal to say


class TrainingService:
    def __init__(
        self,
        registry: RegistryService,
        pseudonymizer_for: Callable[[str], Pseudonymizer],
    ) -> None:
        self._registry = registry
        self._pseudonymizer_for = pseudonymizer_for

    def train(
        self, tenant: Tenant, data: TrainingData, names: Sequence[str], promote: bool = True
    ) -> list[Trained]:
        """Fit, register (and promote) each named model; bases before the hybrid on them."""
        if len(data.interactions) == 0:
            raise InvalidInput(
                [
                    Violation(
                        "/data", "not_empty", f"no interactions to learn from in {data.source}"
                    )
                ],
                "Nothing to train on",
            )
        fitted = fit_models(names, data.interactions, data.items)
        hybrid = fitted["hybrid"].model if "hybrid" in fitted else None
        metrics = hybrid.validation if isinstance(hybrid, HybridModel) else {}
        trained: list[Trained] = []
        versions: dict[str, int] = {}
        for name, fit in fitted.items():
            lineage = {"source": data.source}
            if isinstance(fit.model, HybridModel):
                lineage["bases"] = {base: versions[base] for base in fit.model.bases}
            record = self._registry.register(
                tenant,
                NewModel(
                    name=name,
                    kind=fit.model.kind,
                    data_from=data.data_from,
                    data_to=data.data_to,
                    event_count=data.events,
                    params=dict(fit.model.params),  # type: ignore[attr-defined]
                    metrics=metrics.get(name, {}),
                    code_version=__version__,
                    lineage=lineage,
                    train_seconds=round(fit.seconds, 3),
                ),
                fit.model.save().to_files(),
                promote=promote,
            )
            versions[name] = record.version
            trained.append(Trained(record, fit.seconds))
        return trained

    def load(
        self, tenant: Tenant, name: str, version: int | None = None
    ) -> tuple[ModelRecord, Model]:
        """A registered model ready to score: the promoted version unless one is named. A
        hybrid comes back with the very base versions it was trained with."""
        record, files = self._registry.load(tenant, name, version)
        artifact = Artifact.from_files(files)
        model = MODEL_CLASSES[artifact.kind].load(artifact)
        if isinstance(model, HybridModel):
            model.bases = {
                base: self.load(tenant, base, base_version)[1]
                for base, base_version in record.lineage["bases"].items()
            }
        return record, model

    def recommend_batch(
        self,
        tenant: Tenant,
        model: Model,
        data: TrainingData,
        user_ids: Sequence[str],
        k: int,
        pseudonymous: bool = True,
    ) -> BatchAnswer:
        """Top ``k`` unseen items for each listed person, from their history in ``data``.

        In the log people are known by pseudonyms, so the given ids are pseudonymized first
        (``pseudonymous``); a file keeps its own ids.
        """
        pseudonymize = self._pseudonymizer_for(tenant.tenant_id)
        interactions = data.interactions
        index = {person: i for i, person in enumerate(interactions.person_ids)}
        model_items = model.item_ids
        known, unknown = [], []
        for user_id in user_ids:
            key = "u:" + (pseudonymize("user_id", user_id) if pseudonymous else user_id)
            (known if key in index else unknown).append((user_id, index.get(key)))
        rows: list[tuple[str, str, int, float]] = []
        align = _alignment(interactions.item_ids, model_items)
        for start in range(0, len(known), 512):
            chunk = known[start : start + 512]
            people = People.of(interactions, np.asarray([i for _, i in chunk]))
            people = _in_vocabulary(people, align, len(model_items))
            scores = model.score(people)
            ranked = top_k(scores, k, exclude=people.history)
            for (user_id, _), best, row in zip(chunk, ranked, scores, strict=True):
                for rank, item in enumerate(best[best >= 0], start=1):
                    rows.append((user_id, str(model_items[item]), rank, float(row[item])))
        return BatchAnswer(rows, [user_id for user_id, _ in unknown])


def _alignment(data_items: np.ndarray, model_items: np.ndarray) -> np.ndarray | None:
    """For each item index of the data, its index in the model (-1 if the model lacks it);
    None when both index the same items alike (the model was trained on this data)."""
    if np.array_equal(data_items, model_items):
        return None
    position = {item: i for i, item in enumerate(model_items.tolist())}
    return np.asarray([position.get(str(item), -1) for item in data_items], dtype=np.int64)


def _in_vocabulary(people: People, align: np.ndarray | None, n_model: int) -> People:
    """The people's histories re-indexed to the model's items, when the two differ."""
    if align is None:
        return people
    coo = people.history.tocoo()
    keep = align[coo.col] >= 0
    history = sp.csr_matrix(
        (coo.data[keep], (coo.row[keep], align[coo.col[keep]])), shape=(len(people), n_model)
    )
    sequences = [align[s][align[s] >= 0].astype(np.int32) for s in people.sequences]
    return People(history, sequences, people.regions, people.last_seen_us)
