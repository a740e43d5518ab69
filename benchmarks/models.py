"""Model scale benchmark: ``relevo train`` and ``relevo serve`` on a large generated data set
and on Online Retail.

Why these figures: what limits a catalog is training (dense item x item matrices grow with the
square of the items) and the serving process's memory (every promoted model is loaded). Two
data sets, each in a fresh temporary data dir:

- ``scale``: ``relevo generate`` (seeded) with 100,000 items, 300,000 people and about 3M
  events, imported into a tenant;
- ``retail``: Online Retail (``--data``), or the serving benchmarks' synthetic set where the
  file is absent.

For each, ``relevo train -t bench`` (every model, tuning and ``auto`` included) is timed; its
peak RSS is the process's own high-water mark (``wait4``'s ``ru_maxrss``, all its threads).
Then ``relevo serve`` (one worker) answers ``--decisions`` recommend requests for people of the
data, 4 in flight, each a decision of its own (no answer cache), once the rankings it
precomputes at start are done (a steady server), and the server's RSS (with any children) is
read after them. Goals (scale: train <= 10 minutes and <= 8 GB peak, serving <= 2
GB; retail: serving <= 400 MB, retrain <= 30 s) are printed beside the figures, never asserted.
Setup at full scale (generate and import) takes several minutes. Talks only to 127.0.0.1.

    .venv/bin/python benchmarks/models.py [--json] [--only scale|retail] [--data PATH]
        [--items 100000] [--people 300000] [--events 3000000] [--seed 7] [--decisions 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from processes import rss_mb
from serving.common import HOST, K, rounded, status
from serving.options import positive
from serving.servers import prime, start_relevo, wait_precomputed
from serving.setup import (
    DEFAULT_DATA,
    RELEVO,
    SYNTHETIC_DIR,
    SYNTHETIC_ITEMS,
    SYNTHETIC_PEOPLE,
    SYNTHETIC_REGIONS,
    TENANT,
    DataSet,
    choose_data,
    code_version,
    new_key,
    read_people_and_items,
    relevo_env,
    run_relevo,
)

IN_FLIGHT = 4
GOALS = {
    "train_s": 600.0,
    "train_peak_rss_mb": 8192.0,
    "serve_rss_mb": 2048.0,
    "retail_serve_rss_mb": 400.0,
    "retail_train_s": 30.0,
}


@dataclass
class Part:
    """One data set's figures."""

    label: str
    people: int = 0
    items: int = 0
    setup_s: dict[str, float] = field(default_factory=dict)
    train_s: float = 0.0
    train_peak_rss_mb: float = 0.0
    serve_rss_mb: float | None = None
    decisions_s: float = 0.0
    fallbacks: dict[str, int] = field(default_factory=dict)
    errors: int = 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--only", choices=("scale", "retail"), help="run one data set")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Online Retail CSV")
    parser.add_argument("--items", type=positive(int), default=100_000)
    parser.add_argument("--people", type=positive(int), default=300_000)
    parser.add_argument("--events", type=positive(int), default=3_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--decisions", type=positive(int), default=10_000)
    return parser.parse_args(argv)


def generated(args: argparse.Namespace, folder: Path, env: dict[str, str]) -> tuple[DataSet, float]:
    """The large data set, written by ``relevo generate``; and the seconds that took."""
    started = time.perf_counter()
    sizes = ["--people", str(args.people), "--items", str(args.items)]
    more = ["--events", str(args.events), "--seed", str(args.seed)]
    status.print(f"relevo generate {' '.join(sizes + more)}")
    run_relevo(["generate", str(folder), *sizes, *more], env, folder.parent)
    label = f"generated ({args.people:,} people, {args.items:,} items)"
    data = DataSet(label, folder / "events.jsonl", folder / "items.jsonl", None, SYNTHETIC_REGIONS)
    return data, time.perf_counter() - started


def retail(args: argparse.Namespace, data_dir: Path, env: dict[str, str]) -> tuple[DataSet, float]:
    """Online Retail, or the serving benchmarks' synthetic set where it is absent."""
    data = choose_data(args.data.resolve(), data_dir)
    if data.preset is not None:
        return data, 0.0
    sizes = ["--people", str(SYNTHETIC_PEOPLE), "--items", str(SYNTHETIC_ITEMS)]
    started = time.perf_counter()
    run_relevo(["generate", str(data_dir / SYNTHETIC_DIR), *sizes], env, data_dir)
    return data, time.perf_counter() - started


def load(data: DataSet, env: dict[str, str], cwd: Path) -> dict[str, float]:
    """Tenant, catalog and events; each step's seconds."""
    preset = ["--preset", data.preset] if data.preset else []
    steps = {
        "tenants_create": ["tenants", "create", TENANT, "--regions", ",".join(data.regions)],
        "items_import": ["items", "import", str(data.items), "-t", TENANT, *preset],
        "import": ["import", str(data.events), "-t", TENANT, *preset],
    }
    timings = {}
    for name, command in steps.items():
        status.print(f"relevo {' '.join(command)}")
        started = time.perf_counter()
        run_relevo(command, env, cwd)
        timings[name] = round(time.perf_counter() - started, 1)
    return timings


def measured_train(env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """``relevo train -t bench``: wall seconds, and peak RSS (MB) from ``wait4``."""
    status.print(f"relevo train -t {TENANT}")
    log = cwd / "train.log"
    started = time.perf_counter()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(RELEVO), "train", "-t", TENANT], env=env, cwd=cwd, stdout=sink, stderr=sink
        )
        _, code, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(code)
    took = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"relevo train failed ({process.returncode}):\n{log.read_text()}")
    return took, usage.ru_maxrss / 1024


