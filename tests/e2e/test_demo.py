"""``relevo demo`` on a machine without the public data sets: generated data, trained models,
a walk-through of one decision, then serving."""

from __future__ import annotations

import re
import subprocess
import time

import httpx

from tests.api.conftest import free_port
from tests.e2e.conftest import RELEVO


def test_the_demo_loads_trains_walks_through_and_answers_the_printed_curls(cli, tmp_path) -> None:
    port = free_port()
    env = {**cli.env, "RELEVO_SHARED_DATA": str(tmp_path / "absent")}
    output = tmp_path / "demo.out"
    process = subprocess.Popen(
        [RELEVO, "demo", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=output.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while "3. Its trace" not in output.read_text() or not _healthy(port):
            assert process.poll() is None, output.read_text()
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(0.2)
        text = output.read_text()
        assert "generating synthetic data" in text
        key = re.search(r"Bearer (rlv_\S+?)'", text).group(1)
        recommend, event = re.findall(r"-d '(\{.*\})'", text)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        url = f"http://127.0.0.1:{port}"
        answer = httpx.post(f"{url}/v1/recommend", content=recommend, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["fallback"] == "none" and len(answer.json()["items"]) == 5
        response = httpx.post(f"{url}/v1/events", content=event, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["counts"] == {"accepted": 1}
        assert "trained and promoted 11 models" in text and "; auto serves " in text
        assert "fallback none" in text
    finally:
        process.terminate()
        process.wait(timeout=10)


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False
