"""Tenants, keys and custom event types."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from relevo.cli.app import TenantOption, app, engine, out, show
from relevo.decoding import InvalidInput, parse
from relevo.domain.tenants import Scope
from relevo.domain.violations import Violation

tenants = typer.Typer(help="Create and list tenants.", no_args_is_help=True)
keys = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
schemas = typer.Typer(help="Register and list custom event types.", no_args_is_help=True)
app.add_typer(tenants, name="tenants")
app.add_typer(keys, name="keys")
app.add_typer(schemas, name="schemas")


@tenants.command("create")
def tenants_create(
    name: str = typer.Argument(..., help="Tenant id: 2-40 of a-z, 0-9, '-'."),
    regions: str = typer.Option(
        "default", help="Comma-separated regions; the first is the default."
    ),
) -> None:
    """Create a tenant and print its first admin key (shown once; only its hash is kept)."""
    relevo = engine()
    tenant, secret = relevo.tenancy.create_tenant(
        name, [r.strip() for r in regions.split(",") if r.strip()]
    )
    out.print(f"tenant {tenant.tenant_id} created, regions {', '.join(tenant.regions)}")
    out.print(f"admin key (store it now, it is not shown again): {secret}")


@tenants.command("list")
def tenants_list() -> None:
    """List tenants."""
    table = Table("tenant", "regions", "created")
    for tenant in engine().tenancy.tenants():
        table.add_row(tenant.tenant_id, ", ".join(tenant.regions), tenant.created_at.isoformat())
    show(table)


@keys.command("create")
def keys_create(
    tenant: str = TenantOption,
    scope: list[Scope] = typer.Option(
        ..., "--scope", "-s", help="ingest, serve or admin; repeatable."
    ),
    label: str = typer.Option("", help="A note on what the key is for."),
) -> None:
    """Create an API key and print it (shown once)."""
    key, secret = engine().tenancy.create_key(tenant, scope, label)
    out.print(f"key {key.key_id} ({', '.join(sorted(s.value for s in key.scopes))}): {secret}")


@keys.command("list")
def keys_list(tenant: str = TenantOption) -> None:
    """List a tenant's keys (never their secrets)."""
    table = Table("key", "scopes", "label", "created", "revoked")
    for key in engine().tenancy.keys(tenant):
        table.add_row(
            key.key_id,
            ", ".join(sorted(s.value for s in key.scopes)),
            key.label,
            key.created_at.isoformat(timespec="seconds"),
            key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "",
        )
    show(table)


@keys.command("revoke")
def keys_revoke(key_id: str = typer.Argument(..., help="The key id shown by `keys list`.")) -> None:
    """Revoke a key; it stops working at once."""
    if not engine().tenancy.revoke_key(key_id):
        raise InvalidInput(
            [Violation("/key_id", "exists", f"no active key '{key_id}'")], "Unknown key"
        )
    out.print(f"key {key_id} revoked")


@schemas.command("register")
def schemas_register(
    file: Path = typer.Argument(
        ..., help='JSON file: {"type": ..., "version": "1-0-0", "schema": {...}}'
    ),
    tenant: str = TenantOption,
) -> None:
    """Register a version of a custom event type (its JSON Schema for `properties`)."""
    try:
        payload = parse(file.read_bytes())
    except OSError as error:
        raise InvalidInput(
            [Violation("", "file", f"{file}: {error}")], "Unreadable schema file"
        ) from None
    schema, created = engine().schemas.register(tenant, payload)
    out.print(
        f"{schema.type} {schema.version} {'registered' if created else 'was already registered'}"
    )


@schemas.command("list")
def schemas_list(tenant: str = TenantOption) -> None:
    """List registered custom event types and versions."""
    table = Table("type", "version", "fields", "required")
    for schema in engine().schemas.list(tenant):
        table.add_row(
            schema.type,
            schema.version,
            ", ".join(schema.schema.get("properties", {})),
            ", ".join(schema.schema.get("required", [])),
        )
    show(table)
