"""Serving benchmark: ``POST /v1/recommend`` against a bare Starlette floor, at a fixed rate,
and how fast an event shows in the next answer.

Why these figures: a bare Starlette app on the same uvicorn (one worker) that reads the body and
answers a fixed, pre-encoded 10-item recommend answer is the fastest any endpoint of this stack
can be (the floor). Relevo over that floor (the ratio) is what a decision costs on top: the key
check, decoding, the person's state, the hybrid model, policy, reasons and the trace, written
without blocking. Closed-loop throughput hides queueing, so latency is also measured open loop
at a fixed rate, from each request's scheduled send time (coordinated omission is not hidden).
Freshness is the time from an event's ack to the first answer whose trace shows that event.
A run with one request in flight gives the model path's own time, for reference.

The floor and recommend closed loops alternate, ``--rounds`` times each (floor, recommend,
floor, ...), each round ``--seconds / --rounds`` long, on two servers kept up side by side
(the one not measured is idle): these machines drift. The floor alone came out at 12.2k to
18.2k req/s from run to run, and at 10.4k to 13.9k within one run's half minute, while the
ratios of one run's rounds mostly stayed within 0.04 of each other (once 0.41 to 0.51). Each
figure sums its rounds; every round's own ratio is kept under ``details``. Each server's
event-loop thread is metered too (CPU per answer, from /proc): one worker is bound by that
thread, so the ratio of the two threads' CPU per answer tells a server that did more work per
answer from one whose loop sat waiting (for the GIL its other threads held, or for the client).
The CPU time the hypervisor gave to other guests meanwhile (``steal``) is reported per loop.

The same rounds are then run again with a client that never sleeps (its loop polls instead of
waiting in epoll). On these two-core virtual machines, a server's write to a sleeping client
also pays for waking it, in the server's own event-loop time, and a slower server finds its
client asleep more often: a first measurement gave recommend +32% and the floor +14% with the
client busy. That ratio (``details.busy_client``) is the servers' own work, wake-ups aside;
the headline ratio stays the one with an ordinary client.

Every measured answer is a decision of its own, with its trace written: the placement's answer
cache (an identical request within ``cache_ttl_s`` gets the same decision back, no new trace)
is turned off here, because the clients' 4,372 people come round again within its two seconds
once the server is fast. Decisions prepared for a person's unchanged state are reused (a new
decision and trace each time); their hit rate is printed with the other caches'.

An answer whose ``fallback`` is not "none" did not come from the model (a timeout, or the
circuit breaker, which then stays open 30 s): such answers are counted, and a run where most
fell back is flagged as not measuring the model path. So that one phase's breaker and backlog
never spill into the next, each Relevo phase runs on a freshly started, primed server.

The load generator is a raw asyncio HTTP/1.1 keep-alive client in its own process, so its CPU is
not billed to either server; its CPU share is reported, to show whether it was the bottleneck.
Goals (ratio >= 0.5 per worker, p99 <= 5 ms at 1,000 req/s, freshness p99 <= 50 ms) are
printed beside the figures, never asserted. Setup (a fresh temporary data dir, Online Retail or
synthetic data, every model trained) takes about a minute and a full run about four; talks
only to 127.0.0.1. ``--prepare-data-dir DIR`` keeps the set-up data dir, and
``--skip-setup-data-dir DIR`` serves it again (each run adds its 200 freshness events to it).

    .venv/bin/python benchmarks/serve.py [--json] [--data PATH] [--concurrency 32]
        [--seconds 15] [--rounds 3] [--rate 1000] [--rate-seconds 10]
        [--prepare-data-dir DIR | --skip-setup-data-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import itertools
import json
import math
import multiprocessing
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec
from rich.console import Console
from rich.table import Table

from processes import free_port, stop_server

VENV_BIN = Path(sys.executable).parent
RELEVO = VENV_BIN / "relevo"
REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "online-retail" / "online_retail.csv.gz"
RETAIL_REGIONS = ("uk", "eu", "row")
SYNTHETIC_REGIONS = ("eu", "us")
SYNTHETIC_PEOPLE, SYNTHETIC_ITEMS = 3_000, 1_000
SYNTHETIC_DIR = "bench-data"  # inside the data dir, so a prepared dir can be reused
TENANT = "bench"
# Pseudonyms depend on the secret: a fixed one lets a prepared data dir be served again.
SECRET = "relevo-serve-benchmark-fixed-secret-not-for-production-use"
SYNCHRONOUS = "normal"  # a read benchmark: the durability of writes is not what is measured
HOST = "127.0.0.1"
K = 10
WARMUP_S = 2.0
SINGLE_SECONDS = 5.0  # the closed loop with one request in flight: the model path's own time
REQUEST_TIMEOUT_S = 30.0  # an answer that takes longer counts as none (status 0)
OPEN_CONNECTIONS = 64  # at most this many requests in flight in the open loop
OPEN_GRACE_S = 5.0  # after the schedule ends, time to send and answer what is queued
FRESHNESS_ROUNDS = 200
FRESHNESS_LIMIT_S = 1.0  # per round: give up on seeing the event after this long
FRESHNESS_ATTEMPTS = 100  # and after this many answers that do not show it
RATIO_GOAL = 0.5
P99_AT_RATE_GOAL_MS = 5.0
FRESHNESS_GOAL_MS = 50.0
CLIENT_SATURATED = 0.9  # a client process busier than this share of a core may be the limit

status = Console(stderr=True)
T = TypeVar("T")


# --- what the client reads of an answer ---------------------------------------------------


class PersonState(msgspec.Struct):
    recent_items: list[str] = []


class TraceView(msgspec.Struct):
    person_state: PersonState = msgspec.field(default_factory=PersonState)
    stages_ms: dict[str, float] = {}


class AnswerView(msgspec.Struct):
    """The part of a recommend answer the client checks (unknown fields are skipped)."""

    fallback: str = ""
    took_ms: float | None = None  # the server's own time for the decision
    trace: TraceView | None = None


class EventsView(msgspec.Struct):
    counts: dict[str, int] = {}


ANSWER = msgspec.json.Decoder(AnswerView)
EVENTS = msgspec.json.Decoder(EventsView)


# --- results ------------------------------------------------------------------------------


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
            _keep(total.problems, problem)
    for name in ("server_cpu_s", "server_main_cpu_s", "stolen_s"):
        spent = [getattr(r, name) for r in results]
        setattr(total, name, None if None in spent else sum(spent))
    return total


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


@dataclass
class FreshnessResult:
    rounds: int
    acked: int = 0
    reflected: int = 0
    first_try: int = 0
    freshness_ms: list[float] = field(default_factory=list)
    fallbacks: Counter[str] = field(default_factory=Counter)  # of the answers that showed it
    stages_ms: dict[str, list[float]] = field(default_factory=dict)  # from their traces
    problems: list[str] = field(default_factory=list)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile ``q`` (0-100) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _keep(problems: list[str], text: str) -> None:
    if len(problems) < 3:
        problems.append(text)


# --- a minimal HTTP/1.1 keep-alive client -------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection that sends pre-encoded requests, one at a time.

    Far less work per request than a general client, so that the client process is not what
    limits the floor. It reads ``Content-Length`` and chunked bodies, and reconnects after an
    error or ``Connection: close``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(HOST, self.port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader, self.writer = reader, writer
        return reader, writer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one request; its status and body (status 0 and the error if it failed)."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                return await self._exchange(raw)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            self.close()  # TimeoutError is an OSError
            return 0, f"{type(e).__name__}: {e}".encode()

    async def _exchange(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            reader, writer = await self._open()
        else:
            reader, writer = self.reader, self.writer
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        code = int(head[9:12])
        length, chunked, close = None, False, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if chunked:
            body = await self._chunks(reader)
        elif length is not None:
            body = await reader.readexactly(length)
        else:
            body, close = await reader.read(), True
        if close:
            self.close()
        return code, body

    @staticmethod
    async def _chunks(reader: asyncio.StreamReader) -> bytes:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)


def http_request(port: int, path: str, key: str, body: bytes) -> bytes:
    """A complete pre-encoded POST request."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def read_answer(body: bytes) -> tuple[str, float | None]:
    """An answer's fallback and ``took_ms``."""
    try:
        answer = ANSWER.decode(body)
    except msgspec.DecodeError:
        return "(not JSON)", None
    return answer.fallback or "(missing)", answer.took_ms


