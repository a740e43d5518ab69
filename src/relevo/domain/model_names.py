"""The names of the models Relevo trains: plain data, so configuration, training and the command
line all read them from the domain without importing any numerical library."""

from __future__ import annotations

BASE_NAMES = ("popularity", "trending", "itemknn", "ease", "als", "bpr", "content", "session")
HYBRID_BASES = ("popularity", "trending", "itemknn", "ease", "als", "content", "session")
"""BPR is left out of the hybrid's bases: it costs the most to fit and added nothing the others
did not already bring in our runs (see docs/models.md)."""
MODEL_NAMES = (*BASE_NAMES, "hybrid")
