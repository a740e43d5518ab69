"""Where models learn from: a tenant's event log (every region), or a file of interactions.

Both end as the same ``Interactions`` plus the catalog's ``ItemFeatures``. From the log, people
are known by their pseudonymous keys, exactly as the log holds them, and each lives in the
region of their partition. A file given to ``relevo train --interactions`` never touches
storage: it is read with the import's column mapping and its rows checked by the event contract,
and a bad row is counted and skipped, never fatal; the first few are kept with their reasons.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from relevo.catalog.service import CatalogService
from relevo.decoding import decode
from relevo.domain.derived import from_micros, micros
from relevo.domain.events import Event, IngestMode, TimePolicy, check_event
from relevo.domain.items import Item
from relevo.domain.tenants import Tenant
from relevo.domain.violations import Violation
from relevo.file_import.readers import Format, detect_format, read_batches
from relevo.file_import.service import event_plan
from relevo.models.base import ItemFeatures
from relevo.models.interactions import Interactions
from relevo.ports import Storage, iterate_activity

FIRST_PROBLEMS = 5  # skipped rows of a file reported with their reasons


@dataclass(frozen=True)
class TrainingData:
    """Interactions, what the catalog says of their items, and where they came from."""

    interactions: Interactions
    items: ItemFeatures
    source: str
    events: int  # events read, interactions or not
    skipped: int  # rows of a file that broke the event contract
    data_from: datetime | None
    data_to: datetime | None
    problems: tuple[str, ...] = ()  # the first skipped rows: "row N: field: rule broken"


def _rows(events: Iterator[Event], weights: Mapping[str, float]) -> Iterator[tuple]:
    """Interaction rows of events, as ``from_log`` reads them from the log's activity."""
    for event in events:
        weight = weights.get(event.type)
        if weight is None or event.item_id is None:
            continue
        yield event.person_key, event.item_id, weight, micros(event.occurred_at), event.session_id


def _assemble(
    rows: list[tuple], regions: dict[str, str], catalog: Mapping[str, Item], source: str, **counts
) -> TrainingData:
    interactions = Interactions.from_rows(rows, item_ids=catalog, regions=regions or None)
    times = interactions.times
    bounds = (
        (from_micros(int(times.min())), from_micros(int(times.max())))
        if len(times)
        else (None, None)
    )
    return TrainingData(
        interactions,
        ItemFeatures.build(list(interactions.item_ids), catalog),
        source,
        data_from=bounds[0],
        data_to=bounds[1],
        **counts,
    )


def from_log(storage: Storage, tenant: Tenant, weights: Mapping[str, float]) -> TrainingData:
    """Every region's log of the tenant, each person placed in their partition's region."""
    rows: list[tuple] = []
    regions: dict[str, str] = {}
    events = 0
    for region in tenant.regions:
        partition = storage.partition(tenant.tenant_id, region)
        events += partition.count_events()
        for batch in iterate_activity(partition):
            found = [
                (a.person, a.item_id, weights[a.type], a.occurred_at_us, a.session_id)
                for a in batch
                if a.type in weights
            ]
            regions.update((row[0], region) for row in found)
            rows += found
    return _assemble(
        rows,
        regions,
        CatalogService(storage).items_by_id(tenant),
        "event log",
        events=events,
        skipped=0,
    )


def from_file(
    tenant: Tenant,
    path: Path,
    weights: Mapping[str, float],
    catalog: Mapping[str, Item],
    mapping: str | None = None,
    event_type: str | None = None,
    preset: str | None = None,
    file_format: Format | None = None,
    timezone: str | None = None,
    check_regions: bool = True,
) -> TrainingData:
    """A file of interactions, read as ``relevo import`` reads it (same mapping and presets).
    Without ``check_regions`` (a file read with no tenant), any region a row names is taken.

    People keep the ids of the file (``u:`` or ``a:`` before them, as in the log), since the
    file never reaches storage and its answers go back to whoever holds the file.
    """
    plan = event_plan(tenant, path, mapping, event_type, preset, timezone)
    now = datetime.now(UTC)
    rows: list[tuple] = []
    events = skipped = read = 0
    reasons: list[str] = []
    for batch in read_batches(path, file_format or detect_format(path)):
        plan.checked(batch, path)
        good = []
        for record in plan.records(batch):
            read += 1
            event, problems = decode(record, Event)
            if event is not None:
                regions = tenant.regions if check_regions else _region_of(event)
                problems = check_event(event, now, regions, TimePolicy(), IngestMode.BACKFILL, {})
            if event is None or problems:
                skipped += 1
                if len(reasons) < FIRST_PROBLEMS:
                    reasons.append(_problem(read, problems))
            else:
                good.append(event)
        events += len(good)
        rows += _rows(iter(good), weights)
    return _assemble(
        rows, {}, catalog, str(path.name), events=events, skipped=skipped, problems=tuple(reasons)
    )


def _region_of(event: Event) -> tuple[str, ...]:
    region = event.context.get("region") if event.context else None
    return (region,) if isinstance(region, str) else ()


def _problem(row: int, violations: list[Violation]) -> str:
    """A skipped row's reasons on one line, by field and rule.

    >>> _problem(3, [Violation("/user_id", "required", "a person is needed")])
    'row 3: user_id: a person is needed (required)'
    """
    said = "; ".join(f"{v.field or '(row)'}: {v.detail} ({v.rule})" for v in violations)
    return f"row {row}: {said}"
