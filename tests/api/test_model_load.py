"""A promotion loads the new model in the background: while it loads, requests for other
people keep being answered by the model that served before, and the new one serves once
loaded (issue 18, point 7: the event loop never waits on disk or on a load).

The load is held open by the test (it waits for an event), so what is shown does not hang
on timing: were the event loop blocked by the load, the requests would time out.
"""

from __future__ import annotations

import threading
import time

import httpx

from relevo.decide.promoted import ServingState
from relevo.domain.events import DEFAULT_WEIGHTS
from relevo.training.data import from_log
from tests.api.conftest import running
from tests.api.test_warm_up import trained_engine

WAIT_S = 20.0


def test_requests_are_answered_while_a_promoted_model_loads(tmp_path) -> None:
    relevo, tenant, key = trained_engine(tmp_path / "data")
    relevo.__dict__["serving"] = ServingState(
        relevo.catalog, relevo.registry, relevo.model_loader, refresh_s=0.1
    )
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with running(relevo) as server, httpx.Client(base_url=server.url, headers=headers) as web:

            def served_by(person: str) -> str:
                answer = web.post("/v1/recommend", json={"user_id": person, "k": 3}, timeout=5)
                assert answer.status_code == 200, answer.text
                assert answer.json()["fallback"] == "none"
                return answer.json()["model_version"]

            before = served_by("u0")
            loading, release = threading.Event(), threading.Event()
            real = relevo.model_loader.load

            def held(*args, **kwargs):
                loading.set()
                assert release.wait(WAIT_S), "the test never released the load"
                return real(*args, **kwargs)

            relevo.model_loader.load = held  # type: ignore[method-assign]
            data = from_log(relevo.storage, tenant, DEFAULT_WEIGHTS)
            relevo.training.train(tenant, data, ["hybrid"])  # promoted: a new version
            assert loading.wait(WAIT_S), "the new version was never loaded"
            during = {served_by(f"u{n}") for n in range(1, 12)}  # the load is still held
            assert during == {before}
            release.set()
            after = before
            for _ in range(200):  # the check that loaded it finishes in the background
                after = served_by("u1")
                if after != before:
                    break
                time.sleep(0.05)
            assert after != before and after.startswith("hybrid:")
    finally:
        relevo.close()
