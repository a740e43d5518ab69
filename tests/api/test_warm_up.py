"""A server warms the decision path in a thread as it starts: ``/readyz`` says 503 until every
tenant's promoted models and catalog are loaded, ``/healthz`` answers at once meanwhile, and the
first decision waits for the load without holding the event loop.

The model is a real one, trained on a few purchases; only its load is slowed (a real load
then a sleep), so that the test can see what happens while it runs.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx

from relevo.bootstrap import Relevo, build
from relevo.decide.candidates import MODEL_THREADS
from relevo.decide.pools import IO_THREADS
from relevo.domain.events import DEFAULT_WEIGHTS, IngestMode
from relevo.domain.tenants import Scope, Tenant
from relevo.training.data import from_log
from tests.api.conftest import HYBRID_PLACEMENT, running
from tests.api.test_people_api import problem
from tests.conftest import event, iso, make_settings, now

LOAD_S = 0.5
"""What each model load is slowed by."""
PROMPT_S = 0.2


def trained_engine(data_dir: Path) -> tuple[Relevo, Tenant, str]:
    """An engine with a tenant, its catalog and a promoted hybrid model, as a restart finds
    them: nothing loaded for serving yet."""
    relevo = build(make_settings(data_dir, placements=HYBRID_PLACEMENT))
    tenant, _ = relevo.tenancy.create_tenant("shop", ["eu"])
    _, key = relevo.tenancy.create_key(tenant.tenant_id, [Scope.SERVE])
    items = [{"item_id": f"cup-{i}", "title": f"Cup {i}", "category": "kitchen"} for i in range(6)]
    relevo.catalog.upsert(tenant, items)
    events = [
        event(
            f"e{p}-{j}",
            type="purchase",
            user_id=f"u{p}",
            item_id=f"cup-{(p + j) % 6}",
            occurred_at=iso(now() - timedelta(days=10 - j)),
        )
        for p in range(12)
        for j in range(3)
    ]
    relevo.ingest.ingest(tenant, events, mode=IngestMode.BACKFILL)
    relevo.training.train(tenant, from_log(relevo.storage, tenant, DEFAULT_WEIGHTS), ["hybrid"])
    return relevo, tenant, key


def slow_loads(relevo: Relevo) -> None:
    """Each model load takes ``LOAD_S`` more (the real load still runs)."""
    real = relevo.model_loader.load

    def load(*args, **kwargs):
        time.sleep(LOAD_S)
        return real(*args, **kwargs)

    relevo.model_loader.load = load  # type: ignore[method-assign]


def test_readiness_waits_for_the_models_and_health_answers_while_they_load(tmp_path) -> None:
    relevo, _, key = trained_engine(tmp_path / "data")
    assert "serving" not in relevo.__dict__  # nothing loaded, as after a restart
    slow_loads(relevo)
    answers: list[httpx.Response] = []
    try:
        with running(relevo, ready=False) as server:
            warming = httpx.get(server.url + "/readyz")
            body = problem(warming, 503)
            assert body["checks"][0]["check"] == "decisions"
            assert body["checks"][0]["rule"] == "warming_up"
            assert int(warming.headers["Retry-After"]) > 0

            def first_decision() -> None:
                answers.append(
                    httpx.post(
                        server.url + "/v1/recommend",
                        json={"user_id": "u1", "k": 3},
                        headers={"Authorization": f"Bearer {key}"},
                        timeout=30,
                    )
                )

            asking = threading.Thread(target=first_decision)
            with httpx.Client(base_url=server.url) as probe:  # one client: no setup per call
                asking.start()
                while asking.is_alive():
                    started = time.perf_counter()
                    assert probe.get("/healthz").status_code == 200
                    assert time.perf_counter() - started < PROMPT_S, "the event loop was held"
                    time.sleep(0.02)
            asking.join()
            assert httpx.get(server.url + "/readyz").status_code == 200
    finally:
        relevo.close()
    assert answers[0].status_code == 200, answers[0].text
    decided = answers[0].json()
    assert decided["model_version"].startswith("hybrid:") and decided["fallback"] == "none"


def test_a_tenant_with_no_model_is_warm_from_its_fallbacks(tmp_path) -> None:
    relevo = build(make_settings(tmp_path / "data"))
    relevo.tenancy.create_tenant("empty", ["eu", "us"])
    try:
        with running(relevo) as server:  # returns once /readyz says 200
            assert httpx.get(server.url + "/readyz").json() == {"status": "ready"}
    finally:
        relevo.close()


def test_a_server_starts_its_pools_whole(tmp_path) -> None:
    """Threads started under a burst, minutes in, each took memory of their own (issue 17's
    soak): every thread of the blocking-call and model pools runs from the start."""
    before = set(threading.enumerate())  # other tests' engines may still have theirs
    relevo, _, key = trained_engine(tmp_path / "data")

    def started() -> tuple[int, int]:
        new = [t.name for t in set(threading.enumerate()) - before]
        return sum(n.startswith("relevo-io") for n in new), sum(
            n.startswith("relevo-model") for n in new
        )

    try:
        with running(relevo) as server:
            assert started() == (IO_THREADS, MODEL_THREADS)
            asked = {"user_id": "u1", "k": 3}
            headers = {"Authorization": f"Bearer {key}"}
            for _ in range(20):
                answer = httpx.post(server.url + "/v1/recommend", json=asked, headers=headers)
                assert answer.status_code == 200, answer.text
            assert started() == (IO_THREADS, MODEL_THREADS)
    finally:
        relevo.close()
