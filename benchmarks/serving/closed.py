"""Closed loops: ``concurrency`` requests always in flight, each sent as soon as the previous
one answered, with the CPU each server's event-loop thread spent (from /proc). Run in the
client's own process; the rounds of one loop are then merged, and each round's pair of floor
and recommend gives its own ratio."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serving.client import Connection, read_answer, run_async
from serving.common import keep, rounded


@dataclass
class ClosedResult:
    """One closed-loop run: ``concurrency`` requests always in flight for ``seconds``."""

    seconds: float
    completed: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    fallbacks: Counter[str] = field(default_factory=Counter)
    took_ms: list[float] = field(default_factory=list)  # as the answers say
    problems: list[str] = field(default_factory=list)
    client_cpu_s: float = 0.0
    server_cpu_s: float | None = None
    server_main_cpu_s: float | None = None  # its event loop's thread alone
    stolen_s: float | None = None  # CPU time the hypervisor gave elsewhere, all CPUs summed

    @property
    def per_second(self) -> float:
        return self.completed / self.seconds

    @property
    def non_200(self) -> int:
        return sum(n for code, n in self.statuses.items() if code != 200)

    @property
    def not_none(self) -> int:
        return sum(n for name, n in self.fallbacks.items() if name != "none")


def merged(results: Sequence[ClosedResult]) -> ClosedResult:
    """Rounds of one closed loop as one run: counts and seconds summed, latencies pooled."""
    total = ClosedResult(sum(r.seconds for r in results))
    for result in results:
        total.completed += result.completed
        total.latencies_ms += result.latencies_ms
        total.statuses += result.statuses
        total.fallbacks += result.fallbacks
        total.took_ms += result.took_ms
        total.client_cpu_s += result.client_cpu_s
        for problem in result.problems:
            keep(total.problems, problem)
    for name in ("server_cpu_s", "server_main_cpu_s", "stolen_s"):
        spent = [getattr(r, name) for r in results]
        setattr(total, name, None if None in spent else sum(spent))
    return total


# --- CPU time, from /proc -----------------------------------------------------------------


def stolen_seconds() -> float | None:
    """CPU seconds the hypervisor has run others on this machine's CPUs since boot (the
    ``steal`` column of /proc/stat); None where there is no such column."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def server_cpu_seconds(pid: int | None, main_thread: bool = False) -> float | None:
    """User + system CPU seconds of a process (all its threads), or of its main thread alone
    (the event loop's), from /proc; None elsewhere."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/task/{pid}/stat" if main_thread else f"/proc/{pid}/stat")
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


# --- the loop, run in the client process --------------------------------------------------


async def _closed_loop(
    port: int,
    requests: Sequence[bytes],
    concurrency: int,
    warmup: float,
    seconds: float,
    server_pid: int | None,
    busy: bool,
) -> ClosedResult:
    result = ClosedResult(seconds)
    turn = itertools.count()
    connections = [Connection(port) for _ in range(concurrency)]
    started = time.perf_counter()
    measure_from, stop = started + warmup, started + warmup + seconds

    async def worker(connection: Connection) -> None:
        while (now := time.perf_counter()) < stop:
            code, body = await connection.request(requests[next(turn) % len(requests)])
            done = time.perf_counter()
            if not measure_from <= done <= stop:
                continue
            result.completed += 1
            result.latencies_ms.append((done - now) * 1000)
            result.statuses[code] += 1
            if code == 200:
                fallback, took = read_answer(body)
                result.fallbacks[fallback] += 1
                if took is not None:
                    result.took_ms.append(took)
            else:
                keep(result.problems, f"{code or 'no answer'}: {body[:300]!r}")

    async def meter() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))

        def readings() -> tuple[float | None, ...]:
            return (
                server_cpu_seconds(server_pid),
                server_cpu_seconds(server_pid, main_thread=True),
                stolen_seconds(),
            )

        cpu, before = time.process_time(), readings()
        await asyncio.sleep(max(0.0, stop - time.perf_counter()))
        result.client_cpu_s = time.process_time() - cpu
        spent = [
            None if a is None or b is None else b - a
            for a, b in zip(before, readings(), strict=True)
        ]
        result.server_cpu_s, result.server_main_cpu_s, result.stolen_s = spent

    async def spin() -> None:
        """Keeps the client's loop polling (never asleep in epoll) until the run ends."""
        while time.perf_counter() < stop:
            await asyncio.sleep(0)

    try:
        spinning = [spin()] if busy else []
        await asyncio.gather(meter(), *spinning, *(worker(c) for c in connections))
    finally:
        for connection in connections:
            connection.close()
    return result


def closed_loop(
    port: int,
    requests: Sequence[bytes],
    concurrency: int,
    warmup: float,
    seconds: float,
    server_pid: int | None,
    busy: bool = False,
) -> dict[str, Any]:
    """``concurrency`` requests in flight, each sent as soon as the previous one answered;
    ``busy``: the client polls without ever sleeping (see serve.py's docstring). The result's
    fields, to send back from the client process."""
    result = run_async(
        lambda: _closed_loop(port, requests, concurrency, warmup, seconds, server_pid, busy)
    )
    return dict(vars(result))


def closed_from(found: dict[str, Any]) -> ClosedResult:
    found["statuses"], found["fallbacks"] = Counter(found["statuses"]), Counter(found["fallbacks"])
    return ClosedResult(**found)


# --- figures of a loop and of a floor-recommend pair --------------------------------------


def main_thread_us(result: ClosedResult) -> float | None:
    """CPU microseconds of the server's event-loop thread per answer: what each request costs
    the thread that bounds one worker, whatever the machine's other threads were doing."""
    if result.server_main_cpu_s is None or not result.completed:
        return None
    return rounded(result.server_main_cpu_s / result.completed * 1e6, 1)


def cpu_ratio(floor: ClosedResult, served: ClosedResult) -> float | None:
    """The floor's event-loop CPU per answer over recommend's: the ratio the two would reach
    with both loops always busy. Above the req/s ratio when Relevo's loop thread waited (for
    the GIL, or for the client) more than the floor's did."""
    floor_us, served_us = main_thread_us(floor), main_thread_us(served)
    if floor_us is None or not served_us:
        return None
    return round(floor_us / served_us, 3)


def stolen_share(result: ClosedResult) -> float | None:
    """The share of the machine's CPU time the hypervisor ran others during the loop: on a
    shared host, rounds that lost much of it measure the neighbours as much as the servers."""
    if result.stolen_s is None:
        return None
    return round(result.stolen_s / (result.seconds * (os.cpu_count() or 1)), 3)


def round_figures(floor: ClosedResult, served: ClosedResult) -> dict[str, Any]:
    """One round's floor and recommend throughput, and their ratios."""
    return {
        "floor_rps": round(floor.per_second, 1),
        "recommend_rps": round(served.per_second, 1),
        "ratio": round(served.per_second / max(floor.per_second, 1e-9), 3),
        "main_thread_cpu_ratio": cpu_ratio(floor, served),
        "stolen_share": [stolen_share(floor), stolen_share(served)],
    }
