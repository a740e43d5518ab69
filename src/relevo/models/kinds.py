"""Every model class by its kind, the one table that both fitting and loading read.

An artifact names its kind; loading it back needs this table, and so does fitting a model by
name, so it sits in the model layer beneath both training and the registry.
"""

from __future__ import annotations

from relevo.models.content import ContentModel
from relevo.models.factors import AlsModel, BprModel
from relevo.models.hybrid import HybridModel
from relevo.models.neighbors import EaseModel, ItemKnnModel, Rp3BetaModel
from relevo.models.popularity import PopularityModel, TrendingModel
from relevo.models.session import SessionModel

BASE_MODELS: dict[str, type] = {
    "popularity": PopularityModel,
    "trending": TrendingModel,
    "itemknn": ItemKnnModel,
    "ease": EaseModel,
    "rp3beta": Rp3BetaModel,
    "als": AlsModel,
    "bpr": BprModel,
    "content": ContentModel,
    "session": SessionModel,
}
MODEL_CLASSES: dict[str, type] = {**BASE_MODELS, "hybrid": HybridModel}
