"""Importing a file of events or items: read, map, and send through the services in batches.

Events go through ``IngestService.ingest`` in backfill mode (history may be of any age, the
future-skew rule still holds), so an import validates, dedupes, quarantines and derives state
exactly as live traffic does.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from relevo.catalog.service import CatalogService
from relevo.decoding import InvalidInput
from relevo.domain.events import IngestMode
from relevo.domain.tenants import Tenant
from relevo.domain.violations import Violation
from relevo.file_import.mapping import (
    EVENT_FIELDS,
    EVENT_OBJECTS,
    ITEM_FIELDS,
    ITEM_OBJECTS,
    RowMapper,
    identity_mapping,
    parse_mapping,
    row_fingerprint,
)
from relevo.file_import.presets import PRESETS, Preset
from relevo.file_import.readers import Format, RowBatch, detect_format, read_batches
from relevo.ingest.pipeline import IngestService

Progress = Callable[[int, int, int], None]  # rows done, bytes done, bytes in all
OpenWorker = Callable[[], tuple[IngestService, Tenant]]
"""Builds, in a worker process of a parallel import, the ingest service and tenant it sends
rows to; picklable (a module-level function or a ``functools.partial`` of one)."""


class ImportReport(msgspec.Struct):
    file: str
    workers: int = 1
    rows: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    seconds: float = 0.0
    per_second: float = 0.0


def _preset(name: str | None) -> Preset | None:
    if name is None:
        return None
    if name not in PRESETS:
        raise InvalidInput([Violation("/preset", "enum", f"must be one of {sorted(PRESETS)}")])
    return PRESETS[name]


def _zone(name: str):
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            [Violation("/timezone", "zone", f"'{name}' is not an IANA time zone")]
        ) from None


def import_events(
    ingest: IngestService,
    tenant: Tenant,
    path: Path,
    mapping: str | None = None,
    event_type: str | None = None,
    preset: str | None = None,
    file_format: Format | None = None,
    timezone: str | None = None,
    batch_size: int = 20_000,
    progress: Progress | None = None,
    workers: int = 1,
    open_worker: OpenWorker | None = None,
) -> ImportReport:
    """Import a file of events. Without a mapping, each JSON Lines record is an event envelope.

    With ``workers`` > 1, chunks of rows are mapped and ingested by that many processes at
    once, each with the ingest service ``open_worker`` builds there. The result is the same as
    with one: each chunk is one transaction per region, dedupe
    reads the log under the write lock, and derived state is an order-free fold.
    """
    plan = event_plan(tenant, path, mapping, event_type, preset, timezone, batch_size)
    report = ImportReport(path.name, workers=max(1, workers))
    started = time.perf_counter()
    batches = read_batches(path, file_format or detect_format(path))
    if workers > 1 and open_worker is None:
        raise ValueError("parallel import needs a worker factory (bootstrap.import_worker)")
    with _runner(ingest, tenant, plan, workers, open_worker) as run:
        for counts, rows, position, size in run(plan.checked(batch, path) for batch in batches):
            for status, count in counts.items():
                setattr(report, status, getattr(report, status) + count)
            report.rows += rows
            if progress:
                progress(report.rows, position, size)
    report.seconds = round(time.perf_counter() - started, 3)
    report.per_second = round(report.rows / report.seconds, 1) if report.seconds else 0.0
    return report


def event_plan(
    tenant: Tenant,
    path: Path,
    mapping: str | None = None,
    event_type: str | None = None,
    preset: str | None = None,
    timezone: str | None = None,
    batch_size: int = 20_000,
) -> EventPlan:
    """How the rows of a file become events: the mapping, fixed type, zone and region values
    given or taken from a preset; a bad mapping, preset or zone fails here, before any row."""
    chosen = _preset(preset)
    mapping = mapping or (chosen.events if chosen else None)
    event_type = event_type or (chosen.event_type if chosen else None)
    zone_name = timezone or (chosen.timezone if chosen else "UTC")
    _zone(zone_name)
    pairs = parse_mapping(mapping, EVENT_FIELDS, EVENT_OBJECTS) if mapping else None
    values, defaults = {}, {}
    if (
        chosen
        and chosen.region_values
        and set(chosen.region_values.values()) | {chosen.default_region} <= set(tenant.regions)
    ):
        values["context.region"] = chosen.region_values
        if chosen.default_region:
            defaults["context.region"] = chosen.default_region
    elif pairs:
        pairs = tuple(p for p in pairs if not (chosen and p[0] == "context.region"))
    return EventPlan(
        pairs, event_type, values, defaults, zone_name, f"import:{path.name}", batch_size
    )


@dataclass
class EventPlan:
    """How a file's rows become events; small and picklable, so worker processes share it."""

    pairs: tuple[tuple[str, str], ...] | None
    event_type: str | None
    values: dict[str, dict[str, str]]
    defaults: dict[str, str]
    zone: str
    source: str
    batch_size: int
    _mappers: dict[tuple[str, ...], RowMapper] = field(default_factory=dict)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_mappers": {}}  # rebuilt where it is used

    def checked(self, batch: RowBatch, path: Path) -> RowBatch:
        """Settle the mapping from the first batch, so a bad one fails before any work."""
        if self.pairs is None and batch.columns is not None:
            self.pairs = _identity(batch.columns, EVENT_FIELDS, EVENT_OBJECTS, path)
        if self.pairs is not None:
            self._mapper(batch.columns)
        return batch

    def _mapper(self, columns: list[str] | None) -> RowMapper:
        key = tuple(columns or ())
        mapper = self._mappers.get(key)
        if mapper is None:
            constants = {"type": self.event_type} if self.event_type else {}
            mapper = RowMapper(
                self.pairs or (),
                columns,
                constants,
                self.values,
                self.defaults,
                ZoneInfo(self.zone),
            )
            self._mappers[key] = mapper
        return mapper

    def records(self, batch: RowBatch) -> list[Any]:
        """The batch's rows as event records (dicts), ready to be decoded and checked."""
        if self.pairs is None:
            return [_with_type(row, self.event_type) for row in batch.rows]
        mapper = self._mapper(batch.columns)
        return [  # a JSON Lines line that is not JSON goes on as is, to be refused
            row if isinstance(row, msgspec.Raw) else _event_record(mapper(row), row)
            for row in batch.rows
        ]

    def ingest(self, ingest: IngestService, tenant: Tenant, batch: RowBatch) -> Counter[str]:
        records = self.records(batch)
        counts: Counter[str] = Counter()
        for start in range(0, len(records), self.batch_size):
            chunk = records[start : start + self.batch_size]
            results = ingest.ingest(tenant, chunk, self.source, IngestMode.BACKFILL)
            counts.update(result.status for result in results)
        return counts


