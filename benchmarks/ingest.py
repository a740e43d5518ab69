"""Ingest benchmark: `relevo import` against SQLite's own floor, and HTTP ingest in batches.

Why these three figures: a raw ``executemany`` of the same rows into a plain table, in a WAL
file with Relevo's ``PRAGMA synchronous``, is about the fastest SQLite can store them (the
floor). ``relevo import`` over that floor (the ratio) is what the pipeline costs on top:
mapping, validation, pseudonyms, dedupe, routing and derived state. HTTP ingest is measured from
a client in another process, so the client's CPU is not billed to the server's event loop.
The goals (ratio >= 0.33, HTTP >= 20k events/s) are printed beside the figures, never asserted.

Everything runs on fresh temporary data directories and talks only to 127.0.0.1.

    .venv/bin/python benchmarks/ingest.py [--json] [--data PATH] [--http-batches N] [--skip-http]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gzip
import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pyarrow as pa
import pyarrow.csv as pacsv
from rich.console import Console
from rich.table import Table

from processes import free_port, stop_server
from relevo.adapters.sqlite import region
from relevo.config import load_settings
from relevo.file_import.mapping import row_fingerprint

VENV_BIN = Path(sys.executable).parent
RELEVO = VENV_BIN / "relevo"
DEFAULT_DATA = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / "online-retail"
    / "online_retail.csv.gz"
)
RETAIL_REGIONS = ("uk", "eu", "row")
SYNTHETIC_REGIONS = ("eu", "us")  # the regions relevo.synthetic writes
SYNTHETIC_PEOPLE, SYNTHETIC_ITEMS = 10_000, 2_000
ENVELOPE_COLUMNS = (
    "event_id",
    "type",
    "occurred_at",
    "user_id",
    "anonymous_id",
    "session_id",
    "item_id",
    "value",
)
RATIO_GOAL = 0.33
HTTP_GOAL = 20_000.0
BATCH_EVENTS = 1_000

Row = tuple[str | None, ...]
Sample = tuple[str, str, str, float]  # person field, person id, item id, value

status = Console(stderr=True)


@dataclass
class DataSet:
    """The file to import, how to import it, and its rows as the floor stores them."""

    label: str
    path: Path
    preset: str | None
    regions: tuple[str, ...]
    rows: list[Row]
    samples: list[Sample]


@dataclass
class FloorResult:
    rows: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.rows / self.seconds


@dataclass
class HttpResult:
    batches: int = 0
    events_sent: int = 0
    accepted: int = 0
    seconds: float = 0.0
    time_capped: bool = False
    statuses: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    def record(self, code: int, detail: str) -> None:
        """Count an answer's status (0: no answer); keep the first few that were not 200."""
        self.statuses[code] += 1
        if code != 200 and len(self.problems) < 3:
            self.problems.append(f"{code or 'no answer'}: {detail}")

    @property
    def non_200(self) -> int:
        return sum(count for code, count in self.statuses.items() if code != 200)


class BatchCounts(msgspec.Struct):
    """The part of a ``POST /v1/events`` answer the client checks (results are skipped)."""

    counts: dict[str, int] = {}


def accepted_count(body: bytes) -> int:
    """How many events an answer says were accepted (0 if it is not a batch answer)."""
    try:
        return msgspec.json.decode(body, type=BatchCounts).counts.get("accepted", 0)
    except msgspec.DecodeError:
        return 0


# --- data ---------------------------------------------------------------------------------


def csv_header(path: Path) -> list[str]:
    """The column names of a CSV file, plain or gzipped."""
    with path.open("rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as file:
        return next(csv.reader(file), [])


def read_csv_rows(path: Path) -> tuple[list[str], list[Row]]:
    """Every row as a tuple of strings (an empty cell is ""), read as Relevo's reader does."""
    names = csv_header(path)
    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            strings_can_be_null=False,
        ),
    )
    columns = [column.to_pylist() for column in table.columns]
    return table.column_names, list(zip(*columns, strict=True))


