"""Learning from the log: ``train``, ``evaluate`` and ``recommend-batch``.

The numerical libraries load inside the commands that need them, so that every other command
(and ``--help``) starts without them.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import typer
from rich.markup import escape
from rich.table import Table

from relevo.bootstrap import Relevo
from relevo.cli.app import TenantOption, app, console, engine, out, show, tenant_of
from relevo.cli.data import FormatOption, JsonOption
from relevo.config import interaction_weights, load_settings
from relevo.decoding import InvalidInput
from relevo.domain.items import Item
from relevo.domain.model_records import Failed
from relevo.domain.tenants import Tenant
from relevo.domain.violations import Violation
from relevo.file_import.readers import FileProblem, Format
from relevo.training.names import AUTO, TRAIN_NAMES, model_names, model_params

if TYPE_CHECKING:
    from relevo.training.data import TrainingData
    from relevo.training.service import Trained

InteractionsOption = typer.Option(
    None,
    "--interactions",
    help="Learn from this file (CSV, gzip CSV, JSON Lines, Parquet) instead of the event log.",
)
MapOption = typer.Option(
    None, "--map", help="FIELD=COLUMN,... for --interactions, as in `relevo import`."
)
TypeOption = typer.Option(None, "--type", help="Event type of every row of --interactions.")
PresetOption = typer.Option(
    None, help="A ready mapping for --interactions: online-retail, movielens."
)
TimezoneOption = typer.Option(None, help="Zone of times without an offset in --interactions.")
ParamOption = typer.Option(
    None,
    "--param",
    help="NAME.PARAMETER=NUMBER, repeatable: a model's parameter, e.g. ease.l2=500 (see"
    " docs/models.md).",
)
ModelsOption = typer.Option(
    None,
    "--models",
    help=f"Comma-separated, from: {', '.join(TRAIN_NAMES)} (default: all). auto: the one"
    " of the others that measures best on a validation part (see docs/models.md).",
)


class SplitName(StrEnum):
    random = "random"
    temporal = "temporal"
    leave_last_out = "leave-last-out"


@dataclass(frozen=True)
class FileSource:
    """A file of interactions and how to read it, as the options of a command give them."""

    path: Path
    mapping: str | None
    event_type: str | None
    preset: str | None
    file_format: Format | None
    timezone: str | None


def _file(
    path: Path | None,
    mapping: str | None,
    event_type: str | None,
    preset: str | None,
    file_format: Format | None,
    timezone: str | None,
) -> FileSource | None:
    return (
        None
        if path is None
        else FileSource(path, mapping, event_type, preset, file_format, timezone)
    )


def _data(relevo: Relevo, tenant: Tenant, file: FileSource | None) -> TrainingData:
    """The tenant's event log, or the file, read with the tenant's weights and catalog."""
    from relevo.training.data import from_log

    weights = interaction_weights(relevo.settings, tenant.tenant_id)
    if file is None:
        return from_log(relevo.storage, tenant, weights)
    return _read(file, tenant, weights, relevo.catalog.items_by_id(tenant))


def _read(
    file: FileSource,
    tenant: Tenant,
    weights: Mapping[str, float],
    catalog: Mapping[str, Item],
    check_regions: bool = True,
) -> TrainingData:
    """The file's interactions; its rows that broke the event contract are counted, and the
    first of them shown with their reasons."""
    from relevo.training.data import from_file

    data = from_file(
        tenant,
        file.path,
        weights,
        catalog,
        file.mapping,
        file.event_type,
        file.preset,
        file.file_format,
        file.timezone,
        check_regions,
    )
    if data.skipped:
        console.print(
            f"{data.skipped:,} rows of {file.path.name} broke the event contract: skipped",
            soft_wrap=True,
        )
        for problem in data.problems:
            console.print(f"  {escape(problem)}", soft_wrap=True)
    return data


def _file_only(file: FileSource) -> TrainingData:
    """A file read on its own, with no tenant: the configured weights for every tenant, no
    catalog, any region. Nothing is read from or written to storage."""
    settings = load_settings()
    tenant = Tenant("file", file.path.name, ("default",), datetime.now(UTC))
    weights = interaction_weights(settings, "*")  # "file" may be a real tenant's id
    return _read(file, tenant, weights, {}, check_regions=False)


def _params(settings: list[str] | None) -> dict[str, dict[str, float]]:
    from relevo.training.fitting import check_params

    params = model_params(settings)
    check_params(params)
    return params


@app.command()
def train(
    tenant: str = TenantOption,
    models: str | None = ModelsOption,
    param: list[str] | None = ParamOption,
    interactions: Path | None = InteractionsOption,
    mapping: str | None = MapOption,
    event_type: str | None = TypeOption,
    preset: str | None = PresetOption,
    file_format: Format | None = FormatOption,
    timezone: str | None = TimezoneOption,
    promote: bool = typer.Option(True, help="Promote the new versions, so they serve at once."),
    as_json: bool = JsonOption,
) -> None:
    """Train models on the event log (or a file) and register each as a new version.

    Each version records its data window, event count, parameters, offline metrics (measured
    point-in-time by the hybrid's validation), code version and artifact checksum. A model that
    cannot be trained is named with its reason, after the others are registered, and the exit
    code is then 1.
    """
    relevo = engine()
    found = tenant_of(relevo, tenant)
    names = model_names(models)
    params = _params(param)
    source = _file(interactions, mapping, event_type, preset, file_format, timezone)
    data = _data(relevo, found, source)
    with console.status(f"training {', '.join(names)} on {len(data.interactions):,} interactions"):
        result = relevo.training.train(found, data, names, promote, params)
    if as_json:
        typer.echo(msgspec.json.encode([t.record for t in result.trained]))
    else:
        _print_trained(result.trained, promote, data)
    _report_failures(result.failed)


def _print_trained(trained: list[Trained], promote: bool, data: TrainingData) -> None:
    table = Table("model", "version", "seconds", "ndcg@10", "recall@10", "promoted")
    for t in trained:
        metrics = t.record.metrics
        table.add_row(
            t.record.name,
            str(t.record.version),
            f"{t.record.train_seconds:.2f}",
            f"{metrics['ndcg@10']:.4f}" if "ndcg@10" in metrics else "",
            f"{metrics['recall@10']:.4f}" if "recall@10" in metrics else "",
            "yes" if promote else "",
        )
    show(table)
    out.print(
        f"{data.events:,} events, {len(data.interactions):,} interactions,"
        f" {data.interactions.n_people:,} people, {data.interactions.n_items:,} items"
    )


def _report_failures(failed: list[Failed]) -> None:
    """Each model that could not be trained, with its reason and no traceback, on stderr; exit
    code 1 then, so a script notices, though the others are registered (and promoted)."""
    for failure in failed:
        console.print(
            f"[red]failed:[/red] {escape(failure.name)} could not be trained:"
            f" {escape(failure.reason)}",
            soft_wrap=True,
        )
    if failed:
        raise typer.Exit(1)


@app.command("evaluate")
def evaluate_command(
    tenant: str | None = typer.Option(
        None,
        "--tenant",
        "-t",
        envvar="RELEVO_TENANT",
        help="Tenant id (or RELEVO_TENANT): its event log, weights and catalog. Not needed"
        " with --interactions.",
    ),
    models: str | None = ModelsOption,
    param: list[str] | None = ParamOption,
    split: SplitName = typer.Option(SplitName.temporal, help="How to hide the test rows."),
    ratio: float | None = typer.Option(
        None,
        min=0.01,
        max=0.99,
        help="random: share of each person's rows to train (0.75); temporal: share of the time"
        " span to train (0.8).",
    ),
    test_days: float | None = typer.Option(
        None, min=0.001, help="temporal: the last N days are the test (instead of --ratio)."
    ),
    seed: int = typer.Option(0, help="Seed of the random split."),
    k: int = typer.Option(10, min=1, max=1000, help="Length of each ranked list."),
    interactions: Path | None = InteractionsOption,
    mapping: str | None = MapOption,
    event_type: str | None = TypeOption,
    preset: str | None = PresetOption,
    file_format: Format | None = FormatOption,
    timezone: str | None = TimezoneOption,
    as_json: bool = JsonOption,
) -> None:
    """Compare models offline: fit on the train part, rank the whole catalog (seen items
    excluded) for each test person, and measure P, R, NDCG, MAP, MRR, HitRate and coverage."""

    from relevo.evaluation.runner import evaluate
    from relevo.training.splits import leave_last_out, random_split, temporal_split

    if test_days is not None and (split is not SplitName.temporal or ratio is not None):
        raise InvalidInput(
            [Violation("/test_days", "exclusive", "goes with --split temporal and no --ratio")]
        )
    source = _file(interactions, mapping, event_type, preset, file_format, timezone)
    if tenant is None and source is None:
        raise InvalidInput(
            [
                Violation(
                    "/tenant",
                    "required",
                    "give --tenant (or RELEVO_TENANT) to evaluate on its event log, or"
                    " --interactions FILE",
                )
            ]
        )
    names = model_names(models)
    params = _params(param)
    if tenant is None:
        data = _file_only(source)
    else:
        relevo = engine()
        data = _data(relevo, tenant_of(relevo, tenant), source)
    if len(data.interactions) == 0:
        raise InvalidInput([Violation("/data", "not_empty", "no interactions to evaluate on")])
    if split is SplitName.random:
        hidden = random_split(data.interactions, ratio or 0.75, seed)
    elif split is SplitName.temporal:
        hidden = temporal_split(data.interactions, test_days, ratio)
    else:
        hidden = leave_last_out(data.interactions)
    dataset = interactions.name if interactions else f"{tenant} event log"
    with console.status(f"evaluating {', '.join(names)} on {len(hidden.people):,} people"):
        try:
            result = evaluate(dataset, hidden, data.items, names, k, params)
        except ValueError as error:
            raise InvalidInput([Violation("/split", "people", str(error))]) from None
    if as_json:
        typer.echo(msgspec.json.encode(result))
        return
    keys = ["ndcg", "precision", "recall", "map", "mrr", "hitrate", "coverage"]
    table = Table("model", *[f"{key}@{k}" for key in keys], "train s", title=result.description)
    for row in result.results:
        table.add_row(
            f"{row.model} ({row.chosen})" if row.chosen else row.model,
            *[f"{row.metrics[f'{key}@{k}']:.4f}" for key in keys],
            f"{row.train_seconds:.2f}",
        )
    show(table)
    out.print(f"{dataset}, {result.protocol} split, {result.people:,} people evaluated")
    if result.tuned:
        settings = "; ".join(
            f"{name} " + ", ".join(f"{key}={value:g}" for key, value in found.items())
            for name, found in result.tuned.items()
        )
        out.print(f"every model fitted with the settings tuned for auto: {settings}")


@app.command("recommend-batch")
def recommend_batch(
    people_file: Path = typer.Argument(
        ..., help="A file of user ids, one per line (a header line `user_id` is skipped)."
    ),
    tenant: str = TenantOption,
    model: str = typer.Option(
        AUTO, help="The registered model to answer with (auto: the one `relevo train` chose)."
    ),
    version: int | None = typer.Option(None, min=1, help="A version (default: the promoted)."),
    k: int = typer.Option(10, min=1, max=1000),
    output: Path | None = typer.Option(None, "--output", "-o", help="CSV file (default: stdout)."),
    interactions: Path | None = typer.Option(
        None,
        "--interactions",
        help="Train the model on this file (and answer from its histories) instead of using the"
        " registry and the event log.",
    ),
    mapping: str | None = MapOption,
    event_type: str | None = TypeOption,
    preset: str | None = PresetOption,
    file_format: Format | None = FormatOption,
    timezone: str | None = TimezoneOption,
) -> None:
    """Top-k unseen items for each listed person, as CSV ``user_id,item_id,rank,score``, so you
    can score Relevo with your own evaluation harness."""
    if not people_file.is_file():
        raise FileProblem(f"{people_file}: no such file")
    user_ids = [
        line.strip()
        for line in people_file.read_text(encoding="utf-8").splitlines()
        if line.strip() and line.strip() != "user_id"
    ]
    relevo = engine()
    found = tenant_of(relevo, tenant)
    data = _data(
        relevo, found, _file(interactions, mapping, event_type, preset, file_format, timezone)
    )
    if interactions is None:
        _, chosen = relevo.model_loader.load(found, model, version)
    else:
        from relevo.training.fitting import fit_models

        chosen = fit_models(model_names(model), data.interactions, data.items).model(model)
    answer = relevo.training.recommend_batch(
        found, chosen, data, user_ids, k, pseudonymous=interactions is None
    )
    target = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    try:
        writer = csv.writer(target)
        writer.writerow(["user_id", "item_id", "rank", "score"])
        writer.writerows((u, i, r, f"{s:.6f}") for u, i, r, s in answer.rows)
    finally:
        if output:
            target.close()
    if answer.unknown:
        console.print(f"{len(answer.unknown):,} people have no history: no row for them")