Outcome = tuple[Counter[str], int, int, int]  # counts, rows, file position, file size


@contextmanager
def _runner(
    ingest: IngestService,
    tenant: Tenant,
    plan: EventPlan,
    workers: int,
    open_worker: OpenWorker | None,
) -> Iterator[Callable[[Iterable[RowBatch]], Iterator[Outcome]]]:
    """Run the plan on batches, here or in ``workers`` processes, yielding outcomes in order."""
    if workers <= 1:
        yield lambda batches: (
            (plan.ingest(ingest, tenant, b), len(b.rows), b.position, b.size) for b in batches
        )
        return
    context = multiprocessing.get_context("spawn")  # fresh processes: no inherited SQLite handles
    with ProcessPoolExecutor(
        workers,
        context,
        initializer=_start_worker,
        initargs=(open_worker,),
    ) as pool:

        def run(batches: Iterable[RowBatch]) -> Iterator[Outcome]:
            pending: deque[tuple[Future[Counter[str]], int, int, int]] = deque()
            for batch in batches:
                future = pool.submit(_work, plan, batch)
                pending.append((future, len(batch.rows), batch.position, batch.size))
                while len(pending) > 2 * workers:  # bound what waits in memory
                    done, rows, position, size = pending.popleft()
                    yield done.result(), rows, position, size
            while pending:
                done, rows, position, size = pending.popleft()
                yield done.result(), rows, position, size

        yield run


