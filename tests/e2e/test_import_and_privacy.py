"""Bulk import of real files through the CLI, and raw person ids never reaching disk or logs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import SHARED_DATA, event

RETAIL = SHARED_DATA / "online-retail" / "online_retail.csv.gz"
RATINGS = SHARED_DATA / "ml-latest-small" / "ratings.csv"


def import_json(cli, *args: str) -> dict:
    return json.loads(cli.run("import", *args, "--json").stdout)


@pytest.fixture
def generated(cli, tmp_path) -> Path:
    """The project's own synthetic data, for machines without the public data sets."""
    cli.run("generate", str(tmp_path / "gen"), "--people", "300", "--items", "200")
    return tmp_path / "gen"


def test_movielens_ratings_import_completely(cli, generated) -> None:
    cli.create_tenant("films")
    if RATINGS.is_file():
        report = import_json(cli, str(RATINGS), "--tenant", "films", "--preset", "movielens")
        assert (report["rows"], report["accepted"], report["rejected"]) == (100_836, 100_836, 0)
    else:
        report = import_json(cli, str(generated / "events.jsonl"), "--tenant", "films")
        assert report["accepted"] == report["rows"] > 0
    again = import_json(
        cli,
        str(RATINGS) if RATINGS.is_file() else str(generated / "events.jsonl"),
        "--tenant",
        "films",
        *(["--preset", "movielens"] if RATINGS.is_file() else []),
    )
    assert again["accepted"] == 0 and again["duplicate"] == again["rows"]


def test_online_retail_imports_with_guests_returns_and_regions(cli, tmp_path) -> None:
    if not RETAIL.is_file():
        pytest.skip(f"{RETAIL} is absent; the synthetic import is covered by the MovieLens test")
    cli.create_tenant("shop", "uk,eu,row")
    report = import_json(cli, str(RETAIL), "--tenant", "shop", "--preset", "online-retail")
    assert report["rows"] == 541_909
    assert report["rejected"] == 0
    assert report["accepted"] + report["duplicate"] == 541_909
    assert report["duplicate"] == 5_268  # rows repeated word for word in the source
    from relevo.bootstrap import build
    from relevo.config import Settings
    from tests.conftest import SECRET

    engine = build(Settings(data_dir=cli.data_dir, secret=SECRET))
    try:
        states = {r: engine.storage.partition("shop", r).state() for r in ("uk", "eu", "row")}
        assert all(s.type_counts["purchase"] > 0 for s in states.values())
        assert sum(s.type_counts.get("return", 0) for s in states.values()) > 9_000
        guests = [p for s in states.values() for p in s.recent if p.startswith("a:")]
        assert len(guests) > 1_000
    finally:
        engine.close()


def test_bad_rows_are_counted_and_quarantined_not_lost(cli, tmp_path) -> None:
    cli.create_tenant("acme")
    source = tmp_path / "mixed.csv.gz"
    with gzip.open(source, "wt") as file:
        file.write(
            "who,what,when,qty\nu1,a,2026-01-01 10:00:00,1\nu2,b,not a time,1\n,c,2026-01-01 10:00:00,1\nu3,d,2026-01-01 10:00:00,many\n"
        )
    report = import_json(
        cli,
        str(source),
        "--tenant",
        "acme",
        "--type",
        "purchase",
        "--map",
        "user_id=who,item_id=what,occurred_at=when,value=qty",
    )
    assert (report["rows"], report["accepted"], report["rejected"]) == (4, 1, 3)
    listed = json.loads(cli.run("quarantine", "list", "--tenant", "acme", "--json").stdout)
    assert sorted(v["rule"] for r in listed for v in r["reasons"]) == [
        "format",
        "one_of_required",
        "type",
    ]


def test_cli_refuses_bad_input_without_a_traceback(cli, tmp_path) -> None:
    cli.create_tenant("acme")
    cases = [
        ("import", str(tmp_path / "missing.csv"), "--tenant", "acme"),
        ("import", __file__, "--tenant", "acme"),
        ("import", str(RATINGS), "--tenant", "acme", "--map", "userid=userId"),
        ("import", str(RATINGS), "--tenant", "nobody", "--preset", "movielens"),
        ("import", str(RATINGS), "--tenant", "acme", "--preset", "unknown"),
        ("tenants", "create", "Bad Name!"),
        ("keys", "revoke", "nope"),
        ("quarantine", "list", "--tenant", "acme", "--region", "mars"),
        ("quarantine", "list", "--tenant", "acme", "--region", "Bad!"),
    ]
    for args in cases:
        done = cli.run(*args, check=False)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "error:" in done.stderr and "Traceback" not in done.stderr + done.stdout
        assert "[red]" not in done.stderr


def test_bad_configuration_is_named_not_a_traceback(cli) -> None:
    cli.env["RELEVO_LATE_HORIZON"] = "forever"
    done = cli.run("tenants", "list", check=False)
    assert done.returncode == 2
    assert "RELEVO_LATE_HORIZON" in done.stderr and "Traceback" not in done.stderr


def test_raw_person_ids_never_reach_a_file_or_a_log_line(cli, tmp_path) -> None:
    key = cli.create_tenant("acme")
    log = tmp_path / "server.log"
    server = cli.serve(log)
    raw = {
        "user_id": "raw-user-zq9x",
        "anonymous_id": "raw-anon-zq9x",
        "session_id": "raw-sess-zq9x",
    }
    try:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {key}"}
        ) as client:
            assert (
                client.post(
                    "/v1/events",
                    json=[
                        event("ok", **raw),
                        event("bad", type="nope", **raw),
                        {**raw, "event_id": 5},
                    ],
                ).status_code
                == 207
            )
            assert client.post("/v1/events", json={"user_id": ["raw-user-zq9x"]}).status_code == 422
            assert (
                client.post(
                    "/v1/events",
                    content=b'{"user_id": "raw-user-zq9x"',
                    headers={"content-type": "application/json"},
                ).status_code
                == 422
            )
    finally:
        server.terminate()
        server.wait(timeout=10)
    files = [p for p in cli.data_dir.rglob("*") if p.is_file()] + [log]
    assert any(p.name.startswith("region-") for p in files)
    for path in files:
        content = path.read_bytes()
        for value in raw.values():
            assert value.encode() not in content, f"{value} found in {path}"


def test_a_table_named_after_the_fields_needs_no_mapping(cli, tmp_path) -> None:
    cli.create_tenant("acme")
    named = tmp_path / "named.csv"
    named.write_text(
        "event_id,user_id,item_id,occurred_at,consent.personalization\ne1,u1,a,2026-01-01T10:00:00Z,true\n"
    )
    report = import_json(cli, str(named), "--tenant", "acme", "--type", "view")
    assert (report["accepted"], report["rejected"]) == (1, 0)
    unnamed = tmp_path / "unnamed.csv"
    unnamed.write_text("who,what\nu1,a\n")
    done = cli.run("import", str(unnamed), "--tenant", "acme", check=False)
    assert done.returncode == 2 and "--map" in done.stderr