def fallback_of(body: bytes) -> str:
    return read_answer(body)[0]


def run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on uvloop when it is installed (less client overhead), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(make())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(make())


def loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


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


# --- the load, run in the client process --------------------------------------------------


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
                _keep(result.problems, f"{code or 'no answer'}: {body[:300]!r}")

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
    ``busy``: the client polls without ever sleeping (see the module's docstring)."""
    result = run_async(
        lambda: _closed_loop(port, requests, concurrency, warmup, seconds, server_pid, busy)
    )
    return fields_of(result)


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
                    _keep(result.problems, f"{code or 'no answer'}: {body[:300]!r}")
            finally:
                queue.task_done()

    workers = [asyncio.create_task(worker(c)) for c in pool]
    try:
        await scheduler()
        try:
            await asyncio.wait_for(queue.join(), max(0.0, deadline - time.perf_counter()) + 1.0)
        except TimeoutError:
            _keep(result.problems, "some requests were unanswered at the deadline")
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
    """Requests due every ``1/rate`` s whatever the answers; latency from the due time."""
    return fields_of(run_async(lambda: _open_loop(port, requests, rate, seconds, connections)))


async def _freshness(
    port: int, ingest_key: str, serve_key: str, users: Sequence[str], items: Sequence[str]
) -> FreshnessResult:
    result = FreshnessResult(FRESHNESS_ROUNDS)
    rng = random.Random(11)
    last: dict[str, str] = {}
    connection = Connection(port)
    try:
        for _ in range(FRESHNESS_ROUNDS):
            user = rng.choice(users)
            item = rng.choice([i for i in rng.sample(items, 2) if i != last.get(user)])
            last[user] = item
            now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
            event = {
                "event_id": f"bench-fresh-{uuid.uuid4().hex}",
                "type": "view",
                "occurred_at": now,
                "user_id": user,
                "item_id": item,
            }
            raw = http_request(port, "/v1/events", ingest_key, msgspec.json.encode(event))
            code, body = await connection.request(raw)
            acked = time.perf_counter()
            try:
                accepted = EVENTS.decode(body).counts.get("accepted", 0) if code == 200 else 0
            except msgspec.DecodeError:
                accepted = 0
            if not accepted:
                _keep(result.problems, f"event not accepted ({code}): {body[:300]!r}")
                continue
            result.acked += 1
            ask = {"user_id": user, "k": K, "explain": True}
            raw = http_request(port, "/v1/recommend", serve_key, msgspec.json.encode(ask))
            for attempt in range(FRESHNESS_ATTEMPTS):
                code, body = await connection.request(raw)
                answered = time.perf_counter()
                try:
                    view = ANSWER.decode(body) if code == 200 else None
                except msgspec.DecodeError:
                    view = None
                trace = view.trace if view else None
                if view and trace and trace.person_state.recent_items[:1] == [item]:
                    result.reflected += 1
                    result.first_try += attempt == 0
                    result.freshness_ms.append((answered - acked) * 1000)
                    result.fallbacks[view.fallback] += 1
                    for stage, spent in trace.stages_ms.items():
                        result.stages_ms.setdefault(stage, []).append(spent)
                    break
                if answered - acked >= FRESHNESS_LIMIT_S:
                    _keep(result.problems, f"{item} not first for {user}: {body[:300]!r}")
                    break
    finally:
        connection.close()
    return result


def freshness(
    port: int, ingest_key: str, serve_key: str, users: Sequence[str], items: Sequence[str]
) -> dict[str, Any]:
    """Ingest one view, then ask until an answer's trace shows that item first."""
    return fields_of(run_async(lambda: _freshness(port, ingest_key, serve_key, users, items)))


def fields_of(result: ClosedResult | OpenResult | FreshnessResult) -> dict[str, Any]:
    """A result's fields, to send back from the client process (Counters stay Counters)."""
    return dict(vars(result))


def closed_from(found: dict[str, Any]) -> ClosedResult:
    found["statuses"], found["fallbacks"] = Counter(found["statuses"]), Counter(found["fallbacks"])
    return ClosedResult(**found)


def open_from(found: dict[str, Any]) -> OpenResult:
    found["statuses"], found["fallbacks"] = Counter(found["statuses"]), Counter(found["fallbacks"])
    return OpenResult(**found)


# --- the floor server, in its own process -------------------------------------------------


def floor_answer() -> bytes:
    """A fixed answer shaped like a recommend answer with 10 items."""
    items = [
        {"item_id": f"item-{n}", "score": round(1 - n / 20, 6), "reasons": ["Popular"]}
        for n in range(K)
    ]
    return msgspec.json.encode(
        {
            "decision_id": "uk.floor-benchmark-decision",
            "items": items,
            "strategy": "default",
            "model_version": "hybrid:1",
            "variant": "control",
            "fallback": "none",
            "took_ms": 0.1,
        }
    )


def run_floor_server(port: int) -> None:
    """A bare Starlette app, one POST endpoint that reads the body and answers fixed bytes."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    answer = floor_answer()

    async def recommend(request: Request) -> Response:
        await request.body()
        return Response(answer, media_type="application/json")

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    app = Starlette(
        routes=[
            Route("/v1/recommend", recommend, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
    uvicorn.run(app, host=HOST, port=port, workers=1, log_level="warning", access_log=False)


# --- servers ------------------------------------------------------------------------------


def wait_healthy(port: int, alive: Callable[[], bool], describe: Callable[[], str]) -> None:
    """Poll GET /healthz until it answers 200; fail early if the server exits."""
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the server exited:\n{describe()}")
        try:
            answer = httpx.get(f"http://{HOST}:{port}/healthz", timeout=1.0, trust_env=False)
            if answer.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server was not healthy after 60 s:\n{describe()}")


def start_floor(stack: ExitStack) -> tuple[int, BaseProcess]:
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=run_floor_server, args=(port,), name="floor-server", daemon=True
    )
    process.start()
    stack.callback(stop_process, process)
    wait_healthy(port, process.is_alive, lambda: f"exit code {process.exitcode}")
    return port, process


def stop_process(process: BaseProcess) -> None:
    if process.is_alive():
        process.terminate()
        process.join(10)
    if process.is_alive():
        process.kill()
        process.join()


def start_relevo(env: dict[str, str], log: Path, stack: ExitStack) -> tuple[int, int]:
    port = free_port()
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [str(RELEVO), "serve", "--host", HOST, "--port", str(port), "--workers", "1"],
            env=env,
            cwd=log.parent,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    stack.callback(stop_server, server)
    wait_healthy(port, lambda: server.poll() is None, log.read_text)
    return port, server.pid


def cache_lookups(port: int) -> Counter[str] | None:
    """Relevo's ``relevo_cache_lookups_total`` counters from ``/metrics``, by "cache result"
    (None if the server has no such metric)."""
    try:
        answer = httpx.get(f"http://{HOST}:{port}/metrics", timeout=10.0, trust_env=False)
    except httpx.TransportError:
        return None
    if answer.status_code != 200:
        return None
    found: Counter[str] = Counter()
    for line in answer.text.splitlines():
        matched = re.match(r"relevo_cache_lookups_total\{(.*)\} (\S+)$", line)
        if matched:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', matched[1]))
            found[f"{labels.get('cache')} {labels.get('result')}"] += float(matched[2])
    return found or None


def counter_total(port: int, name: str) -> float:
    """An unlabelled counter of Relevo's from ``/metrics`` (0 if absent)."""
    try:
        answer = httpx.get(f"http://{HOST}:{port}/metrics", timeout=10.0, trust_env=False)
    except httpx.TransportError:
        return 0.0
    matched = re.search(rf"^{name} (\S+)$", answer.text, re.M)
    return float(matched[1]) if matched else 0.0


def precomputed(port: int) -> float:
    return counter_total(port, "relevo_precomputed_rankings_total")


def traces_dropped(port: int) -> float:
    """Traces the server lost (its writer's queue full): the answers counted must have had
    theirs written, or Relevo would be measured without part of its work."""
    return counter_total(port, "relevo_traces_dropped_total")


def wait_precomputed(port: int, limit_s: float = 180.0) -> tuple[float, float]:
    """Wait until the background precompute of active people's rankings has settled (the
    counter unchanged for 6 s, past its first sweep): a steady-state server, as in production
    some seconds after a start or a promotion. Returns (seconds waited, rankings)."""
    started = time.perf_counter()
    last, stable_since = -1.0, time.perf_counter()
    while time.perf_counter() - started < limit_s:
        now = precomputed(port)
        if now != last:
            last, stable_since = now, time.perf_counter()
        elif now > 0 and time.perf_counter() - stable_since >= 6:
            break
        time.sleep(0.5)
    return time.perf_counter() - started, last


def code_version() -> str | None:
    """The commit the code under test is at, and whether the tree has changes (read only)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        )
        changes = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(REPO), "status", "--porcelain", "-uno"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + (" + uncommitted changes" if changes.stdout.strip() else "")


# --- setup --------------------------------------------------------------------------------


@dataclass
class DataSet:
    label: str
    events: Path
    items: Path
    preset: str | None
    regions: tuple[str, ...]


def relevo_env(data_dir: Path) -> dict[str, str]:
    """The benchmark's own configuration only: no RELEVO_* setting of the caller leaks in."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("RELEVO_")}
    env |= {
        "RELEVO_DATA_DIR": str(data_dir),
        "RELEVO_SECRET": SECRET,
        "RELEVO_SQLITE_SYNCHRONOUS": SYNCHRONOUS,
        "RELEVO_PLACEMENTS": json.dumps({"default": {"cache_ttl_s": 0}}),  # see the docstring
    }
    return env


def run_relevo(args: Sequence[str], env: dict[str, str], cwd: Path) -> str:
    """Run one relevo command; its stdout, or an error carrying its stderr."""
    done = subprocess.run(
        [str(RELEVO), *args], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"relevo {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def key_in(output: str, command: str) -> str:
    found = re.search(r"rlv_[A-Za-z0-9_-]+", output)
    if found is None:
        raise RuntimeError(f"no key in the output of `relevo {command}`:\n{output}")
    return found.group(0)


def choose_data(path: Path, data_dir: Path) -> DataSet:
    """Online Retail if the file is there, else the synthetic set under the data dir."""
    if path.is_file():
        return DataSet("Online Retail", path, path, "online-retail", RETAIL_REGIONS)
    synthetic = data_dir / SYNTHETIC_DIR
    return DataSet(
        f"synthetic ({SYNTHETIC_PEOPLE:,} people, {SYNTHETIC_ITEMS:,} items)",
        synthetic / "events.jsonl",
        synthetic / "items.jsonl",
        None,
        SYNTHETIC_REGIONS,
    )


def set_up(data: DataSet, env: dict[str, str], cwd: Path) -> tuple[str, dict[str, float]]:
    """Tenant, catalog, events and every model; the admin key and each step's seconds."""
    timings: dict[str, float] = {}

    def step(name: str, args: list[str]) -> str:
        status.print(f"setup: relevo {' '.join(args)}")
        started = time.perf_counter()
        output = run_relevo(args, env, cwd)
        timings[name] = round(time.perf_counter() - started, 1)
        return output

    if data.preset is None and not data.events.is_file():
        status.print("no Online Retail file (--data): generating synthetic data")
        step(
            "generate",
            [
                "generate",
                str(data.events.parent),
                "--people",
                str(SYNTHETIC_PEOPLE),
                "--items",
                str(SYNTHETIC_ITEMS),
            ],
        )
    regions = ",".join(data.regions)
    created = step("tenants_create", ["tenants", "create", TENANT, "--regions", regions])
    preset = ["--preset", data.preset] if data.preset else []
    step("items_import", ["items", "import", str(data.items), "-t", TENANT, *preset])
    step("import", ["import", str(data.events), "-t", TENANT, *preset])
    step("train", ["train", "-t", TENANT])
    return key_in(created, "tenants create"), timings


def read_people_and_items(data: DataSet) -> tuple[list[str], list[str]]:
    """The distinct user ids (Online Retail: CustomerID) and item ids of the data, sorted."""
    users: set[str] = set()
    items: set[str] = set()
    if data.preset == "online-retail":
        import pyarrow as pa
        import pyarrow.csv as pacsv

        wanted = ["CustomerID", "StockCode"]
        table = pacsv.read_csv(
            data.events,
            convert_options=pacsv.ConvertOptions(
                include_columns=wanted,
                column_types={name: pa.string() for name in wanted},
                strings_can_be_null=False,
            ),
        )
        users.update(table.column("CustomerID").to_pylist())
        items.update(table.column("StockCode").to_pylist())
    else:
        opener = gzip.open if data.events.suffix == ".gz" else open
        with opener(data.events, "rb") as file:
            for line in file:
                record = msgspec.json.decode(line)
                users.add(str(record.get("user_id") or ""))
                items.add(str(record.get("item_id") or ""))
    users.discard("")
    items.discard("")
    return sorted(users), sorted(items)


def prime(port: int, key: str, users: Sequence[str]) -> tuple[float, Counter[str]]:
    """Sequential recommends until the model has loaded (an answer without fallback, or 60 s):
    the seconds it took, and the fallbacks of the priming answers."""
    seen: Counter[str] = Counter()
    started = time.perf_counter()
    with httpx.Client(
        base_url=f"http://{HOST}:{port}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=60.0,
        trust_env=False,
    ) as client:
        for user in itertools.islice(itertools.cycle(users), 2_000):
            answer = client.post("/v1/recommend", json={"user_id": user, "k": K})
            if answer.status_code != 200:
                raise RuntimeError(f"recommend answered {answer.status_code}: {answer.text[:500]}")
            seen[answer.json().get("fallback", "(missing)")] += 1
            if seen["none"] >= 20 or time.perf_counter() - started > 60:
                break
    return time.perf_counter() - started, seen


# --- report -------------------------------------------------------------------------------


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def closed_details(result: ClosedResult) -> dict[str, Any]:
    return {
        "rps": round(result.per_second, 1),
        "p50_ms": rounded(percentile(result.latencies_ms, 50)),
        "p90_ms": rounded(percentile(result.latencies_ms, 90)),
        "p99_ms": rounded(percentile(result.latencies_ms, 99)),
        "max_ms": rounded(max(result.latencies_ms, default=None)),
        "completed": result.completed,
        "non_200": result.non_200,
        "statuses": {str(code): n for code, n in sorted(result.statuses.items())},
        "fallbacks": dict(result.fallbacks.most_common()),
        "fallback_not_none": result.not_none,
        "server_took_p50_ms": rounded(percentile(result.took_ms, 50)),
        "server_took_p99_ms": rounded(percentile(result.took_ms, 99)),
        "client_cpu_share": round(result.client_cpu_s / result.seconds, 3),
        "server_cpu_cores": rounded(
            None if result.server_cpu_s is None else result.server_cpu_s / result.seconds, 3
        ),
        "server_main_thread_cores": rounded(
            None if result.server_main_cpu_s is None else result.server_main_cpu_s / result.seconds,
            3,
        ),
        "server_main_thread_us_per_request": main_thread_us(result),
        "stolen_share": stolen_share(result),
        "problems": result.problems,
    }


def stolen_share(result: ClosedResult) -> float | None:
    """The share of the machine's CPU time the hypervisor ran others during the loop: on a
    shared host, rounds that lost much of it measure the neighbours as much as the servers."""
    if result.stolen_s is None:
        return None
    return round(result.stolen_s / (result.seconds * (os.cpu_count() or 1)), 3)


def cpu_ratio(floor: ClosedResult, served: ClosedResult) -> float | None:
    """The floor's event-loop CPU per answer over recommend's: the ratio the two would reach
    with both loops always busy. Above the req/s ratio when Relevo's loop thread waited (for
    the GIL, or for the client) more than the floor's did."""
    floor_us, served_us = main_thread_us(floor), main_thread_us(served)
    if floor_us is None or not served_us:
        return None
    return round(floor_us / served_us, 3)


def main_thread_us(result: ClosedResult) -> float | None:
    """CPU microseconds of the server's event-loop thread per answer: what each request costs
    the thread that bounds one worker, whatever the machine's other threads were doing."""
    if result.server_main_cpu_s is None or not result.completed:
        return None
    return rounded(result.server_main_cpu_s / result.completed * 1e6, 1)


def open_details(result: OpenResult) -> dict[str, Any]:
    return {
        "rate": result.rate,
        "seconds": result.seconds,
        "scheduled": result.scheduled,
        "sent": result.sent,
        "answered": result.answered,
        "p50_ms": rounded(percentile(result.latencies_ms, 50)),
        "p99_ms": rounded(percentile(result.latencies_ms, 99)),
        "max_ms": rounded(max(result.latencies_ms, default=None)),
        "send_lag_p99_ms": rounded(percentile(result.send_lag_ms, 99)),
        "non_200": result.non_200,
        "fallbacks": dict(result.fallbacks.most_common()),
        "client_cpu_share": round(result.client_cpu_s / max(result.elapsed_s, 1e-9), 3),
        "problems": result.problems,
    }


def summary(
    floor: ClosedResult,
    single: ClosedResult,
    served: ClosedResult,
    busy: tuple[ClosedResult, ClosedResult],
    floor_open: OpenResult,
    served_open: OpenResult,
    fresh: FreshnessResult,
    context: dict[str, Any],
) -> dict[str, Any]:
    """The headline figures, then everything else under ``details``."""
    busy_floor, busy_served = busy
    return {
        "floor_rps": round(floor.per_second, 1),
        "recommend_rps": round(served.per_second, 1),
        "ratio": round(served.per_second / floor.per_second, 3) if floor.completed else None,
        "p50_ms": rounded(percentile(served.latencies_ms, 50)),
        "p99_ms": rounded(percentile(served.latencies_ms, 99)),
        "p99_at_1000_ms": rounded(percentile(served_open.latencies_ms, 99)),
        "freshness_p99_ms": rounded(percentile(fresh.freshness_ms, 99)),
        "details": {
            **context,
            "main_thread_cpu_ratio": cpu_ratio(floor, served),
            "floor": closed_details(floor),
            "recommend_one_in_flight": closed_details(single),
            "recommend": closed_details(served),
            "busy_client": {
                "ratio": round(busy_served.per_second / busy_floor.per_second, 3)
                if busy_floor.completed
                else None,
                "main_thread_cpu_ratio": cpu_ratio(busy_floor, busy_served),
                "floor": closed_details(busy_floor),
                "recommend": closed_details(busy_served),
            },
            "floor_open_loop": open_details(floor_open),
            "recommend_open_loop": open_details(served_open),
            "freshness": {
                "rounds": fresh.rounds,
                "acked": fresh.acked,
                "reflected": fresh.reflected,
                "reflected_first_try": fresh.first_try,
                "p50_ms": rounded(percentile(fresh.freshness_ms, 50)),
                "p99_ms": rounded(percentile(fresh.freshness_ms, 99)),
                "max_ms": rounded(max(fresh.freshness_ms, default=None)),
                "fallbacks": dict(fresh.fallbacks.most_common()),
                "stages_p50_ms": {
                    stage: rounded(percentile(spent, 50), 3)
                    for stage, spent in fresh.stages_ms.items()
                },
                "problems": fresh.problems,
            },
        },
    }


def share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def p50_p99(run: dict[str, Any]) -> str:
    return f"{ms(run['p50_ms'])} / {ms(run['p99_ms'])}"


def fallback_text(fallbacks: dict[str, int]) -> str:
    others = {name: n for name, n in fallbacks.items() if name != "none"}
    if not others:
        return "0"
    return ", ".join(f"{name} {n:,}" for name, n in others.items())


def cache_text(lookups: dict[str, float] | None) -> str:
    """Hits of each cache over its lookups (warm-up included), e.g. "rankings 90% of 1,000"."""
    if not lookups:
        return "n/a"
    parts = []
    for cache in sorted({key.split(" ")[0] for key in lookups}):
        hits, misses = lookups.get(f"{cache} hit", 0), lookups.get(f"{cache} miss", 0)
        if hits + misses:
            parts.append(f"{cache} {hits / (hits + misses):.0%} of {hits + misses:,.0f}")
    return ", ".join(parts) or "n/a"


def render_table(figures: dict[str, Any]) -> Table:
    d = figures["details"]
    floor, single, rec = d["floor"], d["recommend_one_in_flight"], d["recommend"]
    fo, ro, fresh = d["floor_open_loop"], d["recommend_open_loop"], d["freshness"]
    rate, c = f"{d['rate']:,.0f}/s", d["concurrency"]
    caches = d["cache_lookups"]
    table = Table("measure", "value", "unit", "goal", title="Relevo serving benchmark")
    table.add_row("code", d["code"] or "n/a", "", "")
    table.add_row("data set", d["data_set"], "", "")
    table.add_row("users rotated / items", f"{d['users']:,} / {d['items']:,}", "", "")
    table.add_row("CPU count", str(d["cpu_count"]), "", "")
    table.add_row("PRAGMA synchronous", d["sqlite_synchronous"], "", "")
    table.add_row("servers", "uvicorn, 1 worker each", "", "")
    table.add_row("client", f"raw HTTP/1.1 on {d['loop']}", "", "")
    table.add_row(
        "closed loop",
        f"{c} in flight, {d['seconds']:g} s in {d['rounds']} rounds (+ {WARMUP_S:g} s each),"
        " floor and recommend alternating",
        "",
        "",
    )
    table.add_row("floor", f"{figures['floor_rps']:,.0f}", "req/s", "")
    table.add_row("floor p50 / p99", p50_p99(floor), "ms", "")
    table.add_row("floor: client CPU", f"{floor['client_cpu_share']:.0%}", "of a core", "")
    warm = d.get("precompute", {}).get("closed loops", {})
    if warm:
        table.add_row(
            "warm-up: rankings precomputed",
            f"{warm['rankings']:,.0f} in {warm['seconds']:.0f} s (before measuring)",
            "",
            "",
        )
    table.add_row("recommend, 1 in flight", f"{single['rps']:,.0f}", "req/s", "")
    table.add_row("  p50 / p99", p50_p99(single), "ms", "")
    took = f"{ms(single['server_took_p50_ms'])} / {ms(single['server_took_p99_ms'])}"
    table.add_row("  took_ms p50 / p99", took, "ms", "")
    table.add_row("  fallback not none", fallback_text(single["fallbacks"]), "answers", "0")
    table.add_row("  cache hits", cache_text(caches.get("recommend_one_in_flight")), "", "")
    table.add_row(f"recommend, {c} in flight", f"{figures['recommend_rps']:,.0f}", "req/s", "")
    table.add_row("  p50 / p99", p50_p99(rec), "ms", "")
    cores, main = rec["server_cpu_cores"], rec["server_main_thread_cores"]
    table.add_row(
        "  server CPU (its event loop's thread)",
        "n/a" if cores is None or main is None else f"{cores:.2f} ({main:.2f})",
        "cores",
        "",
    )
    table.add_row("  non-200", f"{rec['non_200']:,} of {rec['completed']:,}", "answers", "0")
    table.add_row("  fallback not none", fallback_text(rec["fallbacks"]), "answers", "0")
    table.add_row("  cache hits", cache_text(caches.get("recommend")), "", "")
    dropped = d["traces_dropped"].get("recommend")
    table.add_row("  traces lost", "n/a" if dropped is None else f"{dropped:,.0f}", "traces", "0")
    ratio = figures["ratio"]
    table.add_row(
        "ratio recommend / floor",
        "n/a" if ratio is None else f"{ratio:.3f}",
        "",
        f">= {RATIO_GOAL} per worker",
    )
    table.add_row(
        "  ratio of each round",
        ", ".join(f"{r['ratio']:.3f}" for r in d["closed_loop_rounds"]),
        "",
        "",
    )
    floor_us, rec_us = (
        floor["server_main_thread_us_per_request"],
        rec["server_main_thread_us_per_request"],
    )
    table.add_row(
        "  event-loop CPU per answer: floor / recommend",
        f"{ms(floor_us)} / {ms(rec_us)}; ratio {d['main_thread_cpu_ratio'] or 'n/a'}",
        "µs",
        "",
    )
    table.add_row(
        "  CPU stolen by the host: floor / recommend",
        f"{share(floor['stolen_share'])} / {share(rec['stolen_share'])}",
        "of the machine",
        "",
    )
    busy = d["busy_client"]
    table.add_row(
        "with a client that never sleeps: floor / recommend",
        f"{busy['floor']['rps']:,.0f} / {busy['recommend']['rps']:,.0f}",
        "req/s",
        "",
    )
    each = ", ".join(f"{r['ratio']:.3f}" for r in d["busy_client_rounds"])
    table.add_row(
        "  ratio (of each round)",
        "n/a" if busy["ratio"] is None else f"{busy['ratio']:.3f} ({each})",
        "",
        "",
    )
    table.add_row(
        "  event-loop CPU per answer: floor / recommend",
        f"{ms(busy['floor']['server_main_thread_us_per_request'])} / "
        f"{ms(busy['recommend']['server_main_thread_us_per_request'])};"
        f" ratio {busy['main_thread_cpu_ratio'] or 'n/a'}",
        "µs",
        "",
    )
    table.add_row(f"floor at {rate}: p50 / p99", p50_p99(fo), "ms", "")
    table.add_row(f"recommend at {rate}: p50", ms(ro["p50_ms"]), "ms", "")
    table.add_row(
        f"recommend at {rate}: p99",
        ms(figures["p99_at_1000_ms"]),
        "ms",
        f"<= {P99_AT_RATE_GOAL_MS:g}",
    )
    table.add_row("  sent / scheduled", f"{ro['sent']:,} / {ro['scheduled']:,}", "requests", "all")
    table.add_row("  answered", f"{ro['answered']:,}", "requests", "all")
    table.add_row("  non-200", f"{ro['non_200']:,}", "answers", "0")
    table.add_row("  fallback not none", fallback_text(ro["fallbacks"]), "answers", "0")
    table.add_row("  cache hits", cache_text(caches.get("recommend_open_loop")), "", "")
    table.add_row("freshness p50", ms(fresh["p50_ms"]), "ms", "")
    table.add_row(
        "freshness p99", ms(figures["freshness_p99_ms"]), "ms", f"<= {FRESHNESS_GOAL_MS:g}"
    )
    table.add_row(
        "freshness: reflected",
        f"{fresh['reflected']:,} of {fresh['rounds']:,}",
        "events",
        "all",
    )
    table.add_row("  on the first answer", f"{fresh['reflected_first_try']:,}", "events", "")
    table.add_row("  fallback not none", fallback_text(fresh["fallbacks"]), "answers", "0")
    table.add_row("  cache hits", cache_text(caches.get("freshness")), "", "")
    stages = ", ".join(f"{k} {v:g}" for k, v in fresh["stages_p50_ms"].items())
    table.add_row("  trace stages p50", stages or "n/a", "ms", "")
    return table


def warnings(figures: dict[str, Any]) -> list[str]:
    """What makes a figure doubtful, in words."""
    d = figures["details"]
    found = []
    for name in ("floor", "recommend_one_in_flight", "recommend"):
        run = d[name]
        if run["non_200"]:
            found.append(f"{name}: {run['non_200']:,} answers were not 200: {run['problems']}")
        if run["client_cpu_share"] >= CLIENT_SATURATED:
            found.append(
                f"{name}: the client process used {run['client_cpu_share']:.0%} of a core; it may"
                " be the bottleneck, so the figure is a lower bound"
            )
    for name in ("recommend_one_in_flight", "recommend"):
        run = d[name]
        if run["completed"] and run["fallback_not_none"] * 2 > run["completed"]:
            found.append(
                f"{name}: {run['fallback_not_none']:,} of {run['completed']:,} answers fell"
                f" back {run['fallbacks']}: NOT a valid measurement of the model path"
            )
        elif run["fallback_not_none"]:
            found.append(f"{name}: {run['fallback_not_none']:,} answers fell back")
    for name in ("floor_open_loop", "recommend_open_loop"):
        run = d[name]
        if run["sent"] < run["scheduled"] or run["answered"] < run["sent"]:
            found.append(
                f"{name}: {run['sent']:,} of {run['scheduled']:,} sent, {run['answered']:,}"
                " answered: the rate was not kept, and p99 leaves out what was never answered"
            )
        if run["non_200"]:
            found.append(f"{name}: {run['non_200']:,} answers were not 200: {run['problems']}")
    ro = d["recommend_open_loop"]
    if ro["answered"] and ro["fallbacks"].get("none", 0) * 2 < ro["answered"]:
        found.append(
            f"recommend_open_loop: most answers fell back {ro['fallbacks']}: NOT a valid"
            " measurement of the model path"
        )
    fresh = d["freshness"]
    if fresh["reflected"] < fresh["rounds"]:
        found.append(
            f"freshness: {fresh['reflected']} of {fresh['rounds']} events reflected:"
            f" {fresh['problems']}"
        )
    for phase, text in d["server_logs"].items():
        found.append(f"relevo serve wrote to its log during {phase}:\n{text}")
    return found


# --- main ---------------------------------------------------------------------------------


def positive(kind: type[int] | type[float]) -> Callable[[str], Any]:
    def parse(text: str) -> int | float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text} is not > 0")
        return value

    return parse


def benchmark_parser(doc: str) -> argparse.ArgumentParser:
    """The options every serving benchmark takes: ``--json``, ``--data``, and where its data
    dir comes from (``--skip-setup-data-dir`` or ``--prepare-data-dir``)."""
    parser = argparse.ArgumentParser(description=" ".join(doc.split("\n\n")[0].split()))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Online Retail CSV")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--skip-setup-data-dir",
        type=Path,
        metavar="DIR",
        help="reuse a data dir a serving benchmark prepared (tenant bench, trained); it is kept",
    )
    where.add_argument(
        "--prepare-data-dir",
        type=Path,
        metavar="DIR",
        help="set up into DIR (new or empty) instead of a temporary dir, and keep it",
    )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--concurrency", type=positive(int), default=32, help="requests in flight")
    parser.add_argument(
        "--seconds",
        type=positive(float),
        default=15.0,
        help="measured s per closed loop (over all its rounds)",
    )
    parser.add_argument(
        "--rounds",
        type=positive(int),
        default=3,
        help="the floor and recommend closed loops alternate this many times each",
    )
    parser.add_argument("--rate", type=positive(float), default=1000.0, help="open loop, req/s")
    parser.add_argument(
        "--rate-seconds", type=positive(float), default=10.0, help="open loop duration"
    )
    return parser.parse_args(argv)