_worker: tuple[IngestService, Tenant] | None = None


def _start_worker(open_worker: OpenWorker) -> None:
    global _worker
    _worker = open_worker()


def _work(plan: EventPlan, batch: RowBatch) -> Counter[str]:
    assert _worker is not None, "the worker was not started"
    return plan.ingest(*_worker, batch)


def auto_workers(path: Path) -> int:
    """Processes worth starting for a file: one per core (up to 8) for files of 2 MB and more;
    below that, starting them costs more than they save."""
    large = path.is_file() and path.stat().st_size >= 2 * 1024 * 1024
    return max(1, min(os.cpu_count() or 1, 8)) if large else 1


def _identity(columns, fields, objects, path: Path) -> tuple[tuple[str, str], ...]:
    pairs = identity_mapping(columns, fields, objects)
    if not pairs:
        raise InvalidInput(
            [
                Violation(
                    "/map",
                    "required",
                    f"no column of {path.name} is named after a field;"
                    " give --map FIELD=COLUMN,... or --preset",
                )
            ],
            "No column mapping",
        )
    return pairs


def _with_type(record, event_type: str | None):
    """A JSON Lines event without a type takes the one given with --type."""
    if event_type and isinstance(record, dict) and "type" not in record:
        return {**record, "type": event_type}
    return record


def _event_record(record: dict, row) -> dict:
    """Apply the import's row rules: guests, returns, and an id for rows that carry none."""
    guest = record.pop("guest_id", None)
    if "user_id" not in record and "anonymous_id" not in record and guest is not None:
        record["anonymous_id"] = guest
    value = record.get("value")
    if record.get("type") == "purchase" and isinstance(value, (int, float)) and value < 0:
        record["type"], record["value"] = "return", -value
    if "event_id" not in record:
        record["event_id"] = row_fingerprint(row)
    return record


def import_items(
    catalog: CatalogService,
    tenant: Tenant,
    path: Path,
    mapping: str | None = None,
    preset: str | None = None,
    file_format: Format | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a catalog file; when an item id repeats, its last row wins."""
    chosen = _preset(preset)
    mapping = mapping or (chosen.items if chosen else None)
    pairs = parse_mapping(mapping, ITEM_FIELDS, ITEM_OBJECTS) if mapping else None
    report = ImportReport(path.name)
    started = time.perf_counter()
    latest: dict[object, object] = {}
    mapper: RowMapper | None = None
    for batch in read_batches(path, file_format or detect_format(path)):
        if pairs is None and batch.columns is not None:
            pairs = _identity(batch.columns, ITEM_FIELDS, ITEM_OBJECTS, path)
        if pairs is not None and mapper is None:
            mapper = RowMapper(pairs, batch.columns)
        for row in batch.rows:
            record = row if mapper is None else mapper(row)
            key = record.get("item_id") if isinstance(record, dict) else None
            latest[key if isinstance(key, str) else object()] = record
        report.rows += len(batch.rows)
        if progress:
            progress(report.rows, batch.position, batch.size)
    records = list(latest.values())
    report.duplicate = report.rows - len(records)
    for start in range(0, len(records), 1_000):
        for result in catalog.upsert(tenant, records[start : start + 1_000]):
            if result.status == "upserted":
                report.accepted += 1
            else:
                report.rejected += 1
    report.seconds = round(time.perf_counter() - started, 3)
    report.per_second = round(report.rows / report.seconds, 1) if report.seconds else 0.0
    return report
