"""What some models can do beyond ``Model``: each ability a ``runtime_checkable`` Protocol, so
the decision path and training ask ``isinstance(model, Ranks)`` rather than probing names,
and a new model gains an ability by having the method (as in implicit and river).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import numpy as np

from relevo.models.base import Contribution, Model, People


@runtime_checkable
class Ranks(Protocol):
    """Ranks with candidates of its own: scores (-inf for items none proposed), and which
    source proposed which items to whom. ``sources`` overrides how many some sources give."""

    def rank(
        self,
        people: People,
        items: np.ndarray | None = None,
        sources: Mapping[str, int] | None = None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]: ...


@runtime_checkable
class ExplainsFeatures(Protocol):
    """Each item's strongest feature contributions to its score for one person (``row``)."""

    def contributions(
        self, people: People, row: int, items: np.ndarray, top: int = 5
    ) -> list[list[Contribution]]: ...


@runtime_checkable
class FindsSimilar(Protocol):
    """The ``n`` nearest neighbours of an item index, with their weights."""

    def similar(self, item: int, n: int) -> tuple[np.ndarray, np.ndarray]: ...


@runtime_checkable
class ScoresRegions(Protocol):
    """Scores of every item for anyone in a region, whoever they are (popularity)."""

    def vector(self, region: str | None) -> np.ndarray: ...


@runtime_checkable
class Composite(Protocol):
    """Built on other models (``bases``, by name), registered with their versions as lineage
    and loaded back with them; ``validation`` measures each base and itself, point-in-time."""

    bases: Mapping[str, Model]
    validation: dict[str, dict[str, float]]
