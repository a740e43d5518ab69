"""Shared fixtures: a real engine on real SQLite files in a temporary directory per test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from relevo.bootstrap import Relevo, build
from relevo.config import Settings
from relevo.domain.tenants import Tenant

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
SUMMARY: list[str] = []
"""Lines a test wants in the run's closing summary (a figure it measured), shown even when
pytest captures the test's own output."""


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in SUMMARY:
        terminalreporter.write_line(line)


SECRET = "test-secret-" + "x" * 40


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=data_dir, secret=SECRET, sqlite_synchronous="normal", **overrides)


@pytest.fixture
def relevo(tmp_path: Path) -> Iterator[Relevo]:
    engine = build(make_settings(tmp_path / "data"))
    yield engine
    engine.close()


@pytest.fixture
def tenant(relevo: Relevo) -> Tenant:
    created, _ = relevo.tenancy.create_tenant("acme", ["eu", "us"])
    return created


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def event(event_id: str = "e-1", **fields: Any) -> dict[str, Any]:
    """A valid view event, as a client would send it; override any field."""
    body: dict[str, Any] = {
        "event_id": event_id,
        "type": "view",
        "occurred_at": iso(now() - timedelta(minutes=1)),
        "user_id": "u-42",
        "item_id": "sku-1",
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}
