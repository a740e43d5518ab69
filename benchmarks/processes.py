"""What the benchmarks (ingest.py, models.py, and serve.py and soak.py through serving/) need
of server processes: a free loopback port, a stop that always leaves nothing running, and a
process tree's resident memory."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

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


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process and all its descendants (VmRSS), in MB; None once gone."""
    total, pending, seen = 0, [pid], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            status_text = Path(f"/proc/{current}/status").read_text()
        except OSError:
            if current == pid:
                return None
            continue
        found = re.search(r"^VmRSS:\s+(\d+) kB", status_text, re.M)
        total += int(found[1]) if found else 0
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                pending += [int(child) for child in task.read_text().split()]
            except (OSError, ValueError):
                continue
    return total / 1024
