"""What every part of the serving benchmarks shares: the host, the answer size, the status
console, and how figures are summarised."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.console import Console

from processes import HOST

__all__ = ["HOST", "K", "keep", "percentile", "rounded", "status"]

K = 10  # items an answer asks for
status = Console(stderr=True)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile ``q`` (0-100) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def keep(problems: list[str], text: str, most: int = 3) -> None:
    """Keep the first few problems of a run, as examples."""
    if len(problems) < most:
        problems.append(text)
