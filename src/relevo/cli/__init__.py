"""The ``relevo`` command line: a thin layer over the services (see ``relevo --help``)."""

from __future__ import annotations

import sys

from rich.markup import escape

from relevo.cli import admin, data, models, running, training
from relevo.cli.app import app, console
from relevo.config import ConfigError
from relevo.decoding import InvalidInput
from relevo.domain.model_records import CannotTrain, CorruptArtifact
from relevo.file_import.readers import FileProblem

COMMAND_GROUPS = (admin, data, models, running, training)
"""Imported for their side effect: each registers its commands on ``app``. They import ``app``
from ``relevo.cli.app``, never the reverse, so the command modules form no cycle."""


def main() -> None:
    """Run the CLI; bad input ends with a one-line reason and exit code 2, a model that cannot
    be trained with its reason and exit code 1, never a traceback."""
    try:
        app()
    except InvalidInput as error:
        console.print(f"[red]error:[/red] {error.title}")
        for violation in error.violations:
            console.print(
                f"  {violation.field or '(input)'}: {violation.detail} [dim]({violation.rule})[/dim]"
            )
        sys.exit(2)
    except (ConfigError, FileProblem, CorruptArtifact) as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")
        sys.exit(2)
    except CannotTrain as error:
        console.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
        sys.exit(1)
