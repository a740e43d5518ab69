"""SIGTERM to ``relevo serve`` under load: the server answers what is in flight, then closes
the engine, so the trace of every decision it answered is stored (issue 18).

Traces are written by a background thread from a queue, so a server that exits without closing
the engine loses the ones still queued. On an idle disk the writer keeps up and the queue is
nearly empty at exit; the second case holds the region file's write lock across the SIGTERM, as
another process writing (an import, a training run) or a slow disk would, so that traces are
still queued when the server stops.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import httpx
import pytest

from relevo.bootstrap import build
from relevo.config import Settings
from tests.api.test_warm_up import trained_engine
from tests.conftest import SECRET
from tests.e2e.conftest import wait_until_healthy

CLIENTS = 4
LOAD_S = 2.0
LOCK_BEFORE_S = 0.5
"""How long the write lock is held before the SIGTERM (traces queue up meanwhile)."""
LOCK_AFTER_S = 1.0
"""And after it: the server has answered what was in flight by then."""


@contextmanager
def write_locked(region_file: Path) -> Iterator[None]:
    """The region file's write lock, held by another connection (SQLite allows one writer)."""
    other = sqlite3.connect(region_file, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


class Load:
    """``CLIENTS`` threads asking for recommendations until stopped or the server goes."""

    def __init__(self, url: str, key: str) -> None:
        self.answered: list[str] = []
        self.other: list[int] = []
        self._stop = threading.Event()
        self._headers = {"Authorization": f"Bearer {key}"}
        self._url = url
        self._threads = [threading.Thread(target=self._ask, args=(n,)) for n in range(CLIENTS)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _ask(self, number: int) -> None:
        with httpx.Client(base_url=self._url, headers=self._headers, timeout=30) as client:
            n = number
            while not self._stop.is_set():
                # 12 people who bought and 3 newcomers, each request new (a session of its
                # own): an identical one within the placement's TTL is the same decision.
                asked = {"user_id": f"u{n % 15}", "session_id": f"s-{number}-{n}", "k": 3}
                n += 1
                try:
                    answer = client.post("/v1/recommend", json=asked)
                except httpx.TransportError:
                    return  # the server stopped taking requests
                if answer.status_code == 200:
                    self.answered.append(answer.json()["decision_id"])
                else:
                    self.other.append(answer.status_code)


@pytest.mark.parametrize("writer_behind", [False, True], ids=["idle-disk", "writer-behind"])
def test_sigterm_under_load_keeps_the_trace_of_every_answered_decision(
    cli, tmp_path, writer_behind: bool
) -> None:
    relevo, tenant, key = trained_engine(cli.data_dir)
    region_file = relevo.storage.data_dir / "tenants" / tenant.tenant_id / "region-eu.sqlite3"
    relevo.close()
    server = cli.serve(tmp_path / "serve.log")
    wait_until_healthy(server.url, server, 60, check="/readyz")  # type: ignore[attr-defined]
    load = Load(server.url, key)  # type: ignore[attr-defined]
    time.sleep(LOAD_S - LOCK_BEFORE_S)
    with write_locked(region_file) if writer_behind else nullcontext():
        time.sleep(LOCK_BEFORE_S)
        before = len(load.answered)
        server.send_signal(signal.SIGTERM)
        time.sleep(LOCK_AFTER_S)
    exit_code = server.wait(timeout=60)
    load.stop()
    # uvicorn shuts down, then raises the signal again so the process ends as SIGTERM asked.
    assert exit_code in (0, -signal.SIGTERM), (tmp_path / "serve.log").read_text()
    assert before > 50, "the load did not get going before the SIGTERM"
    assert load.other == [], f"answers other than 200 while stopping: {load.other[:10]}"

    assert len(set(load.answered)) == len(load.answered), "answers were reused"
    engine = build(Settings(data_dir=cli.data_dir, secret=SECRET))
    try:
        missing = [d for d in load.answered if engine.decision_log.get(tenant, d) is None]
    finally:
        engine.close()
    assert missing == [], f"{len(missing)} of {len(load.answered)} answered decisions lost"
