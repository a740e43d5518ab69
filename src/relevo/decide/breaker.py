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
    >>> now[0] = 11; breaker.allows()
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

    def allows(self) -> bool:
        with self._lock:
            if self._opened_at is None:
                return True
            return self._clock() - self._opened_at >= self._cooldown

    def succeeded(self) -> None:
        with self._lock:
            self._failures, self._opened_at = 0, None

    def failed(self) -> None:
        with self._lock:
            self._failures += 1
            if self._failures >= self._limit:
                self._opened_at = self._clock()
