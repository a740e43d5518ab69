"""`relevo models` end to end: versions registered through the engine (as training will), then
listed, shown, promoted and rolled back through the real command, and bad input refused with a
message that names the field, exit code 2 and no traceback."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from relevo.bootstrap import build
from relevo.domain.model_records import NewModel, artifact_checksum
from tests.conftest import make_settings

V1 = {"params.json": b'{"k": 50}', "arrays.npz": b"\x00\x01"}
V2 = {"params.json": b'{"k": 100}', "arrays.npz": b"\x00\x02"}


def itemknn(ndcg: float, k: int) -> NewModel:
    return NewModel(
        name="itemknn",
        kind="itemknn",
        data_from=datetime(2026, 1, 1, tzinfo=UTC),
        data_to=datetime(2026, 2, 28, tzinfo=UTC),
        event_count=12_345,
        params={"k": k},
        metrics={"ndcg@10": ndcg, "recall@20": 0.4},
        code_version="0.1.0",
        lineage={"interactions": "eu,us"},
        train_seconds=2.5,
    )


@pytest.fixture
def registered(cli):
    """Tenant acme with itemknn v1 (promoted) and v2, and an unpromoted hybrid v1."""
    cli.create_tenant("acme")
    cli.env["COLUMNS"] = "200"  # tables on one line each, whatever the terminal
    engine = build(make_settings(cli.data_dir))
    try:
        tenant = engine.tenancy.tenant("acme")
        engine.registry.register(tenant, itemknn(0.2512, 50), V1, promote=True)
        engine.registry.register(tenant, itemknn(0.3101, 100), V2)
        engine.registry.register(
            tenant,
            NewModel(name="hybrid", kind="hybrid", lineage={"base": {"itemknn": 2}}),
            {"ranker.txt": b"tree"},
        )
    finally:
        engine.close()
    return cli


def row(output: str, *cells: str) -> str:
    """The one table line holding every given cell."""
    lines = [line for line in output.splitlines() if all(f" {c} " in line for c in cells)]
    assert len(lines) == 1, output
    return lines[0]


def promoted_version(cli, name: str) -> int | None:
    engine = build(make_settings(cli.data_dir))
    try:
        record = engine.registry.promoted(engine.tenancy.tenant("acme"), name)
        return None if record is None else record.version
    finally:
        engine.close()


def refused(cli, *args: str) -> list[str]:
    done = cli.run(*args, check=False)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    return done.stderr.splitlines()


def test_list_shows_every_version_with_its_window_metric_and_the_serving_mark(registered) -> None:
    output = registered.run("models", "list", "-t", "acme").stdout
    for header in ("name", "version", "kind", "created", "events", "data window", "ndcg@10"):
        assert header in output
    first = row(output, "itemknn", "1")
    assert "12,345" in first and "2026-01-01 to 2026-02-28" in first
    assert "0.2512" in first and first.rstrip("│ ").endswith("*")
    second = row(output, "itemknn", "2")
    assert "0.3101" in second and not second.rstrip("│ ").endswith("*")
    assert "hybrid" in row(output, "hybrid", "1")
    assert output.index("itemknn") > output.index("hybrid")  # names sorted
    assert output.index(row(output, "itemknn", "2")) < output.index(first)  # newest first

    listed = json.loads(registered.run("models", "list", "-t", "acme", "--json").stdout)
    assert [(m["name"], m["promoted"]) for m in listed] == [("hybrid", None), ("itemknn", 1)]
    assert [v["version"] for v in listed[1]["versions"]] == [2, 1]


def test_show_gives_the_whole_record(registered) -> None:
    output = registered.run("models", "show", "itemknn", "-t", "acme").stdout
    assert "1 (promoted)" in output  # by default: the version that serves
    for text in (
        "2026-01-01 to 2026-02-28",
        "12,345",
        "ndcg@10 0.2512",
        '{"k":50}',
        '{"interactions":"eu,us"}',
        "arrays.npz, params.json",
        f"sha256:{artifact_checksum(V1)}",
        "promote to version 1",
    ):
        assert text in output, text

    shown = json.loads(
        registered.run("models", "show", "itemknn", "-t", "acme", "--version", "2", "--json").stdout
    )
    assert (shown["version"], shown["promoted"]) == (2, False)
    assert shown["metrics"] == {"ndcg@10": 0.3101, "recall@20": 0.4}
    assert shown["params"] == {"k": 100}
    assert shown["checksum"] == artifact_checksum(V2)
    assert shown["data_from"] == "2026-01-01T00:00:00Z"
    assert [p["version"] for p in shown["promotions"]] == [1]
    hybrid = json.loads(registered.run("models", "show", "hybrid", "-t", "acme", "--json").stdout)
    assert hybrid["lineage"] == {"base": {"itemknn": 2}}


def test_promote_then_roll_back_twice(registered) -> None:
    run = registered.run
    assert (
        "itemknn version 2 promoted"
        in run("models", "promote", "itemknn", "2", "-t", "acme").stdout
    )
    assert promoted_version(registered, "itemknn") == 2
    assert "was already promoted" in run("models", "promote", "itemknn", "2", "-t", "acme").stdout

    output = run("models", "rollback", "itemknn", "-t", "acme").stdout
    assert "itemknn rolled back: version 1 is now promoted" in output
    assert promoted_version(registered, "itemknn") == 1  # at once, for every process
    assert (
        row(run("models", "list", "-t", "acme").stdout, "itemknn", "1").rstrip("│ ").endswith("*")
    )

    lines = refused(registered, "models", "rollback", "itemknn", "-t", "acme")
    assert lines == [
        "error: Nothing to roll back to",
        "  name: no version of 'itemknn' was promoted before version 1 (rollback)",
    ]
    assert promoted_version(registered, "itemknn") == 1


@pytest.mark.parametrize(
    ("args", "field", "detail"),
    [
        (("show", "ease"), "name", "no model 'ease' in tenant 'acme' (exists)"),
        (("promote", "ease", "1"), "name", "no model 'ease' in tenant 'acme' (exists)"),
        (("rollback", "ease"), "name", "no model 'ease' in tenant 'acme' (exists)"),
        (("promote", "itemknn", "9"), "version", "'itemknn' has no version 9 (it has 1 to 2)"),
        (("show", "itemknn", "--version", "9"), "version", "'itemknn' has no version 9"),
        (("rollback", "hybrid"), "name", "'hybrid' has no promoted version (rollback)"),
    ],
)
def test_bad_input_names_the_field(registered, args, field, detail) -> None:
    lines = refused(registered, "models", *args, "-t", "acme")
    assert len(lines) == 2 and lines[0].startswith("error: ")
    assert lines[1].startswith(f"  {field}: ") and detail in lines[1]


def test_an_unknown_tenant_is_refused(registered) -> None:
    lines = refused(registered, "models", "list", "-t", "nobody")
    assert lines[1] == "  tenant: no tenant 'nobody' (exists)"


def test_a_damaged_artifact_is_not_promoted(registered) -> None:
    artifact = registered.data_dir / "tenants" / "acme" / "models" / "itemknn" / "2"
    (artifact / "params.json").write_bytes(b'{"k": 1000}')
    lines = refused(registered, "models", "promote", "itemknn", "2", "-t", "acme")
    assert lines[0] == "error: Corrupt model artifact"
    assert lines[1].startswith("  version: model 'itemknn' version 2: its files do not match")
    assert promoted_version(registered, "itemknn") == 1
