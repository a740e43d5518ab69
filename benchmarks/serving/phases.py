"""The phases of a serving run, each on a freshly started and primed ``relevo serve``, with
the load sent from one client process of its own (so that its CPU is billed to neither
server), and the cache lookups and lost traces of each phase read from the server."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from serving.client import http_request
from serving.closed import ClosedResult, closed_from, closed_loop, merged, round_figures
from serving.common import status
from serving.metrics import cache_lookups, traces_dropped
from serving.rate import OPEN_CONNECTIONS, OpenResult, open_from, open_loop
from serving.servers import prime, start_relevo, wait_precomputed

WARMUP_S = 2.0  # before each closed loop's measured seconds
T = TypeVar("T")
Server = tuple[int, int | None]  # port, pid


@dataclass
class Bench:
    """What every phase needs: the client process, the keys and the request bodies."""

    client: ProcessPoolExecutor
    env: dict[str, str]
    scratch: Path
    serve_key: str
    users: list[str]
    bodies: list[bytes]
    args: argparse.Namespace
    server_logs: dict[str, str] = field(default_factory=dict)
    model_load_seconds: dict[str, float] = field(default_factory=dict)
    priming_fallbacks: dict[str, dict[str, int]] = field(default_factory=dict)
    precompute: dict[str, dict[str, float]] = field(default_factory=dict)
    cache_lookups: dict[str, dict[str, float] | None] = field(default_factory=dict)
    traces_dropped: dict[str, float] = field(default_factory=dict)

    def requests(self, port: int) -> list[bytes]:
        return [http_request(port, "/v1/recommend", self.serve_key, b) for b in self.bodies]

    def closed(
        self, port: int, pid: int | None, concurrency: int, seconds: float, busy: bool = False
    ) -> ClosedResult:
        client = ", busy client" if busy else ""
        status.print(
            f"closed loop: {concurrency} in flight, {WARMUP_S:g} s + {seconds:g} s{client}"
        )
        found = self.client.submit(
            closed_loop, port, self.requests(port), concurrency, WARMUP_S, seconds, pid, busy
        )
        return closed_from(found.result())

    def alternating(
        self, floor: Server, relevo: Server, busy: bool = False
    ) -> tuple[ClosedResult, ClosedResult, list[dict[str, float]]]:
        """The floor's and recommend's closed loops, ``--rounds`` rounds each, alternating:
        each figure sums its rounds, and each round's pair gives its own ratio."""
        rounds, each = self.args.rounds, self.args.seconds / self.args.rounds
        floors, served, ratios = [], [], []
        for _ in range(rounds):
            floors.append(self.closed(*floor, self.args.concurrency, each, busy))
            served.append(self.closed(*relevo, self.args.concurrency, each, busy))
            ratios.append(round_figures(floors[-1], served[-1]))
        return merged(floors), merged(served), ratios

    def open(self, port: int) -> OpenResult:
        rate, seconds = self.args.rate, self.args.rate_seconds
        status.print(f"open loop: {rate:g} req/s for {seconds:g} s")
        found = self.client.submit(
            open_loop, port, self.requests(port), rate, seconds, OPEN_CONNECTIONS
        )
        return open_from(found.result())

    def counted(self, name: str, port: int, run: Callable[[], T]) -> T:
        """``run()``, and the server's cache lookups and lost traces during it (warm-up
        included)."""
        before, dropped = cache_lookups(port), traces_dropped(port)
        found = run()
        after = cache_lookups(port)
        self.cache_lookups[name] = None if before is None or after is None else dict(after - before)
        self.traces_dropped[name] = traces_dropped(port) - dropped
        return found

    def relevo(self, phase: str, run: Callable[[int, int], T]) -> T:
        """``run(port, pid)`` on a fresh ``relevo serve``, primed: the circuit breaker a phase
        may open (it stays open 30 s) and its backlog never spill into the next phase."""
        status.print(f"relevo serve (1 worker) for {phase}")
        log = self.scratch / f"serve-{phase}.log"
        with ExitStack() as stack:
            port, pid = start_relevo(self.env, log, stack)
            loaded, primed = prime(port, self.serve_key, self.users)
            self.model_load_seconds[phase] = round(loaded, 2)
            self.priming_fallbacks[phase] = dict(primed)
            status.print(f"first answers after {loaded:.1f} s: {dict(primed)}")
            waited, rankings = wait_precomputed(port)
            self.precompute[phase] = {"seconds": round(waited, 1), "rankings": rankings}
            status.print(f"precomputed {rankings:,.0f} rankings in the background ({waited:.0f} s)")
            try:
                return run(port, pid)
            finally:
                stack.close()
                text = log.read_text(errors="replace").strip()
                if text:
                    self.server_logs[phase] = text[-2000:]
