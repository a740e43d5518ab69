"""Whole-process helpers: the real ``relevo`` command, and servers in their own processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import free_port
from tests.conftest import SECRET

RELEVO = str(Path(sys.executable).with_name("relevo"))


@dataclass
class Cli:
    env: dict[str, str]
    data_dir: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [RELEVO, *args], env=self.env, capture_output=True, text=True, timeout=600
        )
        if check and done.returncode != 0:
            raise AssertionError(f"relevo {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def create_tenant(self, name: str, regions: str = "eu,us") -> str:
        output = self.run("tenants", "create", name, "--regions", regions).stdout
        return re.search(r"(rlv_\S+)", output).group(1)

    def serve(self, log: Path) -> subprocess.Popen:
        port = free_port()
        process = subprocess.Popen(
            [RELEVO, "serve", "--port", str(port)],
            env=self.env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        process.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
        wait_until_healthy(process.url, process)  # type: ignore[attr-defined]
        return process


def wait_until_healthy(
    url: str, process: subprocess.Popen, seconds: float = 30, check: str = "/healthz"
) -> None:
    """Until ``check`` answers 200 (``/readyz``: also warm, and every store writable)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(url + check, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url}{check} did not answer 200 within {seconds} s")


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    env = {**os.environ, "RELEVO_DATA_DIR": str(tmp_path / "data"), "RELEVO_SECRET": SECRET}
    env.pop("RELEVO_CONFIG", None)
    yield Cli(env, tmp_path / "data")
