"""The SQLite adapter's memory of people's versions: trusted for ``REMEMBER_S``, and renewed
before then for people who keep asking, so that none of them falls to a read on the event
loop's behalf (people precomputed together used to lapse together a minute later)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from relevo.adapters.sqlite.region import person_versions
from relevo.adapters.sqlite.storage import SqliteStorage
from relevo.domain.derived import derive
from relevo.domain.events import DEFAULT_WEIGHTS, Event
from relevo.domain.tenants import Tenant

T = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(person_versions, "time", fake)
    return fake


def test_versions_of_people_who_keep_asking_are_renewed_before_they_lapse(tmp_path, clock) -> None:
    storage = SqliteStorage(tmp_path / "data", "normal")
    tenant = Tenant("acme", "acme", ("eu",), T)
    storage.tenants.add_tenant(tenant)
    partition = storage.partition("acme", "eu")
    events = [
        Event(f"e{n}", "view", T + timedelta(seconds=n), user_id=person, item_id="a")
        for n, person in enumerate(["asks", "quiet"])
    ]
    with partition.transaction() as writer:
        writer.apply(derive(events, 10, DEFAULT_WEIGHTS, {}), 10)
    asks, quiet = partition.person_versions(["u:asks", "u:quiet"]).values()
    assert partition.known_person_version("u:asks") == asks  # served from memory: asked
    assert partition.renew_known_versions() == 0  # nobody's trust is running out yet

    clock.now += person_versions.REMEMBER_S - person_versions.RENEW_AHEAD_S / 2
    assert partition.renew_known_versions() == 1  # the one who asked, not the quiet one
    clock.now += person_versions.RENEW_AHEAD_S  # past the first read's trust
    assert partition.known_person_version("u:asks") == asks
    assert partition.known_person_version("u:quiet") is None
    assert partition.person_version("u:quiet") == quiet
    storage.close()
