"""``relevo serve`` for a run: started on a free port, primed until its model answers, and
left until its background precompute has settled."""

from __future__ import annotations

import itertools
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

import httpx

from processes import free_port, stop_server
from serving.common import HOST, K
from serving.metrics import precomputed
from serving.setup import RELEVO


def wait_healthy(port: int, alive: Callable[[], bool], describe: Callable[[], str]) -> None:
    """Poll GET /healthz until it answers 200; fail early if the server exits."""
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the server exited:\n{describe()}")
        try:
            answer = httpx.get(f"http://{HOST}:{port}/healthz", timeout=1.0, trust_env=False)
            if answer.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server was not healthy after 60 s:\n{describe()}")


def start_relevo(env: dict[str, str], log: Path, stack: ExitStack) -> tuple[int, int]:
    """``relevo serve`` with one worker, stopped when ``stack`` closes: its port and pid."""
    port = free_port()
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [str(RELEVO), "serve", "--host", HOST, "--port", str(port), "--workers", "1"],
            env=env,
            cwd=log.parent,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    stack.callback(stop_server, server)
    wait_healthy(port, lambda: server.poll() is None, log.read_text)
    return port, server.pid


def prime(port: int, key: str, users: Sequence[str]) -> tuple[float, Counter[str]]:
    """Sequential recommends until the model has loaded (an answer without fallback, or 60 s):
    the seconds it took, and the fallbacks of the priming answers."""
    seen: Counter[str] = Counter()
    started = time.perf_counter()
    with httpx.Client(
        base_url=f"http://{HOST}:{port}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=60.0,
        trust_env=False,
    ) as client:
        for user in itertools.islice(itertools.cycle(users), 2_000):
            answer = client.post("/v1/recommend", json={"user_id": user, "k": K})
            if answer.status_code != 200:
                raise RuntimeError(f"recommend answered {answer.status_code}: {answer.text[:500]}")
            seen[answer.json().get("fallback", "(missing)")] += 1
            if seen["none"] >= 20 or time.perf_counter() - started > 60:
                break
    return time.perf_counter() - started, seen


def wait_precomputed(port: int, limit_s: float = 180.0) -> tuple[float, float]:
    """Wait until the background precompute of active people's rankings has settled (the
    counter unchanged for 6 s, past its first sweep): a steady-state server, as in production
    some seconds after a start or a promotion. Returns (seconds waited, rankings)."""
    started = time.perf_counter()
    last, stable_since = -1.0, time.perf_counter()
    while time.perf_counter() - started < limit_s:
        now = precomputed(port)
        if now != last:
            last, stable_since = now, time.perf_counter()
        elif now > 0 and time.perf_counter() - stable_since >= 6:
            break
        time.sleep(0.5)
    return time.perf_counter() - started, last
