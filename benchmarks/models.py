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
data, one at a time (each person not ranked ahead runs the model, and at 100,000 items more
than one at a time on two cores passes the model's 50 ms budget and opens its breaker), each
a decision of its own (no answer cache), once the rankings it precomputes at start are done
(a steady server); the server's RSS (with any children) and cache sizes are read after them. Goals (scale: train <= 10 minutes and <= 8 GB peak, serving <= 2
GB; retail: serving <= 400 MB, retrain <= 30 s) are printed beside the figures, never asserted.
Setup at full scale (generate and import) takes several minutes. Talks only to 127.0.0.1.

    .venv/bin/python benchmarks/models.py [--json] [--only scale|retail] [--data PATH]
        [--items 100000] [--people 300000] [--events 3000000] [--seed 7] [--decisions 10000]
        [--keep-dir DIR]
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
from serving.metrics import caches_now
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

IN_FLIGHT = 1
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
    caches: dict[str, float] = field(default_factory=dict)


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
    parser.add_argument(
        "--keep-dir",
        type=Path,
        metavar="DIR",
        help="set each data set up in DIR/<name> and keep it; one set up there before is"
        " trained and served again without generating or importing",
    )
    return parser.parse_args(argv)


def data_set(label: str, args: argparse.Namespace, data_dir: Path) -> DataSet:
    """``scale``: the data ``relevo generate`` writes under ``data_dir``; ``retail``: Online
    Retail, or the serving benchmarks' synthetic set where it is absent."""
    if label == "retail":
        return choose_data(args.data.resolve(), data_dir)
    folder = data_dir / SYNTHETIC_DIR
    return DataSet(
        f"generated ({args.people:,} people, {args.items:,} items)",
        folder / "events.jsonl",
        folder / "items.jsonl",
        None,
        SYNTHETIC_REGIONS,
    )


def generate(label: str, args: argparse.Namespace, data_dir: Path, env: dict[str, str]) -> float:
    """Write the data set's files with ``relevo generate``, if it has to be; the seconds taken."""
    data = data_set(label, args, data_dir)
    if data.preset is not None:
        return 0.0
    if label == "scale":
        sizes = ["--people", str(args.people), "--items", str(args.items)]
        sizes += ["--events", str(args.events), "--seed", str(args.seed)]
    else:
        sizes = ["--people", str(SYNTHETIC_PEOPLE), "--items", str(SYNTHETIC_ITEMS)]
    status.print(f"relevo generate {' '.join(sizes)}")
    started = time.perf_counter()
    run_relevo(["generate", str(data.events.parent), *sizes], env, data_dir)
    return time.perf_counter() - started


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
        part.caches = caches_now(port)


def measure(label: str, args: argparse.Namespace) -> Part:
    """Set up one data set in a fresh data dir (or reuse the one kept under ``--keep-dir``),
    train, and serve."""
    with ExitStack() as stack:
        if args.keep_dir:
            data_dir = args.keep_dir.resolve() / label
            data_dir.mkdir(parents=True, exist_ok=True)
        else:
            prefix = f"relevo-models-{label}-"
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
        env = relevo_env(data_dir)
        part, data = set_up(label, args, data_dir, env)
        users, items = read_people_and_items(data)
        part.people, part.items = len(users), len(items)
        took, peak = measured_train(env, data_dir)
        part.train_s, part.train_peak_rss_mb = round(took, 1), round(peak, 1)
        serve(part, env, data_dir, users, args.decisions)
    return part


def set_up(
    label: str, args: argparse.Namespace, data_dir: Path, env: dict[str, str]
) -> tuple[Part, DataSet]:
    """The data set imported into ``data_dir``: now, or by an earlier run that kept it (its
    ``setup.json`` says so, with the seconds each step took then)."""
    done = data_dir / "setup.json"
    if done.is_file():
        status.print(f"reusing {data_dir}: set up before")
        kept = json.loads(done.read_text())
        return Part(kept["label"], setup_s=kept["setup_s"]), data_set(label, args, data_dir)
    made = generate(label, args, data_dir, env)
    data = data_set(label, args, data_dir)
    part = Part(data.label, setup_s={"generate": round(made, 1)} | load(data, env, data_dir))
    done.write_text(json.dumps({"label": part.label, "setup_s": part.setup_s}))
    return part, data


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
            table.add_row(f"{name}: caches after", json.dumps(part["caches"]), "", "")
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