async def _decide(port: int, key: str, users: list[str], count: int) -> tuple[Counter[str], int]:
    """``count`` recommends for people taken in turn, ``IN_FLIGHT`` at a time."""
    fallbacks: Counter[str] = Counter()
    errors = 0
    queue = iter(range(count))

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        for n in queue:
            body = {"user_id": users[n * 7919 % len(users)], "k": K}
            answer = await client.post("/v1/recommend", json=body)
            if answer.status_code == 200:
                fallbacks[answer.json().get("fallback", "(missing)")] += 1
            else:
                errors += 1

    async with httpx.AsyncClient(
        base_url=f"http://{HOST}:{port}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=60.0,
        trust_env=False,
    ) as client:
        await asyncio.gather(*(worker(client) for _ in range(IN_FLIGHT)))
    return fallbacks, errors


def serve(part: Part, env: dict[str, str], cwd: Path, users: list[str], decisions: int) -> None:
    """Serve, answer ``decisions`` recommends, and read the server's RSS after them."""
    key = new_key(env, cwd, "serve")
    with ExitStack() as stack:
        status.print(f"relevo serve: {decisions:,} decisions")
        port, pid = start_relevo(env, cwd / "serve.log", stack)
        prime(port, key, users)
        wait_precomputed(port, limit_s=600.0)
        started = time.perf_counter()
        fallbacks, part.errors = asyncio.run(_decide(port, key, users, decisions))
        part.decisions_s = round(time.perf_counter() - started, 1)
        part.fallbacks = dict(fallbacks)
        part.serve_rss_mb = rounded(rss_mb(pid), 1)


def measure(label: str, args: argparse.Namespace) -> Part:
    """Set up one data set in a fresh data dir, train, and serve."""
    with tempfile.TemporaryDirectory(prefix=f"relevo-models-{label}-") as scratch:
        data_dir = Path(scratch)
        env = relevo_env(data_dir)
        if label == "scale":
            data, made = generated(args, data_dir / SYNTHETIC_DIR, env)
        else:
            data, made = retail(args, data_dir, env)
        part = Part(data.label)
        part.setup_s = {"generate": round(made, 1)} | load(data, env, data_dir)
        users, items = read_people_and_items(data)
        part.people, part.items = len(users), len(items)
        took, peak = measured_train(env, data_dir)
        part.train_s, part.train_peak_rss_mb = round(took, 1), round(peak, 1)
        serve(part, env, data_dir, users, args.decisions)
    return part


def figures(parts: dict[str, Part]) -> dict[str, object]:
    scale, shop = parts.get("scale"), parts.get("retail")
    return {
        "train_s": scale and scale.train_s,
        "train_peak_rss_mb": scale and scale.train_peak_rss_mb,
        "serve_rss_mb": scale and scale.serve_rss_mb,
        "retail_serve_rss_mb": shop and shop.serve_rss_mb,
        "retail_train_s": shop and shop.train_s,
        "details": {"code": code_version(), "goals": GOALS}
        | {name: asdict(part) for name, part in parts.items()},
    }


def render(found: dict[str, object]) -> Table:
    table = Table(title="Models at scale (benchmarks/models.py)")
    for column in ("figure", "measured", "goal", "met"):
        table.add_column(column)
    for name, goal in GOALS.items():
        value = found[name]
        met = "" if value is None else ("yes" if value <= goal else "NO")
        table.add_row(name, "-" if value is None else f"{value:,.1f}", f"<= {goal:,.0f}", met)
    details = found["details"]
    for name in ("scale", "retail"):
        if name in details:
            part = details[name]
            table.add_row(
                f"{name}: data",
                f"{part['label']}; {part['people']:,} people, {part['items']:,} items",
                "",
                "",
            )
            table.add_row(f"{name}: setup s", json.dumps(part["setup_s"]), "", "")
            answers = f"{part['decisions_s']} s, fallbacks {part['fallbacks']}"
            table.add_row(f"{name}: decisions", f"{answers}, errors {part['errors']}", "", "")
    return table


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    labels = [args.only] if args.only else ["retail", "scale"]
    parts = {label: measure(label, args) for label in labels}
    found = figures(parts)
    if args.json:
        print(json.dumps(found))
    else:
        Console(width=None if sys.stdout.isatty() else 120).print(render(found))


if __name__ == "__main__":
    main()
