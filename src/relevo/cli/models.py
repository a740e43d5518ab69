"""Trained models: list versions, show lineage, promote one to serve, roll back."""

from __future__ import annotations

from datetime import datetime

import msgspec
import typer
from rich.table import Table
from rich.text import Text

from relevo.cli.app import TenantOption, app, engine, out, show, tenant_of
from relevo.cli.data import JsonOption
from relevo.domain.model_names import SELECTION_KIND
from relevo.domain.model_records import ModelRecord

models = typer.Typer(
    help="List trained models and their lineage; choose the version that serves; roll back.",
    no_args_is_help=True,
)
app.add_typer(models, name="models")

NameArgument = typer.Argument(..., help="Model name, as shown by `relevo models list`.")


def _moment(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def _window(record: ModelRecord) -> str:
    """The data window a model learned from, by day; an open end shows as '...'."""
    if record.data_from is None and record.data_to is None:
        return ""
    ends = (m.date().isoformat() if m else "..." for m in (record.data_from, record.data_to))
    return " to ".join(ends)


@models.command("list")
def models_list(tenant: str = TenantOption, as_json: bool = JsonOption) -> None:
    """List every version of every model, newest first, and which version serves.

    Each row: kind, when it was registered (UTC), how many events it learned
    from over which data window, and its offline NDCG@10 (if measured).
    --json prints one object per model: name, promoted version, and every
    version as a full record.
    """
    relevo = engine()
    found = relevo.registry.list(tenant_of(relevo, tenant))
    if as_json:
        typer.echo(msgspec.json.encode(found))
        return
    if not found:
        out.print(f"no models registered for tenant {tenant}")
        return
    table = Table(
        "name", "version", "kind", "created", "events", "data window", "ndcg@10", "serves"
    )
    for entry in found:
        for record in entry.versions:
            ndcg = record.metrics.get("ndcg@10")
            table.add_row(
                record.name,
                str(record.version),
                Text(record.kind),
                _moment(record.created_at),
                f"{record.event_count:,}",
                _window(record),
                "" if ndcg is None else f"{ndcg:.4f}",
                "*" if record.version == entry.promoted else "",
            )
    show(table)


@models.command("show")
def models_show(
    name: str = NameArgument,
    tenant: str = TenantOption,
    version: int | None = typer.Option(
        None,
        "--version",
        min=1,
        help="Version to show (default: the promoted one, else the newest).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Show everything recorded about one version of a model: lineage, metrics.

    Data window, event count, parameters, offline metrics, lineage (the
    models it builds on), code version, training time, artifact files and
    checksum, and every promotion and rollback of the model.
    --json prints the record with "promoted" (true if this version serves)
    and "promotions" (the model's history).
    """
    relevo = engine()
    found = tenant_of(relevo, tenant)
    record = relevo.registry.show(found, name, version)
    serving = relevo.registry.promoted(found, name)
    promoted = serving is not None and serving.version == record.version
    history = relevo.registry.promotions(found, name)
    if as_json:
        body = msgspec.to_builtins(record) | {"promoted": promoted, "promotions": history}
        typer.echo(msgspec.json.encode(body))
        return
    rows = {
        "name": record.name,
        "version": f"{record.version}{' (promoted)' if promoted else ''}",
        "kind": record.kind,
        "created (UTC)": _moment(record.created_at),
        "data window": _window(record) or "not recorded",
        "events": f"{record.event_count:,}",
        "train time": f"{record.train_seconds:.1f} s",
        "code version": record.code_version or "not recorded",
        "metrics": "\n".join(f"{k} {v:.4f}" for k, v in sorted(record.metrics.items())),
        **(_choice(record) if record.kind == SELECTION_KIND else {}),
        "params": msgspec.json.encode(record.params).decode(),
        "lineage": msgspec.json.encode(_lineage(record)).decode(),
        "files": ", ".join(record.files),
        "checksum": f"sha256:{record.checksum}",
        "promotions": "\n".join(
            f"{_moment(p.at)}  {p.action} to version {p.version}" for p in history
        ),
    }
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for key, value in rows.items():
        grid.add_row(key, Text(value))
    out.print(grid)


def _lineage(record: ModelRecord) -> dict[str, object]:
    """The lineage to print: a selection's contenders have rows of their own."""
    if record.kind != SELECTION_KIND:
        return record.lineage
    return {key: value for key, value in record.lineage.items() if key != "contenders"}


def _choice(record: ModelRecord) -> dict[str, str]:
    """What ``auto`` chose and by how much: every contender by its NDCG@10 on the validation
    part, best first, and the winner's lead over the next."""
    contenders = record.lineage.get("contenders", {})
    ordered = sorted(contenders, key=lambda name: -contenders[name].get("ndcg@10", 0.0))
    ((chosen, version),) = record.lineage["selected"].items()
    best = contenders[chosen].get("ndcg@10", 0.0)
    lead = ""
    if len(ordered) > 1:
        second = next(name for name in ordered if name != chosen)
        runner_up = contenders[second].get("ndcg@10", 0.0)
        ratio = f"{best / runner_up:.2f}x" if runner_up else "ahead of"
        lead = f": {ratio} the next, {second} ({runner_up:.4f})"
    return {
        "chosen": f"{chosen} version {version}, NDCG@10 {best:.4f}{lead}",
        "validation": record.lineage.get("validation", ""),
        "contenders": "\n".join(
            f"{name:<12} ndcg@10 {contenders[name].get('ndcg@10', 0.0):.4f}" for name in ordered
        ),
    }


@models.command("promote")
def models_promote(
    name: str = NameArgument,
    version: int = typer.Argument(..., min=1, help="The version that should serve."),
    tenant: str = TenantOption,
) -> None:
    """Make VERSION the version of NAME that serves, at once.

    Its artifact files are checked against their checksum first, so a
    damaged artifact never serves. `relevo models rollback` returns to the
    version promoted before.
    """
    relevo = engine()
    changed = relevo.registry.promote(tenant_of(relevo, tenant), name, version)
    out.print(f"{name} version {version} {'promoted' if changed else 'was already promoted'}")


@models.command("rollback")
def models_rollback(name: str = NameArgument, tenant: str = TenantOption) -> None:
    """Serve the version of NAME promoted before the current one again, at once.

    Each further rollback goes one more promotion back; when there is none
    left, it says so and changes nothing.
    """
    relevo = engine()
    record = relevo.registry.rollback(tenant_of(relevo, tenant), name)
    out.print(
        f"{name} rolled back: version {record.version} is now promoted"
        f" ({record.kind}, created {_moment(record.created_at)} UTC)"
    )
