"""Warming the decision path when a server starts, off the event loop.

The first decision after a start used to import the numerical libraries and load the promoted
models and the catalog on the event loop, which then answered nothing else (``/healthz``
included) until they were loaded, while ``/readyz`` already said ready. ``WarmUp`` does that
work in a thread as the server starts; readiness waits for it, and so does a decision asked
meanwhile, without holding the loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING

from relevo.domain.model_names import SIMILAR_MODEL
from relevo.domain.strategies import Strategy
from relevo.domain.tenants import Tenant

if TYPE_CHECKING:  # it imports the numerical libraries: the warm-up thread does, not the app
    from relevo.decide.promoted import ServingState

log = logging.getLogger("relevo.decide")


def served_models(strategies: Mapping[str, Strategy]) -> frozenset[str]:
    """The model names decisions may load: each placement's, and the one similar items use."""
    return frozenset({strategy.model for strategy in strategies.values()} | {SIMILAR_MODEL})


def warm_serving(serving: ServingState, tenants: Iterable[Tenant], models: Collection[str]) -> int:
    """Load each tenant's catalog and promoted models (a tenant with none promoted answers
    from its fallbacks: nothing to load). Returns how many tenants were warmed."""
    warmed = 0
    for tenant in tenants:
        serving.catalog(tenant)
        for name in models:
            serving.model(tenant, name)
        warmed += 1
    return warmed


class WarmUp:
    """Runs ``warm`` in a daemon thread, again every ``retry_s`` after a failure, until it
    succeeds: a storage fault at start delays readiness instead of leaving it cold."""

    def __init__(self, warm: Callable[[], object], retry_s: float = 5.0) -> None:
        self._warm = warm
        self._retry_s = retry_s
        self._first: Future[None] = Future()  # done after the first attempt, won or lost
        self._settled = False  # the same, read without the future's lock on every decision
        self._ready = threading.Event()
        self._stopped = threading.Event()
        self._started = False
        self.failure: str | None = None
        """Why the last attempt failed, while none has succeeded."""

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def start(self) -> None:
        self._started = True
        threading.Thread(target=self._run, name="relevo-warm-up", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()

    async def settled(self) -> None:
        """Wait, without holding the event loop, for the first attempt to end (at once if the
        warm-up was never started: an app served without its lifespan)."""
        if self._started and not self._settled:
            await asyncio.wrap_future(self._first)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self._warm()
            except Exception as error:
                self.failure = f"{type(error).__name__}: {error}"
                log.warning("warming up the decision path failed, retrying: %s", self.failure)
            else:
                self.failure = None
                self._ready.set()
            if not self._first.done():
                self._first.set_result(None)
                self._settled = True
            if self._ready.is_set() or self._stopped.wait(self._retry_s):
                return
