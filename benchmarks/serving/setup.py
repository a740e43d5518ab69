"""The data dir a serving benchmark serves: the data set, a tenant with its catalog and events,
every model trained, and keys for the run (or a dir set up before, served again)."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import msgspec

from serving.common import status

RELEVO = Path(sys.executable).parent / "relevo"
REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "online-retail" / "online_retail.csv.gz"
RETAIL_REGIONS = ("uk", "eu", "row")
SYNTHETIC_REGIONS = ("eu", "us")
SYNTHETIC_PEOPLE, SYNTHETIC_ITEMS = 3_000, 1_000
SYNTHETIC_DIR = "bench-data"  # inside the data dir, so a prepared dir can be reused
TENANT = "bench"
# Pseudonyms depend on the secret: a fixed one lets a prepared data dir be served again.
SECRET = "relevo-serve-benchmark-fixed-secret-not-for-production-use"
SYNCHRONOUS = "normal"  # a read benchmark: the durability of writes is not what is measured


@dataclass
class DataSet:
    label: str
    events: Path
    items: Path
    preset: str | None
    regions: tuple[str, ...]


@dataclass
class Served:
    """A data dir ready to serve, and what the load needs of it."""

    data_dir: Path
    fresh_setup: bool
    scratch: Path  # the run's own temporary dir (server logs)
    env: dict[str, str]
    data: DataSet
    setup_seconds: dict[str, float]  # each setup step's, when it was set up now
    ingest_key: str
    serve_key: str
    users: list[str]  # sorted
    items: list[str]


def prepare(
    args: argparse.Namespace, stack: ExitStack, prefix: str, answer_cache: bool = False
) -> Served:
    """The data dir of ``--skip-setup-data-dir`` or ``--prepare-data-dir`` (else a temporary
    one), set up if it is new, with a fresh ingest key and serve key."""
    data_dir, fresh_setup = data_dir_for(args, stack)
    scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
    env = relevo_env(data_dir, answer_cache)
    data = choose_data(args.data.resolve(), data_dir)
    timings: dict[str, float] = {}
    if fresh_setup:
        timings = set_up(data, env, scratch)
    else:
        status.print(f"reusing {data_dir}: fresh keys for tenant {TENANT}")
    ingest_key = new_key(env, scratch, "ingest")
    serve_key = new_key(env, scratch, "serve")
    users, items = read_people_and_items(data)
    if not users or not items:
        raise SystemExit(f"no user ids or item ids in {data.events}")
    return Served(
        data_dir, fresh_setup, scratch, env, data, timings, ingest_key, serve_key, users, items
    )


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


def relevo_env(data_dir: Path, answer_cache: bool = False) -> dict[str, str]:
    """The benchmark's own configuration only: no RELEVO_* setting of the caller leaks in.
    Without ``answer_cache``, every answer is a decision of its own (see serve.py)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("RELEVO_")}
    env |= {
        "RELEVO_DATA_DIR": str(data_dir),
        "RELEVO_SECRET": SECRET,
        "RELEVO_SQLITE_SYNCHRONOUS": SYNCHRONOUS,
    }
    if not answer_cache:
        env["RELEVO_PLACEMENTS"] = json.dumps({"default": {"cache_ttl_s": 0}})
    return env


def run_relevo(args: Sequence[str], env: dict[str, str], cwd: Path) -> str:
    """Run one relevo command; its stdout, or an error carrying its stderr."""
    done = subprocess.run(
        [str(RELEVO), *args], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"relevo {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def new_key(env: dict[str, str], cwd: Path, scope: str) -> str:
    """A new API key of the benchmark's tenant with ``scope``."""
    return key_in(
        run_relevo(["keys", "create", "-t", TENANT, "-s", scope], env, cwd), "keys create"
    )


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


def set_up(data: DataSet, env: dict[str, str], cwd: Path) -> dict[str, float]:
    """Tenant, catalog, events and every model; each step's seconds."""
    timings: dict[str, float] = {}

    def step(name: str, args: list[str]) -> None:
        status.print(f"setup: relevo {' '.join(args)}")
        started = time.perf_counter()
        run_relevo(args, env, cwd)
        timings[name] = round(time.perf_counter() - started, 1)

    if data.preset is None and not data.events.is_file():
        status.print("no Online Retail file (--data): generating synthetic data")
        people, items = str(SYNTHETIC_PEOPLE), str(SYNTHETIC_ITEMS)
        folder = str(data.events.parent)
        step("generate", ["generate", folder, "--people", people, "--items", items])
    regions = ",".join(data.regions)
    step("tenants_create", ["tenants", "create", TENANT, "--regions", regions])
    preset = ["--preset", data.preset] if data.preset else []
    step("items_import", ["items", "import", str(data.items), "-t", TENANT, *preset])
    step("import", ["import", str(data.events), "-t", TENANT, *preset])
    step("train", ["train", "-t", TENANT])
    return timings


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
