"""The CLI's data workflows end to end: Parquet and JSON Lines import, a schema fix followed by a
quarantine replay, and a full rebuild of derived state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from relevo.bootstrap import build
from relevo.config import Settings
from tests.conftest import SECRET, event, iso


def test_parquet_import_with_typed_columns(cli, tmp_path) -> None:
    cli.create_tenant("acme")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    table = pa.table(
        {
            "customer": pa.array([17850.0, 17851.0, None]),
            "sku": ["a", "b", "c"],
            "at": pa.array(
                [start, start + timedelta(hours=1), start], pa.timestamp("us", tz="UTC")
            ),
            "qty": [1, -2, 3],
            "invoice": ["i1", "i2", "i3"],
        }
    )
    pq.write_table(table, tmp_path / "orders.parquet")
    report = json.loads(
        cli.run(
            "import",
            str(tmp_path / "orders.parquet"),
            "--tenant",
            "acme",
            "--type",
            "purchase",
            "--json",
            "--map",
            "user_id=customer,guest_id=invoice,item_id=sku,occurred_at=at,value=qty",
        ).stdout
    )
    assert (report["rows"], report["accepted"], report["rejected"]) == (3, 3, 0)
    engine = build(Settings(data_dir=cli.data_dir, secret=SECRET))
    try:
        state = engine.storage.partition("acme", "eu").state()
        assert state.type_counts == {"purchase": 2, "return": 1}
        assert sum(1 for person in state.recent if person.startswith("a:")) == 1
    finally:
        engine.close()


def test_a_schema_fix_then_quarantine_replay_then_rebuild(cli, tmp_path) -> None:
    cli.create_tenant("acme")
    events = tmp_path / "events.jsonl"
    lines = [
        event("w-1", type="wishlist", properties={"list": "xmas"}),
        event("v-1"),
        event("v-2", user_id=3),
    ]
    events.write_text("\n".join(json.dumps(e) for e in lines) + "\nnot json\n")
    report = json.loads(cli.run("import", str(events), "--tenant", "acme", "--json").stdout)
    assert (report["accepted"], report["rejected"]) == (1, 3)

    schema = tmp_path / "wishlist.json"
    schema.write_text(
        json.dumps(
            {
                "type": "wishlist",
                "version": "1-0-0",
                "schema": {"type": "object", "properties": {"list": {"type": "string"}}},
            }
        )
    )
    assert "registered" in cli.run("schemas", "register", str(schema), "--tenant", "acme").stdout
    assert "wishlist" in cli.run("schemas", "list", "--tenant", "acme").stdout

    replayed = json.loads(cli.run("quarantine", "replay", "--tenant", "acme", "--json").stdout)
    assert replayed == {"accepted": 1, "duplicate": 0, "rejected": 2}
    left = json.loads(cli.run("quarantine", "list", "--tenant", "acme", "--json").stdout)
    assert sorted(v["rule"] for r in left for v in r["reasons"]) == ["json", "type"]

    rebuilt = json.loads(cli.run("replay", "--tenant", "acme", "--json").stdout)
    assert rebuilt == {"replayed": {"eu": 2, "us": 0}}
    engine = build(Settings(data_dir=cli.data_dir, secret=SECRET))
    try:
        assert engine.storage.partition("acme", "eu").state().type_counts == {
            "view": 1,
            "wishlist": 1,
        }
    finally:
        engine.close()
    assert iso(datetime.now(UTC))  # sanity: helpers importable in the e2e context


def test_keys_lifecycle_through_the_cli(cli) -> None:
    cli.create_tenant("acme")
    created = cli.run(
        "keys",
        "create",
        "--tenant",
        "acme",
        "--scope",
        "ingest",
        "--scope",
        "serve",
        "--label",
        "web",
    ).stdout
    key_id = created.split()[1]
    assert key_id in cli.run("keys", "list", "--tenant", "acme").stdout
    assert "revoked" in cli.run("keys", "revoke", key_id).stdout
    assert cli.run("keys", "revoke", key_id, check=False).returncode == 2


def test_an_import_in_parallel_workers_equals_one_in_a_single_process(cli, tmp_path) -> None:
    cli.run("generate", str(tmp_path / "gen"), "--people", "400", "--items", "100")
    source = tmp_path / "gen" / "events.jsonl"
    doubled = tmp_path / "doubled.jsonl"  # every event twice: dedupe across workers
    doubled.write_bytes(source.read_bytes() * 2)
    states = []
    for workers, data in (("1", "one"), ("2", "two")):
        cli.env["RELEVO_DATA_DIR"] = str(tmp_path / data)
        cli.create_tenant("acme")
        report = json.loads(
            cli.run(
                "import", str(doubled), "--tenant", "acme", "--workers", workers, "--json"
            ).stdout
        )
        assert report["accepted"] == report["duplicate"] == report["rows"] // 2
        engine = build(Settings(data_dir=tmp_path / data, secret=SECRET))
        try:
            states.append({r: engine.storage.partition("acme", r).state() for r in ("eu", "us")})
            assert engine.ingest.logged_events(engine.tenancy.tenant("acme")) == report["accepted"]
        finally:
            engine.close()
    assert states[0] == states[1]
    assert sum(sum(s.type_counts.values()) for s in states[0].values()) > 1_000
