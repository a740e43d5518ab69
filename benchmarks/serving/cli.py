"""serve.py's command line and main: set up (or reuse) the data dir, run the phases in order
(the floor's open loop; closed loops against the floor; Relevo's open loop; freshness), then
print the table or the JSON figures."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from typing import Any

import msgspec
from rich.console import Console

from serving.client import loop_name
from serving.closed import ClosedResult
from serving.common import K, status
from serving.floor import start_floor
from serving.freshness import FRESHNESS_ROUNDS, FreshnessResult, freshness
from serving.options import benchmark_parser, positive
from serving.phases import WARMUP_S, Bench, Server
from serving.rate import OPEN_CONNECTIONS
from serving.report import render_table, summary, warnings
from serving.setup import SYNCHRONOUS, Served, code_version, prepare

SINGLE_SECONDS = 5.0  # the closed loop with one request in flight: the model path's own time
Closed = tuple[ClosedResult, ClosedResult, list[dict[str, float]]]


def parse_args(doc: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = benchmark_parser(doc)
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


def closed_loops(bench: Bench, floor: Server) -> tuple[ClosedResult, Closed, Closed]:
    """One relevo serve: one request in flight, then the rounds against the floor with an
    ordinary client, then with a client that never sleeps."""
    args = bench.args

    def run(port: int, pid: int) -> tuple[ClosedResult, Closed, Closed]:
        single = bench.counted(
            "recommend_one_in_flight",
            port,
            lambda: bench.closed(port, pid, 1, min(args.seconds, SINGLE_SECONDS)),
        )
        ordinary = bench.counted("recommend", port, lambda: bench.alternating(floor, (port, pid)))
        busy = bench.counted(
            "recommend_busy_client",
            port,
            lambda: bench.alternating(floor, (port, pid), busy=True),
        )
        return single, ordinary, busy

    return bench.relevo("closed loops", run)


def fresh_run(bench: Bench, served: Served) -> FreshnessResult:
    def run(port: int, _: int) -> FreshnessResult:
        status.print(f"freshness: {FRESHNESS_ROUNDS} events, each then a recommend")
        found = bench.counted(
            "freshness",
            port,
            lambda: bench.client.submit(
                freshness, port, served.ingest_key, served.serve_key, bench.users, served.items
            ).result(),
        )
        return FreshnessResult(**found)

    return bench.relevo("freshness", run)


def context_of(
    args: argparse.Namespace,
    served: Served,
    bench: Bench,
    code: str | None,
    rounds: tuple[list[dict[str, float]], list[dict[str, float]]],
) -> dict[str, Any]:
    """What the run was, under ``details`` beside the figures."""
    return {
        "data_set": served.data.label,
        "file": served.data.events.name,
        "users": len(served.users),
        "items": len(served.items),
        "cpu_count": os.cpu_count(),
        "sqlite_synchronous": SYNCHRONOUS,
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "closed_loop_rounds": rounds[0],
        "busy_client_rounds": rounds[1],
        "warmup_seconds": WARMUP_S,
        "rate": args.rate,
        "rate_seconds": args.rate_seconds,
        "open_loop_connections": OPEN_CONNECTIONS,
        "loop": loop_name(),
        "client": f"raw asyncio HTTP/1.1 keep-alive on {loop_name()}, own process",
        "setup_seconds": served.setup_seconds,
        "reused_data_dir": None if served.fresh_setup else str(served.data_dir),
        "model_load_seconds": bench.model_load_seconds,
        "priming_fallbacks": bench.priming_fallbacks,
        "precompute": bench.precompute,
        "cache_lookups": bench.cache_lookups,
        "traces_dropped": bench.traces_dropped,
        "code": code,
        "server_logs": bench.server_logs,
    }


def main(doc: str, argv: Sequence[str] | None = None) -> None:
    args = parse_args(doc, argv)
    code = code_version()  # before the servers start, as the code they load
    with ExitStack() as stack:
        served = prepare(args, stack, "relevo-run-")
        users = list(served.users)
        random.Random(7).shuffle(users)
        bench = Bench(
            client=stack.enter_context(
                ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            ),
            env=served.env,
            scratch=served.scratch,
            serve_key=served.serve_key,
            users=users,
            bodies=[msgspec.json.encode({"user_id": u, "k": K, "explain": False}) for u in users],
            args=args,
        )
        status.print("floor: a bare Starlette app (1 worker), kept up beside Relevo's")
        with ExitStack() as floor_stack:
            floor_port, floor_process = start_floor(floor_stack)
            floor_open = bench.open(floor_port)
            single, closed, busy = closed_loops(bench, (floor_port, floor_process.pid))
        served_open = bench.relevo(
            "open loop",
            lambda port, _: bench.counted("recommend_open_loop", port, lambda: bench.open(port)),
        )
        fresh = fresh_run(bench, served)
        floor, recommend, rounds = closed
        busy_floor, busy_served, busy_rounds = busy
        context = context_of(args, served, bench, code, (rounds, busy_rounds))
    figures = summary(
        floor, single, recommend, (busy_floor, busy_served), floor_open, served_open, fresh, context
    )
    for warning in warnings(figures):
        status.print(f"warning: {warning}", style="yellow", markup=False, highlight=False)
    if args.json:
        print(json.dumps(figures))
    else:
        # Rich draws 80 columns when stdout is not a terminal; the table needs a little more.
        Console(width=None if sys.stdout.isatty() else 110).print(render_table(figures))
