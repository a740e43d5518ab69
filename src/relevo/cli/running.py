"""Running the engine: ``serve``, and ``demo`` (set up, load data, serve)."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

import typer
import uvicorn

from relevo.api.app import create_app
from relevo.bootstrap import build
from relevo.cli.app import app, console, out
from relevo.cli.data import progress_bar
from relevo.config import load_settings
from relevo.domain.tenants import Scope
from relevo.importing.service import auto_workers, import_events, import_items


@app.command()
def serve(
    host: str | None = typer.Option(
        None, help="Interface to bind (default RELEVO_HOST or 127.0.0.1)."
    ),
    port: int | None = typer.Option(
        None, min=1, max=65535, help="Port (default RELEVO_PORT or 8000)."
    ),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes."),
) -> None:
    """Serve the HTTP API on the configured storage."""
    settings = load_settings()
    build(settings).close()  # fail here, with a clear message, if the configuration is bad
    uvicorn.run(
        "relevo.api.app:from_environment",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


@app.command()
def demo(
    port: int = typer.Option(8000, min=1, max=65535),
    shared_data: Path = typer.Option(
        Path("../shared/data"),
        envvar="RELEVO_SHARED_DATA",
        help="Folder of the public data sets; synthetic data is generated if it is absent.",
    ),
) -> None:
    """Set up a demo tenant, load Online Retail (or synthetic data), and serve it."""
    overrides = {} if "RELEVO_DATA_DIR" in os.environ else {"data_dir": Path("relevo-demo-data")}
    relevo = build(load_settings(**overrides))
    retail = shared_data / "online-retail" / "online_retail.csv.gz"
    tenant = next((t for t in relevo.tenancy.tenants() if t.tenant_id == "demo"), None)
    if tenant is None:
        regions = ("uk", "eu", "row") if retail.is_file() else ("eu", "us")
        tenant, _ = relevo.tenancy.create_tenant("demo", regions)
    loaded = relevo.ingest.logged_events(tenant)
    if loaded:
        console.print(f"demo data already loaded: {loaded:,} events")
    else:
        if retail.is_file():
            console.print(f"loading Online Retail from {retail}")
            items_file, events_file, preset = retail, retail, "online-retail"
        else:
            from relevo.synthetic import generate

            generated = Path(relevo.settings.data_dir) / "generated"
            console.print(f"{retail} not found: generating synthetic data in {generated}")
            generate(generated)
            items_file, events_file, preset = (
                generated / "items.jsonl",
                generated / "events.jsonl",
                None,
            )
        progress, update = progress_bar(True)
        with progress:
            items = import_items(relevo, tenant, items_file, preset=preset, progress=update)
            events = import_events(
                relevo,
                tenant,
                events_file,
                preset=preset,
                progress=update,
                workers=auto_workers(events_file),
                build=build,
            )
        console.print(
            f"catalog: {items.accepted:,} items; events: {events.accepted:,} accepted,"
            f" {events.duplicate:,} duplicate, {events.rejected:,} refused, {events.per_second:,.0f}/s"
        )
    _, key = relevo.tenancy.create_key("demo", [Scope.INGEST], label="demo")
    user, item = ("17850", "85123A") if "uk" in tenant.regions else ("user-1", "item-1")
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    body = (
        f'{{"event_id": "demo-{secrets.token_hex(4)}", "type": "view", "occurred_at": "{now}",'
        f' "user_id": "{user}", "item_id": "{item}", "context": {{"region": "{tenant.default_region}"}}}}'
    )
    out.print(
        f"\nRelevo is starting on http://127.0.0.1:{port} (API docs at /docs). Ingest an event:\n"
    )
    out.print(
        f"curl -s -X POST http://127.0.0.1:{port}/v1/events \\\n"
        f"  -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n"
        f"  -d '{body}'\n"
    )
    uvicorn.run(
        create_app(relevo), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
