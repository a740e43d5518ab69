"""``relevo demo`` on a machine without the public data sets: generated data, then serving."""

from __future__ import annotations

import re
import subprocess
import time

import httpx

from tests.api.conftest import free_port
from tests.e2e.conftest import RELEVO


def test_the_demo_loads_data_and_answers_the_printed_curl(cli, tmp_path) -> None:
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
        while "curl" not in output.read_text() or not _healthy(port):
            assert process.poll() is None, output.read_text()
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(0.2)
        text = output.read_text()
        assert "generating synthetic data" in text
        key = re.search(r"Bearer (rlv_\S+?)'", text).group(1)
        body = re.search(r"-d '(\{.*\})'", text).group(1)
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/events",
            content=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["counts"] == {"accepted": 1}
    finally:
        process.terminate()
        process.wait(timeout=10)


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False
