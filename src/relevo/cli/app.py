"""The Typer application and what every command shares."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

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
UNBOUNDED = 100_000  # columns, to measure a table's natural width

TenantOption = typer.Option(
    ..., "--tenant", "-t", envvar="RELEVO_TENANT", help="Tenant id (or RELEVO_TENANT)."
)


def engine() -> Relevo:
    return build()


def tenant_of(relevo: Relevo, tenant_id: str) -> Tenant:
    return relevo.tenancy.tenant(tenant_id)


def show(table: Table) -> None:
    """Print a table whole, at its natural width where the terminal is narrower (or output is
    piped, where Rich would assume 80 columns), so that no header or cell is cut short. A
    console of that width prints it: ``Console.print`` never goes past its console's width."""
    natural = Measurement.get(out, out.options.update_width(UNBOUNDED), table).maximum
    width = max(natural, out.width) if out.is_terminal else natural
    Console(file=out.file, highlight=False, width=width, force_terminal=out.is_terminal).print(
        table
    )
