"""The generated data set: sized as asked, and each person the same whatever the number."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec

from relevo.synthetic import generate

END = datetime(2026, 12, 1, tzinfo=UTC)


def events_of(folder: Path) -> list[dict]:
    with (folder / "events.jsonl").open("rb") as file:
        return [msgspec.json.decode(line) for line in file]


def test_events_asks_for_about_that_many_events(tmp_path: Path) -> None:
    counts = generate(tmp_path, people=2_000, items=300, end=END, events=20_000)
    assert counts["items"] == 300
    assert 18_000 <= counts["events"] <= 22_000
    assert counts["events"] == len(events_of(tmp_path))
    fewest = generate(tmp_path / "few", people=500, items=300, end=END, events=10)
    assert len({e.get("user_id") or e["anonymous_id"] for e in events_of(tmp_path / "few")}) == 500
    assert 500 * 6 <= fewest["events"] <= 500 * 9  # one visit each: about 7.6 events


def test_a_person_is_the_same_whatever_the_number_of_people(tmp_path: Path) -> None:
    generate(tmp_path / "small", people=20, items=200, seed=3, end=END)
    generate(tmp_path / "large", people=300, items=200, seed=3, end=END)

    def person(folder: Path, who: str) -> list[tuple[str, str, str]]:
        return [
            (e["type"], e["item_id"], e["occurred_at"])
            for e in events_of(folder)
            if who in (e.get("user_id"), e.get("anonymous_id"))
        ]

    for who in ("user-0", "anon-0", "user-7", "anon-7", "user-19", "anon-19"):
        assert person(tmp_path / "small", who) == person(tmp_path / "large", who)
    assert person(tmp_path / "small", "user-0") or person(tmp_path / "small", "anon-0")
