"""One decision in the making: who asked for what, when, and how long each stage took.

Every stage reads and fills the same ``Asking``; ``lap`` is the one timer, so a stage's time
is the time since the stage before it ended, and the trace's ``stages_ms`` sums to the whole.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from relevo.domain.decisions import DecisionRequest
from relevo.domain.strategies import Strategy
from relevo.domain.tenants import Tenant


@dataclass(slots=True)
class Asking:
    tenant: Tenant
    strategy: Strategy
    request: DecisionRequest
    person: str | None  # the pseudonymous key, None for nobody known
    region: str
    now: datetime
    now_us: int  # the same, in microseconds since the epoch
    started: float  # time.perf_counter() when it began
    policy_known: bool = True  # False when policy could not be evaluated for the person
    version: int | None = None  # of the person's state, once this decision has read it
    key: tuple = ()  # of the answer and prepared caches (see ``reuse``)
    caching: bool = False  # whether the answer may go to the placement's answer cache
    reusing: bool = False  # whether a decision worked out now may be kept for reuse
    stages: dict[str, float] = field(default_factory=dict)  # milliseconds, to the µs
    lapped: float = 0.0  # time.perf_counter() when the last stage ended

    def __post_init__(self) -> None:
        self.lapped = self.started

    def lap(self, stage: str) -> None:
        """Add the time since the last lap to ``stage``.

        >>> asking = Asking(None, None, None, None, "eu", None, 0, time.perf_counter())
        >>> asking.lap("person"); asking.lap("model"); list(asking.stages)
        ['person', 'model']
        """
        now = time.perf_counter()
        took = self.stages.get(stage, 0.0) + (now - self.lapped) * 1000
        self.stages[stage] = round(took, 3)
        self.lapped = now

    def took_ms(self) -> float:
        """Milliseconds since the decision began, to the µs."""
        return round((time.perf_counter() - self.started) * 1000, 3)
