"""Training a tenant's models and registering them with their lineage.

``train`` fits the models on the whole log (or a file), registers each as its name's next
version with the data window, event count, parameters, metrics, code version and checksum,
and promotes them unless told not to. A model that cannot be fitted is reported (``Failed``)
and the others are registered all the same. The offline metrics registered come from the
hybrid's validation (each base and the hybrid measured on people held out of the ranker's
training); a model trained without the hybrid registers none. Asked for ``auto``, it also
chooses among the run's models on a validation part of the data (``training/selection.py``)
and registers the choice as ``auto``: a record naming the version chosen, with every
contender's metrics, which serving and ``recommend-batch`` load as that version.

The numerical libraries are imported where they are used, not with this module: bootstrap wires
this service into every command, and most commands never train.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from relevo import __version__
from relevo.decoding import InvalidInput
from relevo.domain.model_names import AUTO, MODEL_NAMES, SELECTION_KIND
from relevo.domain.model_records import Failed, ModelRecord, NewModel
from relevo.domain.pseudonyms import Pseudonymizer
from relevo.domain.tenants import Tenant
from relevo.domain.violations import Violation
from relevo.registry.service import RegistryService

if TYPE_CHECKING:
    from relevo.models.base import Model
    from relevo.training.data import TrainingData
    from relevo.training.fitting import Fitted
    from relevo.training.selection import Selection


@dataclass(frozen=True)
class Trained:
    record: ModelRecord
    seconds: float


@dataclass(frozen=True)
class TrainingResult:
    """A run's outcome: the versions registered, and the models that could not be trained
    (the caller decides what a partial run means; nothing good is lost to it)."""

    trained: list[Trained]
    failed: list[Failed]


@dataclass(frozen=True)
class BatchAnswer:
    rows: list[tuple[str, str, int, float]]  # user_id, item_id, rank, score
    unknown: list[str]  # people with no history in the data: nothing personal to say


class TrainingService:
    def __init__(
        self,
        registry: RegistryService,
        pseudonymizer_for: Callable[[str], Pseudonymizer],
        protocol_for: Callable[[str], str] = lambda tenant_id: "temporal",
    ) -> None:
        """``protocol_for``: each tenant's validation protocol (``temporal`` or ``random``),
        which also sets how the hybrid holds out the rows its ranker learns from."""
        self._registry = registry
        self._pseudonymizer_for = pseudonymizer_for
        self._protocol_for = protocol_for

    def train(
        self,
        tenant: Tenant,
        data: TrainingData,
        names: Sequence[str],
        promote: bool = True,
        params: Mapping[str, Mapping[str, object]] | None = None,
    ) -> TrainingResult:
        """Fit, register (and promote) each named model that can be fitted, bases before the
        hybrid on them; report the others."""
        if len(data.interactions) == 0:
            raise InvalidInput(
                [
                    Violation(
                        "/data", "not_empty", f"no interactions to learn from in {data.source}"
                    )
                ],
                "Nothing to train on",
            )
        from relevo.models.abilities import Composite
        from relevo.training.fitting import fit_models
        from relevo.training.splits import matching_holdout

        protocol = self._protocol_for(tenant.tenant_id)
        params = matching_holdout(params, protocol)
        models = [name for name in names if name != AUTO] or list(MODEL_NAMES)
        choice: Selection | Failed | None = None
        if AUTO in names:
            choice, params = self._choose(data, models, protocol, params)
        fits = fit_models(models, data.interactions, data.items, params)
        hybrid = fits.fitted["hybrid"].model if "hybrid" in fits.fitted else None
        metrics = hybrid.validation if isinstance(hybrid, Composite) else {}
        trained: list[Trained] = []
        versions: dict[str, int] = {}
        for name, fit in fits.fitted.items():
            record = self._register(
                tenant, data, name, fit, metrics.get(name, {}), versions, promote
            )
            versions[name] = record.version
            trained.append(Trained(record, fit.seconds))
        failed = list(fits.failed)
        if isinstance(choice, Failed):
            failed.append(choice)
        elif choice is not None:
            if choice.winner in versions:
                trained.append(self._register_choice(tenant, data, choice, versions, promote))
            else:  # chosen on the validation part, then failed on the whole data
                failed.append(Failed(AUTO, f"its choice, {choice.winner}, could not be trained"))
        return TrainingResult(trained, failed)

    def _choose(
        self,
        data: TrainingData,
        models: list[str],
        protocol: str,
        params: Mapping[str, Mapping[str, object]],
    ) -> tuple[Selection | Failed, Mapping[str, Mapping[str, object]]]:
        """Tune the bases and choose among ``models`` on a validation part of the data
        (``tuned_and_selected``): the choice (or why there is none) and the parameters to
        fit every model with."""
        from relevo.training.fitting import failure_reason
        from relevo.training.selection import tuned_and_selected

        try:
            chosen = tuned_and_selected(data.interactions, data.items, models, protocol, params)
        except Exception as error:  # no choice must never cost the run its models
            return Failed(AUTO, failure_reason(error)), params
        return chosen, {**chosen.tuned, **params}

    def _register_choice(
        self,
        tenant: Tenant,
        data: TrainingData,
        chosen: Selection,
        versions: Mapping[str, int],
        promote: bool,
    ) -> Trained:
        """The choice as ``auto``: a record naming the version chosen, with every contender's
        metrics on the validation part."""
        from relevo.models.base import Artifact

        record = self._registry.register(
            tenant,
            NewModel(
                name=AUTO,
                kind=SELECTION_KIND,
                data_from=data.data_from,
                data_to=data.data_to,
                event_count=data.events,
                params={"protocol": chosen.protocol, "tuned": chosen.tuned},
                metrics=chosen.metrics[chosen.winner],
                code_version=__version__,
                lineage={
                    "source": data.source,
                    "selected": {chosen.winner: versions[chosen.winner]},
                    "validation": chosen.description,
                    "contenders": chosen.metrics,
                },
                train_seconds=round(chosen.seconds, 3),
            ),
            Artifact(SELECTION_KIND, {"winner": chosen.winner}).to_files(),
            promote=promote,
        )
        return Trained(record, chosen.seconds)

    def _register(
        self,
        tenant: Tenant,
        data: TrainingData,
        name: str,
        fit: Fitted,
        metrics: dict[str, float],
        versions: Mapping[str, int],
        promote: bool,
    ) -> ModelRecord:
        """One fitted model as its name's next version; a hybrid's lineage names the versions
        of its bases registered just before it (``versions``)."""
        from relevo.models.abilities import Composite

        lineage: dict[str, object] = {"source": data.source}
        if isinstance(fit.model, Composite):
            lineage["bases"] = {base: versions[base] for base in fit.model.bases}
        return self._registry.register(
            tenant,
            NewModel(
                name=name,
                kind=fit.model.kind,
                data_from=data.data_from,
                data_to=data.data_to,
                event_count=data.events,
                params=dict(fit.model.params),  # type: ignore[attr-defined]
                metrics=metrics,
                code_version=__version__,
                lineage=lineage,
                train_seconds=round(fit.seconds, 3),
            ),
            fit.model.save().to_files(),
            promote=promote,
        )

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
        import numpy as np

        from relevo.models.batch import top_items

        pseudonymize = self._pseudonymizer_for(tenant.tenant_id)
        index = {person: i for i, person in enumerate(data.interactions.person_ids)}
        known: list[tuple[str, int]] = []
        unknown: list[str] = []
        for user_id in user_ids:
            key = "u:" + (pseudonymize("user_id", user_id) if pseudonymous else user_id)
            if key in index:
                known.append((user_id, index[key]))
            else:
                unknown.append(user_id)
        people = np.asarray([i for _, i in known], dtype=np.int64)
        rows = top_items(model, data.interactions, people, k)
        return BatchAnswer([(known[p][0], item, r, s) for p, item, r, s in rows], unknown)
