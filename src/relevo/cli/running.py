"""Running the engine: ``serve``, and ``demo`` (set up, load data, serve)."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import httpx
import typer
import uvicorn
from rich.markup import escape

from relevo.api.app import create_app
from relevo.bootstrap import Relevo, build, import_worker
from relevo.cli.app import app, console, out
from relevo.cli.data import progress_bar
from relevo.config import interaction_weights, load_settings
from relevo.domain.model_names import AUTO, TRAIN_NAMES
from relevo.domain.model_records import ModelRecord
from relevo.domain.tenants import Scope, Tenant
from relevo.file_import.service import auto_workers, import_events, import_items


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
    """Serve the HTTP API on the configured storage; SIGTERM or Ctrl-C answers the requests in
    flight and writes their traces before exiting."""
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
            items = import_items(relevo.catalog, tenant, items_file, preset=preset, progress=update)
            events = import_events(
                relevo.ingest,
                tenant,
                events_file,
                preset=preset,
                progress=update,
                workers=auto_workers(events_file),
                open_worker=partial(import_worker, relevo.settings, tenant.tenant_id),
            )
        console.print(
            f"catalog: {items.accepted:,} items; events: {events.accepted:,} accepted,"
            f" {events.duplicate:,} duplicate, {events.rejected:,} refused, {events.per_second:,.0f}/s"
        )
    if relevo.registry.promoted(tenant, AUTO) is None:
        _train_demo_models(relevo, tenant)
    _, key = relevo.tenancy.create_key("demo", [Scope.INGEST, Scope.SERVE], label="demo")
    user, item = ("17850", "85123A") if "uk" in tenant.regions else ("user-1", "item-1")
    base = f"http://127.0.0.1:{port}"
    out.print(f"\nRelevo is starting on {base} (API docs at /docs). Ask for recommendations:\n")
    out.print(
        f"curl -s -X POST {base}/v1/recommend \\\n"
        f"  -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n"
        f'  -d \'{{"user_id": "{user}", "k": 5}}\'\n'
    )
    out.print("Ingest an event:\n")
    out.print(
        f"curl -s -X POST {base}/v1/events \\\n"
        f"  -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n"
        f"  -d '{json.dumps(_click(user, item))}'\n"
    )
    config = uvicorn.Config(
        create_app(relevo), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    walk = threading.Thread(target=_walk_through, args=(server, base, key, user), daemon=True)
    walk.start()
    server.run()


def _train_demo_models(relevo: Relevo, tenant: Tenant) -> None:
    """Train every model; one that cannot be trained is named and the demo serves with the
    others (a placement falls back when its model is missing), rather than not at all."""
    from relevo.training.data import from_log  # NumPy and SciPy: only when the demo trains

    with console.status("training every model and choosing auto on the demo data (about a minute)"):
        data = from_log(relevo.storage, tenant, interaction_weights(relevo.settings, "demo"))
        result = relevo.training.train(tenant, data, list(TRAIN_NAMES))
    trained = result.trained
    chosen = next((t.record for t in trained if t.record.name == AUTO), None)
    console.print(
        f"trained and promoted {len(trained)} models in {sum(t.seconds for t in trained):.0f} s"
        + (f"; auto serves {_chosen(chosen)}" if chosen else "")
    )
    for failure in result.failed:
        console.print(
            f"[yellow]{escape(failure.name)} could not be trained: {escape(failure.reason)}[/yellow]",
            soft_wrap=True,
        )


def _chosen(record: ModelRecord) -> str:
    """Which model ``auto`` chose, and its NDCG@10 on the validation part."""
    (name,) = record.lineage["selected"]
    return f"{name} (NDCG@10 {record.metrics.get('ndcg@10', 0):.3f} on a validation part)"


def _click(user: str, item: str, **more: object) -> dict[str, object]:
    """A click event happening now, as the demo sends it."""
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    event_id = f"demo-{secrets.token_hex(4)}"
    return {"event_id": event_id, "type": "click", "occurred_at": now, "user_id": user,
            "item_id": item, **more}  # fmt: skip


def _walk_through(server: uvicorn.Server, base: str, key: str, user: str) -> None:
    """Once the server is up: a recommendation, a click on its last item, the next answer
    (changed by the click), and the trace of that answer."""
    while not server.started:
        time.sleep(0.05)
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            first = client.post("/v1/recommend", json={"user_id": user, "k": 5}).json()
            out.print(
                f"[bold]1. Recommendations for {user}[/bold] (decision {first['decision_id']})"
            )
            _print_items(first)
            clicked = first["items"][-1]["item_id"]
            client.post("/v1/events", json=_click(user, clicked, decision_id=first["decision_id"]))
            out.print(f"[bold]2. {user} clicks {clicked}[/bold]; the next answer:")
            second = client.post(
                "/v1/recommend", json={"user_id": user, "k": 5, "explain": True}
            ).json()
            _print_items(second)
            trace = second["trace"]
            out.print(
                f"[bold]3. Its trace[/bold] (GET /v1/decisions/{second['decision_id']}):"
                f" model {trace['model']}, fallback {trace['fallback']},"
                f" recent items {trace['person_state']['recent_items'][:3]},"
                f" filters removed {dict((f['name'], f['removed']) for f in trace['filters'] if f['removed'])},"
                f" ms per stage {trace['stages_ms']}\n"
            )
    except (httpx.HTTPError, KeyError, IndexError, ValueError) as error:
        console.print(f"[yellow]the walk-through stopped: {error}[/yellow]")


def _print_items(answer: dict) -> None:
    for rank, item in enumerate(answer["items"], start=1):
        out.print(
            f"   {rank}. {item['item_id']:<10} {item['score']:>8.3f}  {'; '.join(item['reasons'])}"
        )
    out.print(
        f"   ({answer['took_ms']:.1f} ms, model {answer['model_version'] or '-'}, fallback {answer['fallback']})"
    )