def read_jsonl_rows(path: Path) -> list[Row]:
    """The envelope fields of each JSON Lines event, as strings, in ``ENVELOPE_COLUMNS`` order."""
    rows: list[Row] = []
    with path.open("rb") as file:
        for line in file:
            record = msgspec.json.decode(line)
            rows.append(
                tuple(
                    None if record.get(name) is None else str(record[name])
                    for name in ENVELOPE_COLUMNS
                )
            )
    return rows


def retail_samples(columns: list[str], rows: list[Row]) -> list[Sample]:
    """Who bought what, how many, from Online Retail rows (a guest is one per invoice)."""
    at = {name: index for index, name in enumerate(columns)}
    samples: list[Sample] = []
    for row in rows:
        customer, invoice = row[at["CustomerID"]], row[at["InvoiceNo"]]
        item, quantity = row[at["StockCode"]], row[at["Quantity"]]
        if not item or not (customer or invoice):
            continue
        person = ("user_id", customer) if customer else ("anonymous_id", f"guest-{invoice}")
        samples.append((*person, item, abs(float(quantity or 1)) or 1.0))
    return samples


def synthetic_samples(rows: list[Row]) -> list[Sample]:
    """Who did what to which item, from synthetic envelope rows that name an item."""
    user, anonymous, item, value = (
        ENVELOPE_COLUMNS.index(name) for name in ("user_id", "anonymous_id", "item_id", "value")
    )
    samples: list[Sample] = []
    for row in rows:
        if row[item] is None:
            continue
        person = ("user_id", row[user]) if row[user] else ("anonymous_id", row[anonymous])
        samples.append((person[0], str(person[1]), str(row[item]), float(row[value] or 1)))
    return samples


def load_data(path: Path, scratch: Path) -> DataSet:
    """Online Retail if the file is there, else a synthetic data set generated into ``scratch``."""
    if path.is_file():
        columns, rows = read_csv_rows(path)
        return DataSet(
            "Online Retail",
            path,
            "online-retail",
            RETAIL_REGIONS,
            rows,
            retail_samples(columns, rows),
        )
    from relevo.synthetic import generate

    status.print(f"{path} not found: generating synthetic data")
    generate(scratch, people=SYNTHETIC_PEOPLE, items=SYNTHETIC_ITEMS)
    events = scratch / "events.jsonl"
    rows = read_jsonl_rows(events)
    return DataSet(
        f"synthetic ({SYNTHETIC_PEOPLE:,} people)",
        events,
        None,
        SYNTHETIC_REGIONS,
        rows,
        synthetic_samples(rows),
    )


# --- the floor ----------------------------------------------------------------------------


