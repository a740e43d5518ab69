"""SIGKILL the server mid-stream: every acknowledged event is in the log exactly once."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from datetime import UTC, datetime

import httpx

from relevo.bootstrap import build
from relevo.config import Settings
from tests.conftest import SECRET, event


def test_acknowledged_events_survive_a_sigkill_exactly_once(cli, tmp_path) -> None:
    key = cli.create_tenant("acme")
    server = cli.serve(tmp_path / "server.log")
    acked: list[str] = []
    sent: list[list[dict]] = []
    stop = threading.Event()

    def stream() -> None:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=10
        ) as client:
            for n in range(10_000):
                if stop.is_set():
                    return
                batch = [
                    event(f"e-{n}-{i}", user_id=f"u-{i % 7}", item_id=f"sku-{i}") for i in range(50)
                ]
                sent.append(batch)
                try:
                    response = client.post("/v1/events", json=batch)
                except httpx.TransportError:
                    return  # the server died under us: this batch was never acknowledged
                assert response.status_code == 200, response.text
                acked.extend(
                    r["event_id"] for r in response.json()["results"] if r["status"] == "accepted"
                )

    client = threading.Thread(target=stream)
    client.start()
    deadline = time.monotonic() + 60
    while len(acked) < 2_000 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=10)
    stop.set()
    client.join(timeout=30)
    assert len(acked) >= 2_000, "the stream did not get going before the kill"

    restarted = cli.serve(tmp_path / "server.log")
    try:
        engine = build(Settings(data_dir=cli.data_dir, secret=SECRET))
        logged = Counter(
            e.event.event_id
            for region in ("eu", "us")
            for e in engine.storage.partition("acme", region).events()
        )
        engine.close()
        assert all(logged[event_id] == 1 for event_id in acked)
        assert max(logged.values()) == 1
        # Re-sending everything: every acknowledged event is a duplicate, nothing counts twice.
        with httpx.Client(
            base_url=restarted.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as c:
            statuses = Counter()
            for batch in sent:
                for result in c.post("/v1/events", json=batch).json()["results"]:
                    statuses[result["status"]] += 1
                    if result["event_id"] in acked:
                        assert result["status"] == "duplicate"
        assert statuses["duplicate"] >= len(acked)
        assert statuses["rejected"] == 0
    finally:
        restarted.terminate()
        restarted.wait(timeout=10)
    assert datetime.now(UTC)  # the run finished within the test's own bounds
