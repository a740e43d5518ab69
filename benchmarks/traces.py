"""Trace-writer benchmark: what writing one answer's trace costs the decision log's thread.

Why this figure: every answer writes a trace, so at thousands of answers a second the writer
thread's CPU competes with the event loop (for the GIL between SQLite calls, and for the
cores the load generator and the kernel also need). The floor is a raw ``executemany`` of the
same rows into a table of the same shape, in a WAL file with Relevo's ``PRAGMA synchronous``:
about the least SQLite can spend on them. Relevo writes them as the decision log does, in
batches of ``--batch``, one transaction each, through ``RegionPartitionWriter.record_decisions``
(reused answers: each trace is its answer's own fields plus a shared part stored once).
Both run on the thread that measures them; CPU is that thread's own (``time.thread_time``).

Everything runs in a fresh temporary directory.

    .venv/bin/python benchmarks/traces.py [--json] [--traces 60000] [--batch 300]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from relevo.adapters.sqlite.storage import SqliteStorage
from relevo.domain.decisions import AnswerPart, FilterReport, Trace, new_decision_id
from relevo.domain.derived import micros
from relevo.ports import EncodedTrace, SharedTrace

SYNCHRONOUS = "normal"  # as the serving benchmark's server
PREPARED = 500  # distinct prepared decisions the answers reuse
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def traces(count: int) -> list[EncodedTrace]:
    """Answers reused from ``PREPARED`` prepared decisions, shaped like Online Retail's."""
    items = [f"2{n:04d}" for n in range(10)]
    shared = [
        SharedTrace(
            Trace(
                new_decision_id("uk"),
                T0,
                "default",
                f"u:{n:022d}",
                "uk",
                "default",
                "hybrid:3",
                "control",
                "none",
                {"k": 10, "explain": False, "context": {}, "filters": {}},
                {"recent_items": tuple(items), "age_known": False, "segments": ()},
                {i: ("model", "popular") for i in items},
                [FilterReport("availability", 2), FilterReport("seen", 7)],
                {i: 0.5 for i in items},
                {"person": 0.05, "model": 4.2},
                items,
                {i: ("Because you bought HAND WARMER UNION JACK", "Trending") for i in items},
            )
        )
        for n in range(PREPARED)
    ]
    return [
        EncodedTrace.answer(
            AnswerPart(
                new_decision_id("uk"),
                T0 + timedelta(microseconds=n),
                {"person": 0.012, "prepared": 0.004},
                {},
                {"recent_items": 12.345, "affinities": 3.2, "counters": 1.0},
            ),
            shared[n % PREPARED],
            micros(T0) + n,
        )
        for n in range(count)
    ]


def measure(write: Callable[[Sequence[EncodedTrace]], None], batches: list[list[EncodedTrace]]):
    """(traces a second, thread CPU µs a trace) of ``write`` over every batch."""
    count = sum(len(b) for b in batches)
    cpu, wall = time.thread_time(), time.perf_counter()
    for batch in batches:
        write(batch)
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    return {"per_second": round(count / wall, 1), "cpu_us": round(cpu / count * 1e6, 2)}


def floor_writer(path: Path) -> Callable[[Sequence[EncodedTrace]], None]:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={SYNCHRONOUS.upper()}")
    connection.execute(
        "CREATE TABLE decisions (decision_id TEXT PRIMARY KEY, at_us INTEGER NOT NULL,"
        " person TEXT NOT NULL, placement TEXT NOT NULL, part_id INTEGER, body BLOB NOT NULL)"
    )

    def write(batch: Sequence[EncodedTrace]) -> None:
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            "INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    t.decision_id,
                    t.at_us,
                    t.person,
                    t.placement,
                    t.shared and t.shared.part_id,
                    t.body,
                )
                for t in batch
            ],
        )
        connection.execute("COMMIT")

    return write


def relevo_writer(directory: Path) -> Callable[[Sequence[EncodedTrace]], None]:
    partition = SqliteStorage(directory, SYNCHRONOUS).partition("bench", "uk")

    def write(batch: Sequence[EncodedTrace]) -> None:
        with partition.transaction() as writer:
            writer.record_decisions(batch)
        for trace in batch:  # as the decision log marks a committed shared part
            if trace.shared is not None:
                trace.shared.stored = True

    return write


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--traces", type=int, default=60_000, help="traces written by each")
    parser.add_argument("--batch", type=int, default=300, help="traces a transaction")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    made = traces(args.traces)
    batches = [made[i : i + args.batch] for i in range(0, len(made), args.batch)]
    with tempfile.TemporaryDirectory(prefix="relevo-traces-") as scratch:
        floor = measure(floor_writer(Path(scratch) / "floor.sqlite3"), batches)
        relevo = measure(relevo_writer(Path(scratch) / "relevo"), batches)
    figures = {
        "traces": args.traces,
        "batch": args.batch,
        "trace_bytes": round(sum(len(t.body) for t in made) / len(made), 1),
        "floor": floor,
        "relevo": relevo,
        "cpu_ratio": round(relevo["cpu_us"] / floor["cpu_us"], 3),
    }
    if args.json:
        print(json.dumps(figures))
        return
    table = Table(title="Trace writer: record_decisions against a raw executemany")
    for column in ("measure", "floor", "relevo"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    table.add_row("traces a second", f"{floor['per_second']:,.0f}", f"{relevo['per_second']:,.0f}")
    table.add_row("thread CPU a trace, µs", f"{floor['cpu_us']:.2f}", f"{relevo['cpu_us']:.2f}")
    table.add_row("CPU, relevo / floor", "", f"{figures['cpu_ratio']:.2f}")
    table.caption = (
        f"{args.traces:,} traces of {figures['trace_bytes']:.0f} B (answer part) in batches of"
        f" {args.batch}, PRAGMA synchronous={SYNCHRONOUS}"
    )
    Console(width=None if sys.stdout.isatty() else 100).print(table)


if __name__ == "__main__":
    main()
