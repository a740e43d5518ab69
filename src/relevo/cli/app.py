"""The Typer application and what every command shares."""

from __future__ import annotations

import typer
from rich.console import Console

from relevo.bootstrap import Relevo, build
from relevo.domain.tenants import Tenant

app = typer.Typer(
    help="Relevo: a self-hostable, real-time, privacy-first personalization engine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)
out = Console(highlight=False, soft_wrap=True)

TenantOption = typer.Option(
    ..., "--tenant", "-t", envvar="RELEVO_TENANT", help="Tenant id (or RELEVO_TENANT)."
)


def engine() -> Relevo:
    return build()


def tenant_of(relevo: Relevo, tenant_id: str) -> Tenant:
    return relevo.tenancy.tenant(tenant_id)
