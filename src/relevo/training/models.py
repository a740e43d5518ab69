"""The models Relevo trains, by name, and fitting any set of them at once.

The hybrid ranks the candidates of the base models it names (``HYBRID_BASES``), so asking for
it fits those too. BPR is left out of the hybrid's bases: it costs the most to fit and added
nothing the others did not already bring in our runs (see docs/models.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
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
HYBRID_BASES = ("popularity", "trending", "itemknn", "ease", "als", "content", "session")
MODEL_NAMES = (*BASE_MODELS, "hybrid")
MODEL_CLASSES: dict[str, type] = {**BASE_MODELS, "hybrid": HybridModel}


def model_names(text: str | None) -> list[str]:
    """Names from ``a,b,c`` (all of them when empty), each checked.

    >>> model_names("ease, als")
    ['ease', 'als']
    """
    if not text:
        return list(MODEL_NAMES)
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in MODEL_NAMES]
    if unknown or not names:
        raise InvalidInput(
            [
                Violation(
                    "/models",
                    "enum",
                    f"unknown model {', '.join(unknown) or '(none)'}: choose among"
                    f" {', '.join(MODEL_NAMES)}",
                )
            ]
        )
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class Fitted:
    model: Model
    seconds: float  # its own fit; a hybrid's includes fitting its bases


def fit_models(
    names: Iterable[str], interactions: Interactions, items: ItemFeatures
) -> dict[str, Fitted]:
    """Fit each named model (and the bases a hybrid needs) on the same data."""
    wanted = list(names)
    needed = list(dict.fromkeys([n for n in wanted if n != "hybrid"]))
    if "hybrid" in wanted:
        needed += [n for n in HYBRID_BASES if n not in needed]
    fitted: dict[str, Fitted] = {}
    for name in needed:
        model = BASE_MODELS[name]()
        started = time.perf_counter()
        model.fit(interactions, items)
        fitted[name] = Fitted(model, time.perf_counter() - started)
    if "hybrid" in wanted:
        hybrid = HybridModel({name: fitted[name].model for name in HYBRID_BASES})
        started = time.perf_counter()
        hybrid.fit(interactions, items)
        own = time.perf_counter() - started
        fitted["hybrid"] = Fitted(hybrid, own + sum(fitted[n].seconds for n in HYBRID_BASES))
    return {name: fitted[name] for name in [*needed, *(["hybrid"] if "hybrid" in wanted else [])]}
