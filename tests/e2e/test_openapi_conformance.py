"""schemathesis against a real ``relevo serve`` with data and trained models: every operation,
every check, the stateful links included, bounded in examples and time. The server must keep
to the document it serves: no server error, no answer outside the schema, no failed check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from relevo.synthetic import generate
from tests.conftest import SUMMARY
from tests.e2e.conftest import Cli, wait_until_healthy

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
MAX_EXAMPLES = 20
MAX_SECONDS = 150
SEED = 17  # the same run each time; change it to explore elsewhere

# schemathesis's defaults, and what this API adds where its document says so.
POSITIVE = ["2xx", "401", "403", "404", "409"]
NEGATIVE = ["400", "401", "403", "404", "405", "406", "409", "415", "422"]


def checks_config(document: dict[str, Any]) -> str:
    """What schemathesis may expect, read from the document itself, so that the two cannot
    drift apart: a body past a declared limit gets 413; an operation that declares business
    rules (``x-business-rules``) answers a schema-valid body that breaks one with 422; and a
    batch that declares 207 takes its good records beside the bad ones."""
    lines = [
        "[checks.negative_data_rejection]",
        f"expected-statuses = {json.dumps([*NEGATIVE, '413'])}",
    ]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            expected = {}
            if "x-business-rules" in operation:
                expected["positive_data_acceptance"] = [*POSITIVE, "422"]
            if "207" in operation["responses"]:
                expected["negative_data_rejection"] = [*NEGATIVE, "413", "207"]
            if expected:
                lines += ["[[operations]]", f"include-path = {json.dumps(path)}",
                          f'include-method = "{method.upper()}"']  # fmt: skip
                lines += [
                    f"checks.{c}.expected-statuses = {json.dumps(s)}" for c, s in expected.items()
                ]
    return "\n".join(lines) + "\n"


def serve_with_data(cli: Cli, tmp_path: Path) -> tuple[str, str, subprocess.Popen]:
    generated = tmp_path / "generated"
    generate(generated, people=150, items=120)
    key = cli.create_tenant("shop")
    cli.run("items", "import", str(generated / "items.jsonl"), "-t", "shop")
    cli.run("import", str(generated / "events.jsonl"), "-t", "shop")
    cli.run("train", "-t", "shop")
    server = cli.serve(tmp_path / "serve.log")
    return server.url, key, server  # type: ignore[attr-defined]


def test_the_server_keeps_to_its_openapi_document(cli, tmp_path) -> None:
    url, key, server = serve_with_data(cli, tmp_path)
    try:
        wait_until_healthy(url, server, 60, check="/readyz")
        config = tmp_path / "schemathesis.toml"
        config.write_text(checks_config(httpx.get(url + "/openapi.json").json()))
        report, har = tmp_path / "report.json", tmp_path / "requests.har"
        done = subprocess.run(
            [SCHEMATHESIS, "--no-color", "--config-file", str(config), "run",
             url + "/openapi.json", "--checks", "all", "-H", f"Authorization: Bearer {key}",
             "--max-examples", str(MAX_EXAMPLES), "--max-time", str(MAX_SECONDS),
             "--seed", str(SEED), "--generation-database", "none",
             "--report", "json,har", "--report-json-path", str(report),
             "--report-har-path", str(har)],
            cwd=tmp_path, capture_output=True, text=True, timeout=MAX_SECONDS + 240,
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
    (tmp_path / "schemathesis.txt").write_text(done.stdout + done.stderr)
    summary = json.loads(report.read_text())
    requests = len(json.loads(har.read_text())["log"]["entries"])
    SUMMARY.append(
        f"schemathesis: {requests:,} requests, {summary['test_cases']['generated']:,} test"
        f" cases, {summary['operations']['tested']} operations, failures {summary['failures']},"
        f" errors {summary['errors']}"
    )
    assert done.returncode == 0, f"see {tmp_path / 'schemathesis.txt'}:\n" + done.stdout[-6000:]
    assert summary["operations"]["tested"] == summary["operations"]["total"]
    assert summary["failures"] == [] and summary["errors"] == []
    assert summary["phases"]["stateful"]["status"] == "success"
    assert requests > 1000
