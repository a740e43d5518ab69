"""A circuit breaker per stage: after repeated failures a stage is skipped for a while, so a
sick model costs its budget once, not on every request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class CircuitBreaker:
    """Opens after ``failures`` failures in a row; stays open ``cooldown_s``, then lets one
    request try again (half-open): a success closes it, a failure opens it anew.

    >>> now = [0.0]
    >>> breaker = CircuitBreaker(failures=2, cooldown_s=10, clock=lambda: now[0])
    >>> breaker.failed(); breaker.failed(); breaker.allows()
    False
    >>> now[0] = 11; breaker.allows(), breaker.allows()  # one trial, not the whole backlog
    (True, False)
    >>> breaker.failed(); now[0] = 15; breaker.allows()  # the trial failed: open anew
    False
    >>> now[0] = 22; breaker.allows(); breaker.succeeded(); breaker.allows()
    True
    True
    """

    def __init__(
        self,
        failures: int = 5,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = failures
        self._cooldown = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False  # half-open: one request is trying the stage

    def allows(self) -> bool:
        with self._lock:
            if self._opened_at is None:
                return True
            if self._trial or self._clock() - self._opened_at < self._cooldown:
                return False
            self._trial = True
            return True

    def succeeded(self) -> None:
        with self._lock:
            self._failures, self._opened_at, self._trial = 0, None, False

    def failed(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial or self._failures >= self._limit:
                self._opened_at, self._trial = self._clock(), False
