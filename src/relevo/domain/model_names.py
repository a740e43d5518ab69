"""The names of the models Relevo trains: plain data, so configuration, training and the command
line all read them from the domain without importing any numerical library."""

from __future__ import annotations

BASE_NAMES = (
    "popularity",
    "trending",
    "itemknn",
    "rp3beta",
    "ease",
    "als",
    "bpr",
    "content",
    "session",
)
HYBRID_BASES = ("popularity", "trending", "itemknn", "rp3beta", "ease", "als", "content", "session")
"""BPR is left out of the hybrid's bases: it costs the most to fit and added nothing the others
did not already bring in our runs (see docs/models.md)."""
MODEL_NAMES = (*BASE_NAMES, "hybrid")
AUTO = "auto"
SIMILAR_MODEL = "itemknn"
"""The model ``GET /v1/items/{id}/similar`` serves from (see ``DecisionService.similar``)."""
SELECTION_KIND = "selection"
"""The kind of an ``auto`` record: not a model but a choice, naming the version chosen."""
TRAIN_NAMES = (*MODEL_NAMES, AUTO)
"""What ``relevo train`` and ``evaluate`` can be asked for: every model, and ``auto``, the
choice among those of the run measured on a validation part (``training/selection.py``)."""
