"""Storage faults over real HTTP, on real SQLite files: a read-only region file and a full one
refuse writes with a 503 and ``Retry-After`` (never a 500), ``/readyz`` names the store and the
rule, traces refused meanwhile are counted, and everything resumes without a restart once the
cause is fixed.

A read-only file is made with ``chattr +i`` (immutable): the tests run as root, who writes
through any file mode. A full file is SQLite's own ``SQLITE_FULL``, from ``max_page_count``
set on the adapter's writing connection.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Account, Server, fresh_server
from tests.api.test_people_api import problem
from tests.conftest import event

LARGEST_PAGE_COUNT = 1_073_741_823


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    """A server of this module's own: a fault here must not reach other modules' tests."""
    yield from fresh_server(tmp_path_factory, "faults")


def region_file(server: Server, account: Account, region: str = "eu") -> Path:
    folder = server.relevo.storage.data_dir / "tenants" / account.tenant.tenant_id
    return folder / f"region-{region}.sqlite3"


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """The SQLite file and its WAL made immutable, then writable again (never the ``-shm``
    file: SQLite maps it into memory and writes it on every read)."""
    files = [str(f) for f in (path, path.with_name(path.name + "-wal")) if f.exists()]
    if os.geteuid() != 0:
        pytest.skip("needs root, for chattr +i")
    made = subprocess.run(["chattr", "+i", *files], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"chattr +i does not work here: {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *files], check=True)


def unavailable(response: httpx.Response, store: str, rules: set[str]) -> dict:
    """The 503 problem of a storage fault, with when to retry."""
    body = problem(response, 503)
    assert int(response.headers["Retry-After"]) > 0
    assert body["store"] == store and body["rule"] in rules, body
    return body


def not_ready(server: Server, store: str, rule: str) -> None:
    response = httpx.get(server.url + "/readyz")
    body = problem(response, 503)
    assert int(response.headers["Retry-After"]) > 0
    assert any(c["check"] == store and c["rule"] == rule for c in body["checks"]), body
    assert store in body["detail"]


def ready(server: Server) -> None:
    response = httpx.get(server.url + "/readyz")
    assert response.status_code == 200, response.text


def dropped_metric(server: Server) -> float:
    text = httpx.get(server.url + "/metrics").text
    return float(re.search(r"^relevo_traces_dropped_total (\S+)$", text, re.M).group(1))


def test_a_read_only_region_file_gives_503_then_takes_writes_again_without_a_restart(
    server: Server, account: Account
) -> None:
    store = f"tenant {account.tenant.tenant_id} region eu"
    assert account.ingest.post("/v1/events", json=event("e-1")).status_code == 200
    ready(server)
    with read_only(region_file(server, account)):
        for attempt in range(2):  # the first write meets the open file, the next a reopened one
            posted = account.ingest.post("/v1/events", json=event(f"e-2-{attempt}"))
            unavailable(posted, store, {"io_error", "read_only"})
            put = account.serve.put("/v1/people/u-42", json={"segments": ["vip"]})
            unavailable(put, store, {"io_error", "read_only"})
        not_ready(server, store, "read_only")
    ready(server)
    assert account.ingest.post("/v1/events", json=event("e-2-0")).status_code == 200
    put = account.serve.put("/v1/people/u-42", json={"segments": ["vip"]})
    assert put.status_code == 200 and put.json()["segments"] == ["vip"]
    assert server.relevo.storage.partition(account.tenant.tenant_id, "eu").count_events() == 2


def test_a_full_region_file_gives_503_to_a_batch_and_readiness_until_there_is_room(
    server: Server, account: Account
) -> None:
    store = f"tenant {account.tenant.tenant_id} region eu"
    assert account.ingest.post("/v1/events", json=event("first")).status_code == 200
    database = server.relevo.storage.partition(account.tenant.tenant_id, "eu")._db
    batch = [event(f"b-{i}", user_id=f"u-{i}", item_id=f"sku-{i}") for i in range(300)]
    with database.lock:  # the adapter's own writing connection: the limit holds on it
        connection = database.connection
        (pages,) = connection.execute("PRAGMA page_count").fetchone()
        connection.execute(f"PRAGMA max_page_count={pages}")
    try:
        unavailable(account.ingest.post("/v1/events", json=batch), store, {"disk_full"})
        not_ready(server, store, "disk_full")
    finally:
        with database.lock:
            database.connection.execute(f"PRAGMA max_page_count={LARGEST_PAGE_COUNT}")
    ready(server)
    taken = account.ingest.post("/v1/events", json=batch)
    assert taken.status_code == 200 and taken.json()["counts"] == {"accepted": 300}, taken.text


def test_traces_refused_by_a_fault_are_counted_logged_once_and_written_again_after(
    server: Server, account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    log = server.relevo.decision_log
    assert account.ingest.post("/v1/events", json=event("e-1")).status_code == 200
    dropped, counted = log.dropped, dropped_metric(server)
    with caplog.at_level(logging.WARNING, "relevo.decide"), read_only(region_file(server, account)):
        for person in range(3):  # three people: three decisions, none from the answer cache
            answer = account.serve.post("/v1/recommend", json={"user_id": f"u-{person}"})
            assert answer.status_code == 200  # an answer never waits on its trace
            assert log.flush()
        assert log.dropped == dropped + 3 and dropped_metric(server) == counted + 3
        refused = [r for r in caplog.records if "cannot be written" in r.getMessage()]
        assert len(refused) == 1, "logged once a fault, not once a batch"
    answer = account.serve.post("/v1/recommend", json={"user_id": "u-42"}).json()
    assert log.flush() and log.dropped == dropped + 3
    assert account.serve.get(f"/v1/decisions/{answer['decision_id']}").status_code == 200
    assert any("3 were lost" in r.getMessage() for r in caplog.records)
