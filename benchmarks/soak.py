"""Soak: a bounded, mixed, steady load on one ``relevo serve``, and whether its memory settles.

Requests are due on a fixed timeline (open loop, ``--rate`` a second, for ``--minutes``), in a
mix a shop's pages would send: ``POST /v1/recommend`` (half of them; known people, and people
never seen before, signed in or anonymous, so every per-person cache keeps meeting new keys),
``POST /v1/events`` (clicks on earlier answers with their ``decision_id``, views by new people
in new sessions), ``POST /v1/rank`` over a few of the catalog's items, ``GET
/v1/items/{id}/similar`` and ``GET /v1/decisions/{id}`` of answers a few seconds old.

Every 10 s the server's resident memory (VmRSS of its process and any children, from /proc) is
sampled, with the cache sizes it reports (``relevo_cache_entries`` in ``/metrics``). The slope
of RSS over the samples of the run's second half (least squares) says whether memory settles:
a server whose caches are bounded levels off once they are full, one with an unbounded one keeps
climbing. An error is any answer that is not 2xx, a request that failed or timed out, and a
request that could not be sent before the deadline.

Setup is the serving benchmark's (benchmarks/serving/setup.py: Online Retail from
../shared/data/online-retail, or generated data when it is absent, every model trained);
``--prepare-data-dir DIR`` keeps the set-up dir and ``--skip-setup-data-dir DIR`` serves it
again (each run adds its events to it). The placements keep their default configuration (the
answer cache on). Talks only to 127.0.0.1, stops by itself.

    .venv/bin/python benchmarks/soak.py [--minutes 2] [--rate 100] [--json] [--data PATH]
        [--prepare-data-dir DIR | --skip-setup-data-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import time
import uuid
from collections import Counter, deque
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np
from rich.console import Console
from rich.table import Table

from processes import rss_mb
from serving.client import Connection, http_request, run_async
from serving.common import HOST, keep, percentile, rounded, status
from serving.metrics import cache_entries
from serving.options import benchmark_parser, positive
from serving.servers import prime, start_relevo, wait_precomputed
from serving.setup import code_version, prepare

SAMPLE_EVERY_S = 10.0
CONNECTIONS = 32  # at most this many requests in flight
GRACE_S = 10.0  # after the schedule ends, time to send and answer what is queued
MAX_MINUTES = 60.0
MAX_RATE = 2_000.0
K = 10
RANK_CANDIDATES = 20
DECISION_AGE_S = 3.0  # a trace is written within a second; read ones at least this old
KEPT_DECISIONS = 2_000  # recent decision ids the clicks and reads choose from
SIMILAR_ITEMS = 500  # catalog items the similar-items requests choose from
# The mix, by share of the requests.
MIX = (
    ("recommend", 0.50),
    ("events", 0.20),
    ("rank", 0.10),
    ("similar", 0.10),
    ("decision", 0.10),
)
# Of recommends, ranks and events: someone never seen before (--new-people). At 100 req/s, 1%
# is a new person a second, 86,400 a day. Every new person adds an entry to the id caches
# (pseudonyms, homes, known people: 200k each by default), so at a higher share memory climbs,
# as it should, until those caches are full: a slope then measures their filling, not a leak.
NEW_PEOPLE = 0.01
SLOPE_GOAL = 1.0  # MB/min over the run's second half


class Answer(msgspec.Struct):
    decision_id: str | None = None
    fallback: str = ""


ANSWER = msgspec.json.Decoder(Answer)


# --- the server's memory and caches -------------------------------------------------------


def process_figures(pid: int) -> dict[str, float | int | None]:
    """The server process's anonymous and file-backed resident memory (MB; a memory map of a
    file counts in RSS too), its threads and open file descriptors (those of SQLite files
    apart): what tells a growing heap from a growing map or more connections."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
        links = [_target(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
    except OSError:
        return {}

    def kb(name: str) -> int | None:
        found = re.search(rf"^{name}:\s+(\d+)", text, re.M)
        return int(found[1]) if found else None

    anon, file = kb("RssAnon"), kb("RssFile")
    return {
        "rss_anon_mb": None if anon is None else round(anon / 1024, 1),
        "rss_file_mb": None if file is None else round(file / 1024, 1),
        "threads": kb("Threads"),
        "fds": len(links),
        "sqlite_fds": sum(".sqlite3" in link for link in links),  # databases and their WALs
    }


def _target(fd: Path) -> str:
    try:
        return str(fd.readlink())
    except OSError:
        return ""


def sqlite_heap_mb(metrics: str) -> float | None:
    """``relevo_sqlite_heap_bytes`` of a ``/metrics`` text, in MB (None if absent)."""
    found = re.search(r"^relevo_sqlite_heap_bytes (\S+)$", metrics, re.M)
    return None if found is None else round(float(found[1]) / 2**20, 1)


def slope_mb_per_min(samples: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MB) samples, in MB a minute; None under 2 samples."""
    if len(samples) < 2:
        return None
    seconds, mb = np.array(samples, dtype=float).T
    if np.ptp(seconds) == 0:
        return None
    return float(np.polyfit(seconds, mb, 1)[0] * 60)


# --- the load -----------------------------------------------------------------------------


@dataclass
class Load:
    """What the client sends and what it saw."""

    port: int
    serve_key: str
    ingest_key: str
    users: list[str]
    items: list[str]
    rate: float
    seconds: float
    pid: int
    new_share: float = NEW_PEOPLE
    rng: random.Random = field(default_factory=lambda: random.Random(17))
    decisions: deque[tuple[float, str]] = field(
        default_factory=lambda: deque(maxlen=KEPT_DECISIONS)
    )
    scheduled: int = 0
    sent: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)  # "kind status"
    errors: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    fallbacks: Counter[str] = field(default_factory=Counter)
    samples: list[dict[str, Any]] = field(default_factory=list)
    new_people: int = 0

    def __post_init__(self) -> None:
        self.path_items = catalog_items(self.port, self.serve_key, self.items)

    def _someone(self) -> dict[str, str]:
        if self.rng.random() < self.new_share:
            self.new_people += 1
            fresh = uuid.uuid4().hex[:16]
            if self.rng.random() < 0.5:
                return {"user_id": f"soak-u-{fresh}"}
            return {"anonymous_id": f"soak-a-{fresh}"}
        return {"user_id": self.rng.choice(self.users)}

    def _decision(self, older_than_s: float = 0.0) -> str | None:
        cutoff = time.monotonic() - older_than_s
        old = [d for at, d in list(self.decisions)[-200:] if at <= cutoff]
        return self.rng.choice(old) if old else None

    def build(self, kind: str) -> tuple[str, bytes]:
        """One request of ``kind``, or another kind when it needs what is not there yet."""
        rng = self.rng
        if kind == "decision":
            decision = self._decision(DECISION_AGE_S)
            if decision is not None:
                path = f"/v1/decisions/{decision}"
                return kind, http_request(self.port, path, self.serve_key, method="GET")
            kind = "recommend"
        if kind == "similar":
            item = rng.choice(self.path_items)
            path = f"/v1/items/{item}/similar?k={K}"
            return kind, http_request(self.port, path, self.serve_key, method="GET")
        if kind == "events":
            return kind, http_request(self.port, "/v1/events", self.ingest_key, self._events())
        body: dict[str, Any] = {**self._someone(), "k": K}
        if rng.random() < 0.5:
            body["session_id"] = f"soak-s-{uuid.uuid4().hex[:12]}"
        if kind == "rank":
            body["candidates"] = rng.sample(self.items, min(RANK_CANDIDATES, len(self.items)))
            return kind, http_request(
                self.port, "/v1/rank", self.serve_key, msgspec.json.encode(body)
            )
        path = "/v1/recommend"
        return "recommend", http_request(self.port, path, self.serve_key, msgspec.json.encode(body))

    def _events(self) -> bytes:
        now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        rng = self.rng
        decision = self._decision()
        event: dict[str, Any] = {
            "event_id": f"soak-{uuid.uuid4().hex}",
            "occurred_at": now,
            "item_id": rng.choice(self.items),
            "session_id": f"soak-s-{uuid.uuid4().hex[:12]}",
        }
        if decision is not None and rng.random() < 0.6:
            event |= {"type": "click", "decision_id": decision, **self._someone()}
        else:
            event |= {"type": rng.choice(("view", "view", "add_to_cart")), **self._someone()}
        return msgspec.json.encode(event)

    def note(self, kind: str, code: int, body: bytes, due: float) -> None:
        self.latencies_ms.setdefault(kind, []).append((time.perf_counter() - due) * 1000)
        self.statuses[f"{kind} {code}"] += 1
        if not 200 <= code < 300:
            self.errors[kind] += 1
            keep(self.problems, f"{kind} {code or 'no answer'}: {body[:300]!r}", most=5)
            return
        if kind in ("recommend", "rank"):
            try:
                answer = ANSWER.decode(body)
            except msgspec.DecodeError:
                return
            self.fallbacks[answer.fallback] += 1
            if answer.decision_id:
                self.decisions.append((time.monotonic(), answer.decision_id))

    async def sample(self, started: float) -> None:
        """RSS and the cache sizes, on a connection of its own (an idle keep-alive connection
        is closed by the server after 5 s)."""
        connection = Connection(self.port)
        try:
            code, text = await connection.request(
                http_request(self.port, "/metrics", self.serve_key, method="GET")
            )
        finally:
            connection.close()
        self.samples.append(
            {
                "t_s": round(time.perf_counter() - started, 1),
                "rss_mb": rss_mb(self.pid),
                **process_figures(self.pid),
                "caches": cache_entries(text.decode(errors="replace")) if code == 200 else {},
                "sqlite_heap_mb": sqlite_heap_mb(text.decode(errors="replace")),
            }
        )

    async def run(self) -> float:
        """The whole load; returns the seconds it took, the grace included."""
        kinds = [kind for kind, _ in MIX]
        weights = [share for _, share in MIX]
        self.scheduled = round(self.rate * self.seconds)
        queue: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
        pool = [Connection(self.port) for _ in range(CONNECTIONS)]
        started = time.perf_counter()
        deadline = started + self.seconds + GRACE_S

        async def scheduler() -> None:
            for number in range(self.scheduled):
                due = started + number / self.rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                queue.put_nowait((self.rng.choices(kinds, weights)[0], due))

        async def worker(connection: Connection) -> None:
            while True:
                kind, due = await queue.get()
                try:
                    if time.perf_counter() >= deadline:
                        self.errors["not sent"] += 1
                        continue
                    kind, raw = self.build(kind)
                    self.sent[kind] += 1
                    code, body = await connection.request(raw)
                    self.note(kind, code, body, due)
                finally:
                    queue.task_done()

        async def sampler() -> None:
            at = 0
            while (next_at := started + at * SAMPLE_EVERY_S) <= started + self.seconds + 0.5:
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                await self.sample(started)
                at += 1

        workers = [asyncio.create_task(worker(c)) for c in pool]
        sampling = asyncio.create_task(sampler())
        try:
            await scheduler()
            try:
                await asyncio.wait_for(queue.join(), max(0.0, deadline - time.perf_counter()) + 1)
            except TimeoutError:
                self.problems.append("some requests were unanswered at the deadline")
            await sampling
        finally:
            for task in [*workers, sampling]:
                task.cancel()
            await asyncio.gather(*workers, sampling, return_exceptions=True)
            for connection in pool:
                connection.close()
        unanswered = self.scheduled - sum(self.statuses.values()) - self.errors["not sent"]
        if unanswered > 0:
            self.errors["unanswered"] += unanswered
        return time.perf_counter() - started


def catalog_items(port: int, key: str, items: Sequence[str]) -> list[str]:
    """Up to ``SIMILAR_ITEMS`` ids for ``GET /v1/items/{id}/similar``: ones that go into a
    URL path as they are (Online Retail's include spaces and slashes) and that the catalog
    has (some of its events name codes that are not products, such as "B")."""
    safe = [i for i in items if re.fullmatch(r"[A-Za-z0-9._~-]+", i)]
    sample = random.Random(5).sample(safe, min(SIMILAR_ITEMS, len(safe)))
    with httpx.Client(
        base_url=f"http://{HOST}:{port}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30.0,
        trust_env=False,
    ) as client:
        found = [i for i in sample if client.get(f"/v1/items/{i}").status_code == 200]
    if not found:
        raise SystemExit("none of the sampled item ids is in the catalog")
    return found


# --- report -------------------------------------------------------------------------------


def summary(load: Load, took_s: float, context: dict[str, Any]) -> dict[str, Any]:
    every = [ms for found in load.latencies_ms.values() for ms in found]
    samples = [s for s in load.samples if s["rss_mb"] is not None]
    half = load.seconds / 2
    last_half = [(s["t_s"], s["rss_mb"]) for s in samples if s["t_s"] >= half]
    slope = slope_mb_per_min(last_half)

    return {
        "p99_ms": rounded(percentile(every, 99)),
        "errors": sum(load.errors.values()),
        "rss_start_mb": rounded(samples[0]["rss_mb"], 1) if samples else None,
        "rss_end_mb": rounded(samples[-1]["rss_mb"], 1) if samples else None,
        "rss_slope_mb_per_min": rounded(slope, 3),
        "details": {
            **context,
            "minutes": load.seconds / 60,
            "rate": load.rate,
            "seconds_taken": round(took_s, 1),
            "scheduled": load.scheduled,
            "sent": dict(load.sent),
            "p50_ms": rounded(percentile(every, 50)),
            "by_kind": {
                kind: {
                    "count": len(found),
                    "p50_ms": rounded(percentile(found, 50)),
                    "p99_ms": rounded(percentile(found, 99)),
                }
                for kind, found in sorted(load.latencies_ms.items())
            },
            "statuses": dict(sorted(load.statuses.items())),
            "errors": dict(load.errors),
            "problems": load.problems,
            "fallbacks": dict(load.fallbacks.most_common()),
            "new_people": load.new_people,
            "new_people_share": load.new_share,
            "slope_samples": len(last_half),
            "rss_max_mb": rounded(max((s["rss_mb"] for s in samples), default=None), 1),
            "samples": load.samples,
        },
    }


def render(figures: dict[str, Any]) -> Table:
    d = figures["details"]

    def num(value: float | None, fmt: str = ",.2f") -> str:
        return "n/a" if value is None else format(value, fmt)

    table = Table("measure", "value", "unit", "goal", title="Relevo soak")
    table.add_row("code", d["code"] or "n/a", "", "")
    table.add_row("data set", d["data_set"], "", "")
    table.add_row("load", f"{d['rate']:g} req/s for {d['minutes']:g} min, open loop", "", "")
    table.add_row("sent", ", ".join(f"{k} {v:,}" for k, v in d["sent"].items()), "", "")
    table.add_row("people never seen before", f"{d['new_people']:,}", "", "")
    table.add_row("p50 / p99", f"{num(d['p50_ms'])} / {num(figures['p99_ms'])}", "ms", "")
    for kind, found in d["by_kind"].items():
        table.add_row(f"  {kind}", f"{num(found['p50_ms'])} / {num(found['p99_ms'])}", "ms", "")
    errors = ", ".join(f"{k} {v:,}" for k, v in d["errors"].items())
    table.add_row("errors", f"{figures['errors']:,}" + (f" ({errors})" if errors else ""), "", "0")
    others = {k: v for k, v in d["fallbacks"].items() if k != "none"}
    table.add_row(
        "fallback not none",
        ", ".join(f"{k} {v:,}" for k, v in others.items()) or "0",
        "answers",
        "",
    )
    table.add_row(
        "RSS start / end (max)",
        f"{num(figures['rss_start_mb'], ',.1f')} / {num(figures['rss_end_mb'], ',.1f')}"
        f" ({num(d['rss_max_mb'], ',.1f')})",
        "MB",
        "",
    )
    table.add_row(
        "RSS slope, second half",
        f"{num(figures['rss_slope_mb_per_min'], '.3f')} ({d['slope_samples']} samples)",
        "MB/min",
        f"<= {SLOPE_GOAL:g}",
    )
    for sample in d["samples"]:
        caches = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(sample["caches"].items()))
        table.add_row(
            f"  at {sample['t_s']:g} s",
            f"{num(sample['rss_mb'], ',.1f')} MB (anon {num(sample.get('rss_anon_mb'), ',.1f')},"
            f" file {num(sample.get('rss_file_mb'), ',.1f')}), {sample.get('threads')} threads,"
            f" {sample.get('fds')} fds ({sample.get('sqlite_fds')} SQLite),"
            f" SQLite heap {num(sample.get('sqlite_heap_mb'), ',.1f')} MB"
            + (f"; {caches}" if caches else ""),
            "",
            "",
        )
    return table


# --- main ---------------------------------------------------------------------------------


def bounded(kind: type[float], most: float) -> Any:
    parse = positive(kind)

    def check(text: str) -> float:
        value = parse(text)
        if value > most:
            raise argparse.ArgumentTypeError(f"{text} is over {most:g}")
        return value

    return check


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = benchmark_parser(__doc__)
    parser.add_argument(
        "--minutes", type=bounded(float, MAX_MINUTES), default=2.0, help="load duration"
    )
    parser.add_argument(
        "--rate", type=bounded(float, MAX_RATE), default=100.0, help="requests a second"
    )
    parser.add_argument(
        "--new-people",
        type=float,
        default=NEW_PEOPLE,
        help="share of recommends, ranks and events by someone never seen before",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    code = code_version()
    with ExitStack() as stack:
        served = prepare(args, stack, "relevo-soak-", answer_cache=True)
        users, items = served.users, served.items
        log = served.scratch / "serve.log"
        status.print("relevo serve (1 worker)")
        port, pid = start_relevo(served.env, log, stack)
        loaded, primed = prime(port, served.serve_key, users)
        status.print(f"first answers after {loaded:.1f} s: {dict(primed)}")
        waited, rankings = wait_precomputed(port)
        status.print(f"precomputed {rankings:,.0f} rankings in the background ({waited:.0f} s)")
        load = Load(
            port,
            served.serve_key,
            served.ingest_key,
            users,
            items,
            args.rate,
            args.minutes * 60,
            pid,
            args.new_people,
        )
        status.print(f"soak: {args.rate:g} req/s for {args.minutes:g} min")
        took = run_async(load.run)
        server_log = log.read_text(errors="replace").strip()
        context = {
            "code": code,
            "data_set": served.data.label,
            "users": len(users),
            "items": len(items),
            "reused_data_dir": None if served.fresh_setup else str(served.data_dir),
            "model_load_seconds": round(loaded, 2),
            "server_log": server_log[-2000:],
        }
    figures = summary(load, took, context)
    if figures["details"]["server_log"]:
        status.print(
            f"warning: relevo serve wrote to its log:\n{server_log[-2000:]}",
            style="yellow",
            markup=False,
            highlight=False,
        )
    if args.json:
        print(json.dumps(figures))
    else:
        Console(width=None if sys.stdout.isatty() else 120).print(render(figures))


if __name__ == "__main__":
    main()
