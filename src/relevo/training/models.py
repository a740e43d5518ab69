"""The model classes Relevo trains, by name, and fitting any set of them at once.

The hybrid ranks the candidates of the base models it names (``HYBRID_BASES``), so asking for
it fits those too.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from relevo.decoding import InvalidInput
from relevo.domain.violations import Violation
from relevo.models.base import ItemFeatures, Model
from relevo.models.content import ContentModel
from relevo.models.factors import AlsModel, BprModel
from relevo.models.hybrid import HybridModel
from relevo.models.interactions import Interactions
from relevo.models.neighbors import EaseModel, ItemKnnModel
from relevo.models.popularity import PopularityModel, TrendingModel
from relevo.models.session import SessionModel
from relevo.training.names import HYBRID_BASES

BASE_MODELS: dict[str, type] = {
    "popularity": PopularityModel,
    "trending": TrendingModel,
    "itemknn": ItemKnnModel,
    "ease": EaseModel,
    "als": AlsModel,
    "bpr": BprModel,
    "content": ContentModel,
    "session": SessionModel,
}
MODEL_CLASSES: dict[str, type] = {**BASE_MODELS, "hybrid": HybridModel}


@dataclass(frozen=True)
class Fitted:
    model: Model
    seconds: float  # its own fit; a hybrid's includes fitting its bases


def check_params(params: Mapping[str, Mapping[str, float]]) -> None:
    """Refuse, before any work, a parameter a model does not have, naming the ones it has."""
    problems = []
    for name, given in params.items():
        known = set(inspect.signature(MODEL_CLASSES[name].__init__).parameters) - {"self", "bases"}
        unknown = sorted(set(given) - known)
        if unknown:
            problems.append(
                Violation(
                    "/param",
                    "enum",
                    f"{name} has no parameter {', '.join(unknown)}; it has {', '.join(sorted(known))}",
                )
            )
    if problems:
        raise InvalidInput(problems)


def build_model(name: str, params: Mapping[str, float], **parts: object) -> Model:
    """A model of that name with these parameters (``parts``: a hybrid's bases)."""
    check_params({name: params})
    return MODEL_CLASSES[name](**params, **parts)


def fit_models(
    names: Iterable[str],
    interactions: Interactions,
    items: ItemFeatures,
    params: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, Fitted]:
    """Fit each named model (and the bases a hybrid needs) on the same data, each with its
    ``params`` over its defaults."""
    params = params or {}
    wanted = list(names)
    needed = list(dict.fromkeys([n for n in wanted if n != "hybrid"]))
    if "hybrid" in wanted:
        needed += [n for n in HYBRID_BASES if n not in needed]
    fitted: dict[str, Fitted] = {}
    for name in needed:
        model = build_model(name, params.get(name, {}))
        started = time.perf_counter()
        model.fit(interactions, items)
        fitted[name] = Fitted(model, time.perf_counter() - started)
    if "hybrid" in wanted:
        bases = {name: fitted[name].model for name in HYBRID_BASES}
        hybrid = build_model("hybrid", params.get("hybrid", {}), bases=bases)
        started = time.perf_counter()
        hybrid.fit(interactions, items)
        own = time.perf_counter() - started
        fitted["hybrid"] = Fitted(hybrid, own + sum(fitted[n].seconds for n in HYBRID_BASES))
    return {name: fitted[name] for name in [*needed, *(["hybrid"] if "hybrid" in wanted else [])]}
