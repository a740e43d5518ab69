"""What the benchmarks (ingest.py, and serve.py and soak.py through serving/) need of server
processes: a free loopback port, and a stop that always leaves nothing running."""

from __future__ import annotations

import socket
import subprocess

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill if it has not exited within 10 s (a no-op if it already has)."""
    if server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