def data_dir_for(args: argparse.Namespace, stack: ExitStack) -> tuple[Path, bool]:
    """The data dir to serve from, and whether it must be set up first."""
    if args.skip_setup_data_dir:
        found = args.skip_setup_data_dir.resolve()
        if not found.is_dir():
            raise SystemExit(f"{found}: no such directory")
        return found, False
    if args.prepare_data_dir:
        chosen = args.prepare_data_dir.resolve()
        if chosen.exists() and any(chosen.iterdir()):
            raise SystemExit(f"{chosen} is not empty")
        chosen.mkdir(parents=True, exist_ok=True)
        return chosen, True
    return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="relevo-serve-"))), True


@dataclass
class Bench:
    """What every phase needs: the client process, the keys and the request bodies."""

    client: ProcessPoolExecutor
    env: dict[str, str]
    scratch: Path
    serve_key: str
    ingest_key: str
    users: list[str]
    items: list[str]
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
        self, floor: tuple[int, int | None], relevo: tuple[int, int | None], busy: bool = False
    ) -> tuple[ClosedResult, ClosedResult, list[dict[str, float]]]:
        """The floor's and recommend's closed loops, ``--rounds`` rounds each, alternating:
        each figure sums its rounds, and each round's pair gives its own ratio."""
        rounds, each = self.args.rounds, self.args.seconds / self.args.rounds
        floors, served, ratios = [], [], []
        for _ in range(rounds):
            floors.append(self.closed(*floor, self.args.concurrency, each, busy))
            served.append(self.closed(*relevo, self.args.concurrency, each, busy))
            ratios.append(
                {
                    "floor_rps": round(floors[-1].per_second, 1),
                    "recommend_rps": round(served[-1].per_second, 1),
                    "ratio": round(served[-1].per_second / max(floors[-1].per_second, 1e-9), 3),
                    "main_thread_cpu_ratio": cpu_ratio(floors[-1], served[-1]),
                    "stolen_share": [stolen_share(floors[-1]), stolen_share(served[-1])],
                }
            )
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


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    code = code_version()  # before the servers start, as the code they load
    with ExitStack() as stack:
        data_dir, fresh_setup = data_dir_for(args, stack)
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="relevo-run-")))
        env = relevo_env(data_dir)
        data = choose_data(args.data.resolve(), data_dir)
        timings: dict[str, float] = {}
        if fresh_setup:
            ingest_key, timings = set_up(data, env, scratch)
        else:
            status.print(f"reusing {data_dir}: a fresh ingest key for tenant {TENANT}")
            created = run_relevo(["keys", "create", "-t", TENANT, "-s", "ingest"], env, scratch)
            ingest_key = key_in(created, "keys create")
        serve_key = key_in(
            run_relevo(["keys", "create", "--tenant", TENANT, "--scope", "serve"], env, scratch),
            "keys create",
        )
        users, items = read_people_and_items(data)
        if not users or not items:
            raise SystemExit(f"no user ids or item ids in {data.events}")
        random.Random(7).shuffle(users)
        bench = Bench(
            client=stack.enter_context(
                ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            ),
            env=env,
            scratch=scratch,
            serve_key=serve_key,
            ingest_key=ingest_key,
            users=users,
            items=items,
            bodies=[msgspec.json.encode({"user_id": u, "k": K, "explain": False}) for u in users],
            args=args,
        )

        status.print("floor: a bare Starlette app (1 worker), kept up beside Relevo's")
        with ExitStack() as floor_stack:
            floor_port, floor_process = start_floor(floor_stack)
            floor_open = bench.open(floor_port)
            floor_server = (floor_port, floor_process.pid)
            single, (floor, served, rounds), (busy_floor, busy_served, busy_rounds) = bench.relevo(
                "closed loops",
                lambda port, pid: (
                    bench.counted(
                        "recommend_one_in_flight",
                        port,
                        lambda: bench.closed(port, pid, 1, min(args.seconds, SINGLE_SECONDS)),
                    ),
                    bench.counted(
                        "recommend",
                        port,
                        lambda: bench.alternating(floor_server, (port, pid)),
                    ),
                    bench.counted(
                        "recommend_busy_client",
                        port,
                        lambda: bench.alternating(floor_server, (port, pid), busy=True),
                    ),
                ),
            )
        served_open = bench.relevo(
            "open loop",
            lambda port, _: bench.counted("recommend_open_loop", port, lambda: bench.open(port)),
        )

        def fresh_run(port: int, _: int) -> FreshnessResult:
            status.print(f"freshness: {FRESHNESS_ROUNDS} events, each then a recommend")
            found = bench.counted(
                "freshness",
                port,
                lambda: bench.client.submit(
                    freshness, port, ingest_key, serve_key, users, items
                ).result(),
            )
            return FreshnessResult(**found)

        fresh = bench.relevo("freshness", fresh_run)
        context = {
            "data_set": data.label,
            "file": data.events.name,
            "users": len(users),
            "items": len(items),
            "cpu_count": os.cpu_count(),
            "sqlite_synchronous": SYNCHRONOUS,
            "concurrency": args.concurrency,
            "seconds": args.seconds,
            "rounds": args.rounds,
            "closed_loop_rounds": rounds,
            "busy_client_rounds": busy_rounds,
            "warmup_seconds": WARMUP_S,
            "rate": args.rate,
            "rate_seconds": args.rate_seconds,
            "open_loop_connections": OPEN_CONNECTIONS,
            "loop": loop_name(),
            "client": f"raw asyncio HTTP/1.1 keep-alive on {loop_name()}, own process",
            "setup_seconds": timings,
            "reused_data_dir": None if fresh_setup else str(data_dir),
            "model_load_seconds": bench.model_load_seconds,
            "priming_fallbacks": bench.priming_fallbacks,
            "precompute": bench.precompute,
            "cache_lookups": bench.cache_lookups,
            "traces_dropped": bench.traces_dropped,
            "code": code,
            "server_logs": bench.server_logs,
        }
    figures = summary(
        floor, single, served, (busy_floor, busy_served), floor_open, served_open, fresh, context
    )
    for warning in warnings(figures):
        status.print(f"warning: {warning}", style="yellow", markup=False, highlight=False)
    if args.json:
        print(json.dumps(figures))
    else:
        # Rich draws 80 columns when stdout is not a terminal; the table needs a little more.
        Console(width=None if sys.stdout.isatty() else 110).print(render_table(figures))


if __name__ == "__main__":
    main()