def measure_floor(rows: Sequence[Row], synchronous: str, directory: Path) -> FloorResult:
    """Time BEGIN; executemany INSERT; COMMIT of ``rows`` into a fresh WAL file."""
    width = len(rows[0])
    connection = sqlite3.connect(directory / "floor.sqlite3", isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={synchronous.upper()}")
        columns = ", ".join(f"c{i} TEXT" for i in range(width))
        connection.execute(f"CREATE TABLE rows ({columns})")
        insert = f"INSERT INTO rows VALUES ({', '.join('?' * width)})"
        started = time.perf_counter()
        connection.execute("BEGIN")
        connection.executemany(insert, rows)
        connection.execute("COMMIT")
        seconds = time.perf_counter() - started
    finally:
        connection.close()
    return FloorResult(len(rows), seconds)


def measure_log_insert(rows: Sequence[Row], synchronous: str, directory: Path) -> FloorResult:
    """The same rows into Relevo's own event-log table (its unique ``event_id`` index, which
    durable dedupe needs), in the import's 20,000-row transactions: what storage alone costs
    the pipeline, with no Python work at all. Row ids are content fingerprints, as in imports."""
    connection = sqlite3.connect(directory / "log.sqlite3", isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={synchronous.upper()}")
        connection.execute("PRAGMA cache_size=-65536")
        for statement in filter(str.strip, region.MIGRATIONS[0].split(";")):
            connection.execute(statement)
        unique = {row_fingerprint(row): row for row in rows}  # repeated rows are dedupe's job
        prepared = [
            (key, "purchase", i, i, str(row[-2]), str(row[1]), msgspec.json.encode(row))
            for i, (key, row) in enumerate(unique.items())
        ]
        started = time.perf_counter()
        for start in range(0, len(prepared), 20_000):
            connection.execute("BEGIN")
            connection.executemany(region._INSERT_EVENT, prepared[start : start + 20_000])
            connection.execute("COMMIT")
        seconds = time.perf_counter() - started
    finally:
        connection.close()
    return FloorResult(len(prepared), seconds)


# --- the CLI ------------------------------------------------------------------------------


def relevo_env(data_dir: Path, synchronous: str) -> dict[str, str]:
    """The environment of a relevo subprocess: its own data directory, the floor's durability."""
    return {
        **os.environ,
        "RELEVO_DATA_DIR": str(data_dir),
        "RELEVO_SQLITE_SYNCHRONOUS": synchronous,
    }


def run_relevo(args: Sequence[str], env: dict[str, str]) -> str:
    """Run one relevo command; its stdout, or an error carrying its stderr."""
    done = subprocess.run([str(RELEVO), *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"relevo {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def create_tenant(name: str, regions: Sequence[str], env: dict[str, str]) -> str:
    """Create a tenant with the CLI; its admin key (which may ingest)."""
    output = run_relevo(["tenants", "create", name, "--regions", ",".join(regions)], env)
    for line in output.splitlines():
        if line.startswith("admin key"):
            return line.rsplit(": ", 1)[1].strip()
    raise RuntimeError(f"no admin key in the output of `relevo tenants create`:\n{output}")


def measure_import(data: DataSet, env: dict[str, str]) -> dict[str, Any]:
    """``relevo import --json`` of the whole file; its report, plus the command's wall time."""
    args = ["import", str(data.path), "--tenant", "bench", "--json"]
    if data.preset:
        args += ["--preset", data.preset]
    started = time.perf_counter()
    output = run_relevo(args, env)
    wall = time.perf_counter() - started
    lines = [line for line in output.splitlines() if line.strip()]
    report = json.loads(lines[-1])
    report["wall_seconds"] = wall
    return report


# --- HTTP ---------------------------------------------------------------------------------


def start_server(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(
            [str(RELEVO), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def wait_healthy(base_url: str, server: subprocess.Popen[bytes], log: Path, limit: float) -> None:
    """Poll GET /healthz until it answers 200; fail early if the server exits."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"relevo serve exited ({server.returncode}):\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0, trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"relevo serve not healthy after {limit:.0f} s:\n{log.read_text()}")


def build_bodies(samples: Sequence[Sample], batches: int, region: str) -> list[bytes]:
    """``batches`` JSON arrays of ``BATCH_EVENTS`` live purchases, spread over the last hour."""
    now = datetime.now(UTC).replace(microsecond=0)
    bodies: list[bytes] = []
    for batch in range(batches):
        events = []
        for offset in range(BATCH_EVENTS):
            number = batch * BATCH_EVENTS + offset
            field_name, person, item, value = samples[number % len(samples)]
            occurred = now - timedelta(seconds=number % 3_000)
            events.append(
                {
                    "event_id": f"http-{number}",
                    "type": "purchase",
                    "occurred_at": occurred.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    field_name: person,
                    "item_id": item,
                    "value": value,
                    "context": {"region": region},
                }
            )
        bodies.append(msgspec.json.encode(events))
    return bodies


async def _post_all(
    base_url: str, key: str, bodies: Sequence[bytes], concurrency: int, time_limit: float
) -> HttpResult:
    result = HttpResult()
    pending = iter(bodies)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=60.0, trust_env=False
    ) as client:
        started = time.perf_counter()
        deadline = started + time_limit

        async def sender() -> None:
            for body in pending:
                if time.perf_counter() >= deadline:
                    result.time_capped = True
                    return
                result.batches += 1
                result.events_sent += BATCH_EVENTS
                try:
                    response = await client.post("/v1/events", content=body)
                except httpx.TransportError as error:
                    result.record(0, f"{type(error).__name__}: {error}")
                    continue
                result.accepted += accepted_count(response.content)
                result.record(response.status_code, response.text[:300])

        await asyncio.gather(*(sender() for _ in range(concurrency)))
        result.seconds = time.perf_counter() - started
    return result


def post_batches(
    base_url: str, key: str, bodies: Sequence[bytes], concurrency: int, time_limit: float
) -> HttpResult:
    """POST every body (or until ``time_limit``) with ``concurrency`` requests in flight."""
    return asyncio.run(_post_all(base_url, key, bodies, concurrency, time_limit))


def measure_http(
    data: DataSet, env: dict[str, str], scratch: Path, args: argparse.Namespace
) -> HttpResult:
    """Serve a fresh tenant and POST pre-encoded batches to it from a separate client process."""
    key = create_tenant("bench", data.regions, env)
    bodies = build_bodies(data.samples, args.http_batches, data.regions[0])
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = scratch / "serve.log"
    server = start_server(port, env, log)
    try:
        wait_healthy(base_url, server, log, limit=30.0)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as client:
            return client.submit(
                post_batches, base_url, key, bodies, args.http_concurrency, args.http_seconds
            ).result()
    finally:
        stop_server(server)


# --- report -------------------------------------------------------------------------------


def summary(
    data: DataSet,
    synchronous: str,
    floor: FloorResult,
    log_insert: FloorResult,
    imported: dict[str, Any],
    http: HttpResult | None,
) -> dict[str, Any]:
    """The figures as one flat JSON object (``http_*`` are null when HTTP was skipped)."""
    import_rate = float(imported["per_second"])
    return {
        "floor_rows_per_s": round(floor.per_second, 1),
        "import_events_per_s": import_rate,
        "ratio": round(import_rate / floor.per_second, 3),
        "http_events_per_s": round(http.per_second, 1) if http else None,
        "log_insert_rows_per_s": round(log_insert.per_second, 1),
        "log_insert_ratio": round(log_insert.per_second / floor.per_second, 3),
        "import_workers": imported.get("workers"),
        "data_set": data.label,
        "file": data.path.name,
        "sqlite_synchronous": synchronous,
        "rows": floor.rows,
        "floor_seconds": round(floor.seconds, 3),
        "import_rows": imported["rows"],
        "import_accepted": imported["accepted"],
        "import_duplicate": imported["duplicate"],
        "import_rejected": imported["rejected"],
        "import_seconds": imported["seconds"],
        "import_wall_seconds": round(imported["wall_seconds"], 3),
        "http_events_accepted": http.accepted if http else None,
        "http_events_sent": http.events_sent if http else None,
        "http_seconds": round(http.seconds, 3) if http else None,
        "http_non_200": http.non_200 if http else None,
        "http_time_capped": http.time_capped if http else None,
    }


def render_table(figures: dict[str, Any], concurrency: int) -> Table:
    table = Table("measure", "value", "unit", "goal", title="Relevo ingest benchmark")
    table.add_row("data set", figures["data_set"], "", "")
    table.add_row("file", figures["file"], "", "")
    table.add_row("rows in the file", f"{figures['rows']:,}", "rows", "")
    table.add_row("PRAGMA synchronous", figures["sqlite_synchronous"], "", "")
    table.add_row("floor: executemany", f"{figures['floor_rows_per_s']:,.0f}", "rows/s", "")
    table.add_row("floor: time", f"{figures['floor_seconds']:.2f}", "s", "")
    table.add_row(
        "log insert alone (unique id index)",
        f"{figures['log_insert_rows_per_s']:,.0f}",
        "rows/s",
        "",
    )
    table.add_row("ceiling: log insert / floor", f"{figures['log_insert_ratio']:.3f}", "", "")
    table.add_row(
        f"relevo import ({figures['import_workers']} workers)",
        f"{figures['import_events_per_s']:,.0f}",
        "events/s",
        "",
    )
    table.add_row("import: time", f"{figures['import_seconds']:.2f}", "s", "")
    for outcome in ("accepted", "duplicate", "rejected"):
        table.add_row(f"import: {outcome}", f"{figures['import_' + outcome]:,}", "events", "")
    table.add_row("ratio import / floor", f"{figures['ratio']:.3f}", "", f">= {RATIO_GOAL}")
    if figures["http_events_per_s"] is None:
        table.add_row("HTTP ingest", "skipped", "events/s", f">= {HTTP_GOAL:,.0f}")
        return table
    table.add_row(
        f"HTTP ingest ({concurrency} in flight)",
        f"{figures['http_events_per_s']:,.0f}",
        "events/s",
        f">= {HTTP_GOAL:,.0f}",
    )
    table.add_row(
        "HTTP: accepted / sent",
        f"{figures['http_events_accepted']:,} / {figures['http_events_sent']:,}",
        "events",
        "",
    )
    capped = " (time cap)" if figures["http_time_capped"] else ""
    table.add_row("HTTP: time", f"{figures['http_seconds']:.2f}{capped}", "s", "")
    table.add_row("HTTP: non-200 answers", str(figures["http_non_200"]), "batches", "0")
    return table


def warn_http(http: HttpResult) -> None:
    """Say on stderr when a response was not 200 or an event was not accepted."""
    if http.non_200 or http.accepted != http.events_sent:
        status.print(
            f"[yellow]HTTP: {http.accepted:,} of {http.events_sent:,} events accepted;"
            f" statuses {dict(http.statuses)}[/]"
        )
        for problem in http.problems:
            status.print(problem, markup=False)


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Online Retail CSV")
    parser.add_argument("--http-batches", type=int, default=200, help="batches of 1,000 events")
    parser.add_argument("--http-concurrency", type=int, default=4, help="requests in flight")
    parser.add_argument("--http-seconds", type=float, default=60.0, help="cap on the HTTP run")
    parser.add_argument("--skip-http", action="store_true", help="measure the import only")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    synchronous = load_settings().sqlite_synchronous
    with tempfile.TemporaryDirectory(prefix="relevo-bench-") as root:
        scratch = Path(root)
        for name in ("data", "floor", "import", "http"):
            (scratch / name).mkdir()
        status.print("reading the data")
        data = load_data(args.data.resolve(), scratch / "data")
        status.print(f"floor: {len(data.rows):,} rows into SQLite")
        floor = measure_floor(data.rows, synchronous, scratch / "floor")
        status.print("log insert: the same rows into the event-log table alone")
        log_insert = measure_log_insert(data.rows, synchronous, scratch / "floor")
        status.print(f"relevo import {data.path.name}")
        env = relevo_env(scratch / "import", synchronous)
        create_tenant("bench", data.regions, env)
        imported = measure_import(data, env)
        http = None
        if not args.skip_http:
            status.print(f"HTTP: {args.http_batches} batches of {BATCH_EVENTS:,} events")
            http = measure_http(data, relevo_env(scratch / "http", synchronous), scratch, args)
            warn_http(http)
    figures = summary(data, synchronous, floor, log_insert, imported, http)
    if args.json:
        print(json.dumps(figures))
    else:
        Console().print(render_table(figures, args.http_concurrency))


if __name__ == "__main__":
    main()
