"""Getting data in and keeping it whole: import, quarantine, replay, generate."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import msgspec
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from relevo.bootstrap import import_worker
from relevo.cli.app import TenantOption, app, console, engine, out, show, tenant_of
from relevo.config import interaction_weights
from relevo.decoding import InvalidInput
from relevo.domain.violations import Violation
from relevo.file_import.readers import Format
from relevo.file_import.service import ImportReport, auto_workers, import_events, import_items
from relevo.ingest.replay import rebuild_derived_state, replay_quarantine

items = typer.Typer(help="Manage the catalog.", no_args_is_help=True)
quarantine = typer.Typer(help="Inspect and replay refused events.", no_args_is_help=True)
app.add_typer(items, name="items")
app.add_typer(quarantine, name="quarantine")

FormatOption = typer.Option(
    None, "--format", help="csv, jsonl or parquet (default: from the file name)."
)
JsonOption = typer.Option(False, "--json", help="Print one JSON object instead of a table.")


def progress_bar(show: bool):
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%  {task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        console=console,
        disable=not show,
    )
    task = progress.add_task("importing", total=1, rows=0)

    def update(rows: int, done: int, total: int) -> None:
        progress.update(task, completed=done, total=max(total, 1), rows=rows)

    return progress, update


def _print_report(report: ImportReport, as_json: bool, unit: str) -> None:
    if as_json:
        typer.echo(msgspec.json.encode(report))
        return
    table = Table("file", "rows", "accepted", "duplicate", "rejected", "seconds", f"{unit}/s")
    table.add_row(
        report.file,
        f"{report.rows:,}",
        f"{report.accepted:,}",
        f"{report.duplicate:,}",
        f"{report.rejected:,}",
        f"{report.seconds:.2f}",
        f"{report.per_second:,.0f}",
    )
    show(table)
    if report.rejected:
        out.print("refused rows are in quarantine: `relevo quarantine list`")


@app.command("import")
def import_command(
    file: Path = typer.Argument(
        ..., help="CSV (plain or .gz), JSON Lines or Parquet file of events."
    ),
    tenant: str = TenantOption,
    mapping: str | None = typer.Option(
        None,
        "--map",
        help="FIELD=COLUMN,... e.g. user_id=CustomerID,item_id=StockCode,occurred_at=InvoiceDate",
    ),
    event_type: str | None = typer.Option(
        None, "--type", help="Event type of every row, unless mapped."
    ),
    preset: str | None = typer.Option(None, help="A ready mapping: online-retail or movielens."),
    file_format: Format | None = FormatOption,
    timezone: str | None = typer.Option(
        None, help="Zone of times without an offset (default UTC)."
    ),
    workers: int = typer.Option(
        0,
        min=0,
        max=64,
        help="Processes to import with; 0: one per core for files of 2 MB and more.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Import events through the ingest pipeline: validated, deduplicated, quarantined if bad.

    A row without an event id gets one from its content, so importing a file twice adds nothing.
    A purchase with a negative value is a return; a row with no user_id but a guest_id is an
    anonymous person. History of any age is accepted (the live late-event horizon does not apply).
    """
    relevo = engine()
    found = tenant_of(relevo, tenant)
    progress, update = progress_bar(not as_json)
    with progress:
        report = import_events(
            relevo.ingest,
            found,
            file,
            mapping,
            event_type,
            preset,
            file_format,
            timezone,
            progress=update,
            workers=workers or auto_workers(file),
            open_worker=partial(import_worker, relevo.settings, found.tenant_id),
        )
    _print_report(report, as_json, "events")


@items.command("import")
def items_import(
    file: Path = typer.Argument(
        ..., help="CSV (plain or .gz), JSON Lines or Parquet file of items."
    ),
    tenant: str = TenantOption,
    mapping: str | None = typer.Option(
        None, "--map", help="FIELD=COLUMN,... e.g. item_id=StockCode,title=Description"
    ),
    preset: str | None = typer.Option(None, help="online-retail or movielens."),
    file_format: Format | None = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Upsert catalog items from a file; a repeated item id keeps its last row. `tags` split on '|'."""
    relevo = engine()
    progress, update = progress_bar(not as_json)
    with progress:
        report = import_items(
            relevo.catalog, tenant_of(relevo, tenant), file, mapping, preset, file_format, update
        )
    _print_report(report, as_json, "rows")


@quarantine.command("list")
def quarantine_list(
    tenant: str = TenantOption,
    region: str | None = typer.Option(None, help="Region (default: every region)."),
    limit: int = typer.Option(50, min=1, max=10_000),
    as_json: bool = JsonOption,
) -> None:
    """Refused events with their reasons (person ids shown as pseudonyms); --json: an array."""
    relevo = engine()
    found = tenant_of(relevo, tenant)
    if region is not None and region not in found.regions:
        raise InvalidInput(
            [Violation("/region", "enum", f"must be one of the tenant's regions {found.regions}")]
        )
    records = []
    for name in [region] if region else found.regions:
        records += [(name, r) for r in relevo.ingest.quarantined(found, name, 0, limit)]
    records = records[:limit]
    if as_json:
        out.print(
            msgspec.json.encode(
                [{"region": n, **msgspec.to_builtins(r)} for n, r in records]
            ).decode()
        )
        return
    table = Table("id", "region", "received", "source", "event_id", "reasons")
    for name, record in records:
        event_id = record.payload.get("event_id") if isinstance(record.payload, dict) else None
        reasons = "; ".join(
            f"{v.field or '(record)'}: {v.detail} ({v.rule})" for v in record.reasons
        )
        table.add_row(
            str(record.quarantine_id),
            name,
            record.received_at.isoformat(timespec="seconds"),
            record.source,
            str(event_id),
            reasons,
        )
    show(table)


@quarantine.command("replay")
def quarantine_replay(tenant: str = TenantOption, as_json: bool = JsonOption) -> None:
    """Send quarantined events through the pipeline again (after a schema fix, say)."""
    relevo = engine()
    report = replay_quarantine(relevo.storage, relevo.ingest, tenant_of(relevo, tenant))
    if as_json:
        typer.echo(msgspec.json.encode(report))
    else:
        out.print(
            f"accepted {report.accepted}, duplicate {report.duplicate}, still refused {report.rejected}"
        )


@app.command("replay")
def replay_command(tenant: str = TenantOption, as_json: bool = JsonOption) -> None:
    """Rebuild all derived state of a tenant from its event log."""
    relevo = engine()
    found = tenant_of(relevo, tenant)
    counts = rebuild_derived_state(
        relevo.storage,
        found,
        relevo.settings.recent_items_limit,
        interaction_weights(relevo.settings, found.tenant_id),
    )
    if as_json:
        typer.echo(msgspec.json.encode({"replayed": counts}))
    else:
        for region, count in counts.items():
            out.print(f"{region}: {count:,} events replayed")


@app.command("generate")
def generate_command(
    out_dir: Path = typer.Argument(..., help="Where to write items.jsonl and events.jsonl."),
    people: int = typer.Option(2_000, min=10, max=1_000_000),
    items_count: int = typer.Option(1_000, "--items", min=10, max=1_000_000),
    seed: int = typer.Option(7),
    events: int | None = typer.Option(
        None, min=10, max=100_000_000, help="About how many events (default: about 26 a person)."
    ),
) -> None:
    """Write a realistic synthetic data set (tastes, categories, sessions, regions, guests)."""
    from relevo.synthetic import generate

    counts = generate(out_dir, people=people, items=items_count, seed=seed, events=events)
    out.print(f"wrote {counts['items']:,} items and {counts['events']:,} events to {out_dir}")
