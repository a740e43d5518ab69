"""The open loop: requests due on a fixed timeline (``rate`` a second) whatever the answers,
each one's latency taken from its due time, so that queueing is not hidden (no coordinated
omission). Run in the client's own process."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from serving.client import Connection, fallback_of, run_async
from serving.common import keep

OPEN_CONNECTIONS = 64  # at most this many requests in flight in the open loop
OPEN_GRACE_S = 5.0  # after the schedule ends, time to send and answer what is queued


@dataclass
class OpenResult:
    """One open-loop run: requests due on a fixed timeline, latency from the due time."""

    rate: float
    seconds: float
    scheduled: int
    sent: int = 0
    answered: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    send_lag_ms: list[float] = field(default_factory=list)  # due time to the actual write
    statuses: Counter[int] = field(default_factory=Counter)
    fallbacks: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    client_cpu_s: float = 0.0
    elapsed_s: float = 0.0

    @property
    def non_200(self) -> int:
        return sum(n for code, n in self.statuses.items() if code != 200)


async def _open_loop(
    port: int, requests: Sequence[bytes], rate: float, seconds: float, connections: int
) -> OpenResult:
    scheduled = round(rate * seconds)
    result = OpenResult(rate, seconds, scheduled)
    queue: asyncio.Queue[tuple[int, float]] = asyncio.Queue()
    pool = [Connection(port) for _ in range(connections)]
    for connection in pool:  # connect before the clock starts, as a warm client would be
        await connection.request(requests[0])
    cpu = time.process_time()
    start = time.perf_counter() + 0.05
    deadline = start + seconds + OPEN_GRACE_S

    async def scheduler() -> None:
        for number in range(scheduled):
            due = start + number / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait((number, due))

    async def worker(connection: Connection) -> None:
        while True:
            number, due = await queue.get()
            try:
                sent_at = time.perf_counter()
                if sent_at >= deadline:
                    continue  # never sent: counted as scheduled - sent
                result.sent += 1
                result.send_lag_ms.append((sent_at - due) * 1000)
                code, body = await connection.request(requests[number % len(requests)])
                result.answered += 1
                result.latencies_ms.append((time.perf_counter() - due) * 1000)
                result.statuses[code] += 1
                if code == 200:
                    result.fallbacks[fallback_of(body)] += 1
                else:
                    keep(result.problems, f"{code or 'no answer'}: {body[:300]!r}")
            finally:
                queue.task_done()

    workers = [asyncio.create_task(worker(c)) for c in pool]
    try:
        await scheduler()
        try:
            await asyncio.wait_for(queue.join(), max(0.0, deadline - time.perf_counter()) + 1.0)
        except TimeoutError:
            keep(result.problems, "some requests were unanswered at the deadline")
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for connection in pool:
            connection.close()
    result.client_cpu_s = time.process_time() - cpu
    result.elapsed_s = time.perf_counter() - start
    return result


def open_loop(
    port: int, requests: Sequence[bytes], rate: float, seconds: float, connections: int
) -> dict[str, Any]:
    """Requests due every ``1/rate`` s whatever the answers; latency from the due time. The
    result's fields, to send back from the client process."""
    return dict(vars(run_async(lambda: _open_loop(port, requests, rate, seconds, connections))))


def open_from(found: dict[str, Any]) -> OpenResult:
    found["statuses"], found["fallbacks"] = Counter(found["statuses"]), Counter(found["fallbacks"])
    return OpenResult(**found)
